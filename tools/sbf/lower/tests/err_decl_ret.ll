; EXPECT-ERROR: in ext_wide: external function needs more than 5 argument registers or returns a value wider than 64 bits
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

declare i128 @ext_wide(i64)

define void @f(i64 %a, ptr %o) {
  %r = call i128 @ext_wide(i64 %a)
  store i128 %r, ptr %o
  ret void
}
