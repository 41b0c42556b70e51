; Memory intrinsics the backend would turn into refused memcpy/memmove/
; memset libcalls: variable lengths, long constant ones, and (with
; -bpf-expand-memcpy-in-order, sbpf-linker's default) every memset and
; memmove. Constant memcpy up to 128 pieces stays for the backend, short
; constant memset/memmove are expanded inline, the rest call the C
; functions.
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

define void @t_mem(ptr %in, ptr %out) {
  %buf = alloca [256 x i8], align 8
  %p3 = getelementptr i8, ptr %in, i64 48
  %n0 = load i8, ptr %p3
  %n1 = and i8 %n0, 63
  %n = zext i8 %n1 to i64
  %p4 = getelementptr i8, ptr %in, i64 49
  %m0 = load i8, ptr %p4
  %m1 = and i8 %m0, 15
  %m = zext i8 %m1 to i64
  %fill = load i8, ptr %in
  ; fill the buffer (constant, long): a call
  call void @llvm.memset.p0.i64(ptr align 8 %buf, i8 %fill, i64 256, i1 false)
  ; variable-length copy of the input: a call
  call void @llvm.memcpy.p0.p0.i64(ptr align 1 %buf, ptr align 1 %in, i64 %n, i1 false)
  ; overlapping moves, short constant (inline) and variable (a call)
  %b3 = getelementptr i8, ptr %buf, i64 3
  call void @llvm.memmove.p0.p0.i64(ptr align 1 %b3, ptr align 8 %buf, i64 13, i1 false)
  %b8 = getelementptr i8, ptr %buf, i64 8
  call void @llvm.memmove.p0.p0.i64(ptr align 8 %buf, ptr align 8 %b8, i64 24, i1 false)
  %b5 = getelementptr i8, ptr %buf, i64 5
  call void @llvm.memmove.p0.p0.i64(ptr align 1 %b5, ptr align 1 %buf, i64 %m, i1 false)
  ; short constant memset with a variable byte, and a variable one
  %b40 = getelementptr i8, ptr %buf, i64 40
  %byte = load i8, ptr %p4
  call void @llvm.memset.p0.i64(ptr align 2 %b40, i8 %byte, i64 11, i1 false)
  %b50 = getelementptr i8, ptr %buf, i64 50
  call void @llvm.memset.p0.i64(ptr align 1 %b50, i8 -86, i64 %m, i1 true)
  ; a memset of 100 single bytes (a call); copies of exactly 128 pieces (left
  ; to the backend) and of 200 (a call); short constant copies (backend)
  %b60 = getelementptr i8, ptr %buf, i64 60
  call void @llvm.memset.p0.i64(ptr align 1 %b60, i8 %fill, i64 100, i1 false)
  %big = alloca [256 x i8], align 8
  call void @llvm.memcpy.p0.p0.i64(ptr align 2 %big, ptr align 8 %buf, i64 256, i1 false)
  %tmp = alloca [256 x i8], align 8
  call void @llvm.memcpy.p0.p0.i64(ptr align 8 %tmp, ptr align 1 %b5, i64 200, i1 false)
  %t9 = getelementptr i8, ptr %tmp, i64 9
  %big9 = getelementptr i8, ptr %big, i64 17
  call void @llvm.memcpy.p0.p0.i64(ptr align 1 %big9, ptr align 1 %t9, i64 31, i1 false)
  call void @llvm.memcpy.p0.p0.i64(ptr align 1 %out, ptr align 1 %big, i64 24, i1 false)
  %o24 = getelementptr i8, ptr %out, i64 24
  %big24 = getelementptr i8, ptr %big, i64 24
  call void @llvm.memcpy.inline.p0.p0.i64(ptr align 8 %o24, ptr align 8 %big24, i64 40, i1 false)
  ret void
}
