;; Tail calls run in constant stack (tests/cross/test_tail_calls.py).
;;
;; A million-deep mutual tail recursion between functions of different
;; signatures (so the frame size changes at every call), through direct
;; calls (with more arguments than fit in registers on one side) and through
;; a table (return_call_indirect).  return_call_ref is built by the test
;; itself (wabt 1.0.32 cannot write it).  Without guaranteed tail calls each would need about 64 MiB of stack
;; (a million frames); the shim gives guest code 4 MiB, so any missed tail
;; call ends in "call stack exhausted".
(module
  (type $t64 (func (param i64) (result i64)))
  (type $tmany (func (param i64 i32 f64 f32 i64 i32 f64 f32 i64 i32 f64 f32) (result i64)))
  (table 2 funcref)
  (elem (i32.const 0) $ping_i $pong_i)

  ;; direct: $even (1 param) <-> $odd (12 params, some on the stack)
  (func $even (export "even") (param $n i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (i64.const 1))
      (else (return_call $odd (i64.sub (local.get $n) (i64.const 1)) (i32.const 1) (f64.const 2)
              (f32.const 3) (i64.const 4) (i32.const 5) (f64.const 6) (f32.const 7) (i64.const 8)
              (i32.const 9) (f64.const 10) (f32.const 11)))))
  (func $odd (type $tmany)
    (if (result i64) (i64.eqz (local.get 0))
      (then (i64.const 0))
      (else (return_call $even (i64.sub (local.get 0) (i64.const 1))))))

  ;; through a table
  (func $ping_i (export "ping_indirect") (param $n i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (i64.const 7))
      (else (return_call_indirect (type $t64) (i64.sub (local.get $n) (i64.const 1)) (i32.const 1)))))
  (func $pong_i (param $n i64) (result i64)
    (return_call_indirect (type $t64) (local.get $n) (i32.const 0)))

  ;; an ordinary (non-tail) recursion still exhausts the stack
  (func $deep (export "deep") (param $n i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (i64.const 0))
      (else (i64.add (i64.const 1) (call $deep (i64.sub (local.get $n) (i64.const 1)))))))
)
