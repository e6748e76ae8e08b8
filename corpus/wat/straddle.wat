;; Stores that straddle the end of memory must trap and write nothing.
;;
;; Wasm: a store whose last byte is out of bounds traps, and a trapping
;; store leaves memory unchanged.  Hardware need not agree: a store that
;; crosses into an inaccessible page may write its accessible part first
;; (AArch64 leaves it unpredictable; RISC-V code splits unaligned stores into
;; byte stores), so wasmc probes such stores on those targets
;; (targets/*.toml partial_store_faults).  tests/cross/test_straddling_store.py
;; stores at every position that straddles the end (after growing, too) and
;; reads the last bytes back.
(module
  (memory (export "memory") 1 4)
  (func (export "i16") (param i32 i32) (i32.store16 (local.get 0) (local.get 1)))
  (func (export "i32") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "i64") (param i32 i64) (i64.store (local.get 0) (local.get 1)))
  (func (export "f32") (param i32 f32) (f32.store (local.get 0) (local.get 1)))
  (func (export "f64") (param i32 f64) (f64.store (local.get 0) (local.get 1)))
  (func (export "i64_32") (param i32 i64) (i64.store32 (local.get 0) (local.get 1)))
  (func (export "v128") (param i32 i64) (v128.store (local.get 0) (i64x2.splat (local.get 1))))
  (func (export "lane64") (param i32 i64) (v128.store64_lane 0 (local.get 0) (i64x2.splat (local.get 1))))
  ;; the same stores with a static offset, as compilers emit them
  (func (export "i64_off") (param i32 i64) (i64.store offset=4 (local.get 0) (local.get 1)))
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (i32.mul (memory.size) (i32.const 65536))))
