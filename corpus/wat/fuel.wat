;; Control flow of every kind, for fuel metering (tests/unit/test_fuel.py):
;; each export takes one i32 and returns one, and its fuel use is compared
;; with wasmtime's and across architectures.
(module
  (type $ii (func (param i32) (result i32)))
  (table 4 funcref)
  (elem (i32.const 0) $sq $fib $collatz $sq)
  (memory 1)

  (func $sq (type $ii) (i32.mul (local.get 0) (local.get 0)))

  ;; recursion and if/else with results
  (func $fib (export "fib") (type $ii)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))

  ;; a loop with br_if, select and nop/drop (free)
  (func $collatz (export "collatz") (type $ii) (local $steps i32)
    (block $done
      (loop $l
        (br_if $done (i32.le_u (local.get 0) (i32.const 1)))
        nop
        (drop (i32.const 7))
        (local.set 0 (select (i32.shr_u (local.get 0) (i32.const 1))
                             (i32.add (i32.mul (local.get 0) (i32.const 3)) (i32.const 1))
                             (i32.eqz (i32.and (local.get 0) (i32.const 1)))))
        (local.set $steps (i32.add (local.get $steps) (i32.const 1)))
        (br $l)))
    (local.get $steps))

  ;; br_table, nested blocks, call_indirect, memory
  (func (export "dispatch") (type $ii) (local $i i32) (local $acc i32)
    (loop $l
      (block $b3 (block $b2 (block $b1 (block $b0
        (br_table $b0 $b1 $b2 $b3 (i32.and (local.get $i) (i32.const 3))))
        (local.set $acc (i32.add (local.get $acc) (call_indirect (type $ii) (local.get $i) (i32.const 0))))
        (br $b3))
        (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (local.get $i)))
        (br $b3))
        (local.set $acc (i32.xor (local.get $acc) (call_indirect (type $ii) (i32.const 9) (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get 0))))
    (i32.add (local.get $acc) (i32.load (i32.const 64))))

  ;; nested loops, an early return
  (func (export "nested") (type $ii) (local $i i32) (local $j i32) (local $s i32)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner
        (local.set $s (i32.add (local.get $s) (i32.mul (local.get $i) (local.get $j))))
        (if (i32.gt_u (local.get $s) (i32.const 100000)) (then (return (local.get $s))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $j) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (local.get 0))))
    (local.get $s))

  ;; tail calls: a countdown through return_call and return_call_indirect
  (func $even (export "even") (type $ii)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 1))
      (else (return_call $odd (i32.sub (local.get 0) (i32.const 1))))))
  (func $odd (type $ii)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (return_call $even (i32.sub (local.get 0) (i32.const 1))))))
  (func (export "indirect_fib") (type $ii)
    (return_call_indirect (type $ii) (local.get 0) (i32.const 1)))
)
