; EXPECT-ERROR: in ext6: external function needs more than 5 argument registers
; An external function (a declaration) cannot be given another convention.
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

declare i64 @ext6(i64, i64, i64, i64, i128)

define i64 @f(i64 %a) {
  %r = call i64 @ext6(i64 %a, i64 %a, i64 %a, i64 %a, i128 0)
  ret i64 %r
}
