; EXPECT-ERROR: in va: variadic function definition
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

define i64 @va(i64 %a, ...) {
  ret i64 %a
}
