;; Exception-handling costs (make bench --suite eh): the same loop of N
;; iterations around a call, without a handler, entering a handler on every
;; iteration, inside one handler, and throwing and catching on every
;; iteration.  fib is an ordinary call-heavy function of a module that uses
;; exceptions; the benchmark also builds this module cut at the marker below
;; (fib alone) to show that such a module's calls cost what they cost
;; without exceptions.
(module
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
;; -- exceptions (the benchmark cuts the module here for its plain variant)
  (tag $e (param i32))
  (func $step (param i32) (result i32)
    (i32.add (i32.mul (local.get 0) (i32.const 1664525)) (i32.const 1013904223)))
  (func $thrower (param i32) (result i32)
    (throw $e (local.get 0)))
  (func (export "plain") (param $n i32) (result i32) (local $acc i32)
    (loop $l
      (local.set $acc (call $step (local.get $acc)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $acc))
  (func (export "try_each") (param $n i32) (result i32) (local $acc i32)
    (loop $l
      (local.set $acc
        (try (result i32)
          (do (call $step (local.get $acc)))
          (catch $e)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $acc))
  (func (export "try_once") (param $n i32) (result i32) (local $acc i32)
    (try
      (do
        (loop $l
          (local.set $acc (call $step (local.get $acc)))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
      (catch $e (drop)))
    (local.get $acc))
  (func (export "throw_each") (param $n i32) (result i32) (local $acc i32)
    (loop $l
      (local.set $acc
        (try (result i32)
          (do (call $thrower (local.get $acc)))
          (catch $e (call $step))))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $acc)))
