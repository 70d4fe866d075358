/**
 * A histogram in constant memory, for the write path's figures (fdatasync latency, group sizes): log-scale buckets,
 * 8 per power of two, so a percentile is off by at most 12.5 % of its value whatever the range, and recording is a
 * few arithmetic operations (it runs once per fdatasync and once per group).
 *
 * @module
 */

/** Sub-buckets per power of two: values 0..7 get a bucket each, larger ones share one per 1/8 of their octave. */
const SUB = 8;
/** Octaves 3..55 cover every safe integer (2^53) with room to spare. */
const BUCKETS = SUB + 53 * SUB;

/** A summary of a histogram: the percentiles are bucket upper bounds (at most 12.5 % high), never above `max`. */
export interface HistogramSummary {
  /** Values recorded. */
  count: number;
  /** Median (0 when nothing was recorded). */
  p50: number;
  /** 99th percentile (0 when nothing was recorded). */
  p99: number;
  /** The largest value recorded, exactly (0 when nothing was recorded). */
  max: number;
}

function bucketOf(value: number): number {
  if (value < SUB) return value;
  let octave = Math.floor(Math.log2(value));
  // Math.log2 may round up just below a power of two (or down just above one) for large values.
  if (2 ** octave > value) octave--;
  else if (2 ** (octave + 1) <= value) octave++;
  const sub = Math.floor(value / 2 ** (octave - 3)) - SUB;
  return Math.min(BUCKETS - 1, SUB + (octave - 3) * SUB + Math.min(sub, SUB - 1));
}

/** The largest value that falls into bucket `index`. */
function upperBound(index: number): number {
  if (index < SUB) return index;
  const octave = Math.floor((index - SUB) / SUB) + 3;
  const sub = (index - SUB) % SUB;
  return (SUB + sub + 1) * 2 ** (octave - 3) - 1;
}

/** Counts of non-negative integers in log-scale buckets (fixed size: about 3.4 KiB). */
export class Histogram {
  #counts = new Float64Array(BUCKETS);
  #count = 0;
  #max = 0;

  /** Records one value (rounded to an integer; negative values count as 0). */
  record(value: number): void {
    const v = value > 0 ? Math.round(value) : 0;
    this.#counts[bucketOf(v)]++;
    this.#count++;
    if (v > this.#max) this.#max = v;
  }

  /** Count, p50, p99 and max of what was recorded. */
  summary(): HistogramSummary {
    return { count: this.#count, p50: this.#percentile(0.5), p99: this.#percentile(0.99), max: this.#max };
  }

  #percentile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i];
      if (seen >= rank) return Math.min(upperBound(i), this.#max);
    }
    return this.#max;
  }
}
