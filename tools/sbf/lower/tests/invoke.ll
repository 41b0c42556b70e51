; invoke (not produced by Rust with panic=abort, but handled): the i128 result
; of a rewritten invoke is read back on the normal edge, in a new block.
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

define internal i32 @pers() { ret i32 0 }

define internal i128 @six(i64 %a, i64 %b, i64 %c, i64 %d, i64 %e, i64 %f) noinline {
  %s1 = add i64 %a, %f
  %s2 = mul i64 %b, %e
  %s3 = xor i64 %s1, %s2
  %z = zext i64 %s3 to i128
  %h = zext i64 %c to i128
  %hs = shl i128 %h, 64
  %r = or i128 %z, %hs
  ret i128 %r
}

define void @t_invoke(ptr %in, ptr %out) personality ptr @pers {
entry:
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load i64, ptr %in
  %b = load i64, ptr %p1
  %r = invoke i128 @six(i64 %a, i64 %b, i64 %a, i64 %b, i64 %a, i64 %b) to label %ok unwind label %bad
ok:
  %x = phi i128 [ %r, %entry ]
  store i128 %x, ptr %out
  ret void
bad:
  %lp = landingpad { ptr, i32 } cleanup
  ret void
}
