;; The inner loop of open's verification, in WebAssembly: `src/walk_wasm.ts` holds this module assembled (run
;; `node scripts/build-wasm.ts` after changing it; `tests/walk_test.ts` checks the two agree). It does what the
;; JavaScript loop of `SegmentScanner.verifyToEnd` does, without the JIT warm-up a fresh process pays for that loop
;; (measured: 4-10 ms for 200,000 records, most of a cold open's budget).
;;
;; `walk` steps over plain data records lying wholly in memory[pos, limit), at most `maxRun` bytes of them, under
;; the rules of `format.ts` (the same checks as the JavaScript loop, checksum aside), and replaces each record's checksum field with the bytes
;; that restart a running CRC-32 (`CRC_CHAIN_RESET` in format.ts): one CRC-32 of the run then equals the last
;; record's own checksum exactly when every record's does. It stops before the first record it cannot take and
;; returns how many it took; the globals say where it stopped. `restore` puts the checksum fields back: record
;; i's own checksum is the complement of record i+1's replacement xor the reset, and the last one's is `last`.
(module
  (import "env" "memory" (memory 1))
  ;; In: where the run starts from. Out: where the walk stopped (state just after the last record taken).
  (global $expected (export "expected") (mut f64) (f64.const 0))
  (global $pending (export "pending") (mut i32) (i32.const 0))
  (global $unitEnd (export "unitEnd") (mut i32) (i32.const 0))
  (global $unitStart (export "unitStart") (mut i32) (i32.const 0))
  (global $unitSeq (export "unitSeq") (mut f64) (f64.const 0))
  (global $end (export "end") (mut i32) (i32.const 0))
  (global $last (export "last") (mut i32) (i32.const 0))

  ;; hs: record header size (24 or 32); large: records this long are left to the caller; reset: CRC_CHAIN_RESET;
  ;; maxRun: the run ends before a record that would take it past this many bytes (a first record always fits).
  (func (export "walk") (param $pos i32) (param $limit i32) (param $hs i32) (param $large i32) (param $reset i32)
    (param $maxRun i32) (result i32)
    (local $start i32) (local $count i32) (local $opLen i32) (local $keyLen i32) (local $valueLen i32) (local $len i32)
    (local $flags i32) (local $batch i32) (local $reg i32) (local $stored i32) (local $seq f64)
    (local.set $reg (i32.const -1))
    (local.set $start (local.get $pos))
    (block $done
      (loop $next
        (br_if $done (i32.gt_u (i32.add (local.get $pos) (local.get $hs)) (local.get $limit)))
        (local.set $opLen (i32.load16_u offset=14 align=1 (local.get $pos)))
        (br_if $done (i32.eqz (local.get $opLen)))
        (br_if $done (i32.gt_u (local.get $opLen) (i32.const 255)))
        (local.set $keyLen (i32.load offset=16 align=1 (local.get $pos)))
        (local.set $valueLen (i32.load offset=20 align=1 (local.get $pos)))
        ;; Each length alone first, so that their sum cannot wrap around.
        (br_if $done (i32.ge_u (local.get $keyLen) (local.get $large)))
        (br_if $done (i32.ge_u (local.get $valueLen) (local.get $large)))
        (local.set $len
          (i32.add (i32.add (local.get $hs) (local.get $opLen)) (i32.add (local.get $keyLen) (local.get $valueLen))))
        (br_if $done (i32.ge_u (local.get $len) (local.get $large)))
        (br_if $done (i32.gt_u (i32.add (local.get $pos) (local.get $len)) (local.get $limit)))
        (br_if $done
          (i32.and (i32.gt_s (local.get $count) (i32.const 0))
            (i32.gt_u (i32.sub (i32.add (local.get $pos) (local.get $len)) (local.get $start)) (local.get $maxRun))))
        ;; kind DATA (1), and no flag but "bytes" (1) and "batch member" (2)
        (br_if $done (i32.ne (i32.load8_u offset=12 (local.get $pos)) (i32.const 1)))
        (local.set $flags (i32.load8_u offset=13 (local.get $pos)))
        (br_if $done (i32.and (local.get $flags) (i32.const -4)))
        (local.set $seq (f64.convert_i64_u (i64.load offset=4 align=1 (local.get $pos))))
        (br_if $done (f64.ne (local.get $seq) (global.get $expected)))
        (local.set $batch (i32.and (local.get $flags) (i32.const 2)))
        ;; A standalone record inside an open batch is for the caller to report.
        (br_if $done (i32.and (i32.eqz (local.get $batch)) (i32.gt_s (global.get $pending) (i32.const 0))))
        (local.set $stored (i32.load align=1 (local.get $pos)))
        (i32.store align=1 (local.get $pos) (i32.xor (local.get $reg) (local.get $reset)))
        (local.set $reg (i32.xor (local.get $stored) (i32.const -1)))
        (global.set $last (local.get $stored))
        (global.set $expected (f64.add (local.get $seq) (f64.const 1)))
        (if (local.get $batch)
          (then (global.set $pending (i32.add (global.get $pending) (i32.const 1))))
          (else
            (global.set $unitStart (local.get $pos))
            (global.set $unitEnd (i32.add (local.get $pos) (local.get $len)))
            (global.set $unitSeq (local.get $seq))))
        (local.set $pos (i32.add (local.get $pos) (local.get $len)))
        (local.set $count (i32.add (local.get $count) (i32.const 1)))
        (br $next)))
    (global.set $end (local.get $pos))
    (local.get $count))

  ;; Puts back the checksum fields of the `count` records `walk` took from `pos`; `last` is the last one's.
  (func (export "restore") (param $pos i32) (param $count i32) (param $hs i32) (param $reset i32) (param $last i32)
    (local $next i32)
    (block $done
      (loop $each
        (br_if $done (i32.le_s (local.get $count) (i32.const 1)))
        (local.set $next
          (i32.add (local.get $pos)
            (i32.add
              (i32.add (local.get $hs) (i32.load16_u offset=14 align=1 (local.get $pos)))
              (i32.add (i32.load offset=16 align=1 (local.get $pos)) (i32.load offset=20 align=1 (local.get $pos))))))
        (i32.store align=1 (local.get $pos)
          (i32.xor (i32.xor (i32.load align=1 (local.get $next)) (local.get $reset)) (i32.const -1)))
        (local.set $pos (local.get $next))
        (local.set $count (i32.sub (local.get $count) (i32.const 1)))
        (br $each)))
    (if (i32.gt_s (local.get $count) (i32.const 0))
      (then (i32.store align=1 (local.get $pos) (local.get $last))))))
