; Floating point: BPF has no FP registers and softens every f32/f64
; operation into a refused libcall (__adddf3, __ltdf2, __fixdfdi, ...). The
; lowered IR calls those routines explicitly. Operands are doubles read from
; the low 8 bytes of slots 0 and 1.
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"
target triple = "bpfel"

define void @t_farith(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load double, ptr %in
  %b = load double, ptr %p1
  %s = fadd double %a, %b
  %d = fsub double %a, %b
  %m = fmul double %a, %b
  %q = fdiv double %a, %b
  store double %s, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 8
  store double %d, ptr %o1
  %o2 = getelementptr i8, ptr %out, i64 16
  store double %m, ptr %o2
  %o3 = getelementptr i8, ptr %out, i64 24
  store double %q, ptr %o3
  ; f32 through fptrunc/fpext
  %fa = fptrunc double %a to float
  %fb = fptrunc double %b to float
  %fs = fadd float %fa, %fb
  %fm = fmul float %fa, %fb
  %fq = fdiv float %fs, %fm
  %fd = fsub float %fq, %fa
  %o4 = getelementptr i8, ptr %out, i64 32
  store float %fd, ptr %o4
  %e = fpext float %fs to double
  %o5 = getelementptr i8, ptr %out, i64 40
  store double %e, ptr %o5
  %n = fneg double %a
  %ab = call double @llvm.fabs.f64(double %b)
  %cs = call double @llvm.copysign.f64(double %ab, double %n)
  %o6 = getelementptr i8, ptr %out, i64 48
  store double %cs, ptr %o6
  %sq = call double @llvm.sqrt.f64(double %ab)
  %fl = call double @llvm.floor.f64(double %sq)
  %o7 = getelementptr i8, ptr %out, i64 56
  store double %fl, ptr %o7
  ret void
}

define void @t_fcmp(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %a = load double, ptr %in
  %b = load double, ptr %p1
  %c1 = fcmp oeq double %a, %b
  %c2 = fcmp ogt double %a, %b
  %c3 = fcmp oge double %a, %b
  %c4 = fcmp olt double %a, %b
  %c5 = fcmp ole double %a, %b
  %c6 = fcmp one double %a, %b
  %c7 = fcmp ord double %a, %b
  %c8 = fcmp ueq double %a, %b
  %c9 = fcmp ugt double %a, %b
  %c10 = fcmp uge double %a, %b
  %c11 = fcmp ult double %a, %b
  %c12 = fcmp ule double %a, %b
  %c13 = fcmp une double %a, %b
  %c14 = fcmp uno double %a, %b
  %fa = fptrunc double %a to float
  %fb = fptrunc double %b to float
  %c15 = fcmp olt float %fa, %fb
  %c16 = fcmp uge float %fa, %fb
  %all = insertelement <16 x i1> poison, i1 %c1, i32 0
  %v2 = insertelement <16 x i1> %all, i1 %c2, i32 1
  %v3 = insertelement <16 x i1> %v2, i1 %c3, i32 2
  %v4 = insertelement <16 x i1> %v3, i1 %c4, i32 3
  %v5 = insertelement <16 x i1> %v4, i1 %c5, i32 4
  %v6 = insertelement <16 x i1> %v5, i1 %c6, i32 5
  %v7 = insertelement <16 x i1> %v6, i1 %c7, i32 6
  %v8 = insertelement <16 x i1> %v7, i1 %c8, i32 7
  %v9 = insertelement <16 x i1> %v8, i1 %c9, i32 8
  %v10 = insertelement <16 x i1> %v9, i1 %c10, i32 9
  %v11 = insertelement <16 x i1> %v10, i1 %c11, i32 10
  %v12 = insertelement <16 x i1> %v11, i1 %c12, i32 11
  %v13 = insertelement <16 x i1> %v12, i1 %c13, i32 12
  %v14 = insertelement <16 x i1> %v13, i1 %c14, i32 13
  %v15 = insertelement <16 x i1> %v14, i1 %c15, i32 14
  %v16 = insertelement <16 x i1> %v15, i1 %c16, i32 15
  %bits = bitcast <16 x i1> %v16 to i16
  store i16 %bits, ptr %out
  ret void
}

; Conversions. Float -> int uses the saturating intrinsics Rust's `as` emits
; (defined for every input), and plain fptosi/fptoui on values known to be in
; range; int -> float from 32, 64 and 128-bit integers, both signs.
define void @t_fconv(ptr %in, ptr %out) {
  %p1 = getelementptr i8, ptr %in, i64 16
  %p2 = getelementptr i8, ptr %in, i64 32
  %a = load double, ptr %in
  %i = load i64, ptr %p1
  %w = load i128, ptr %p2
  %s64 = call i64 @llvm.fptosi.sat.i64.f64(double %a)
  %u64 = call i64 @llvm.fptoui.sat.i64.f64(double %a)
  %s32 = call i32 @llvm.fptosi.sat.i32.f64(double %a)
  %u8 = call i8 @llvm.fptoui.sat.i8.f64(double %a)
  store i64 %s64, ptr %out
  %o1 = getelementptr i8, ptr %out, i64 8
  store i64 %u64, ptr %o1
  %o2 = getelementptr i8, ptr %out, i64 16
  store i32 %s32, ptr %o2
  %o3 = getelementptr i8, ptr %out, i64 20
  store i8 %u8, ptr %o3
  %fa = fptrunc double %a to float
  %f32 = call i32 @llvm.fptosi.sat.i32.f32(float %fa)
  %o4 = getelementptr i8, ptr %out, i64 24
  store i32 %f32, ptr %o4
  %d1 = sitofp i64 %i to double
  %d2 = uitofp i64 %i to double
  %i32 = trunc i64 %i to i32
  %d3 = sitofp i32 %i32 to double
  %d4 = uitofp i32 %i32 to float
  %d5 = sitofp i128 %w to double
  %d6 = uitofp i128 %w to double
  %i16 = trunc i64 %i to i16
  %d7 = sitofp i16 %i16 to float
  %x1 = fadd double %d1, %d2
  %x2 = fadd double %x1, %d3
  %d4d = fpext float %d4 to double
  %x3 = fadd double %x2, %d4d
  %o5 = getelementptr i8, ptr %out, i64 32
  store double %x3, ptr %o5
  %o6 = getelementptr i8, ptr %out, i64 40
  store double %d5, ptr %o6
  %o7 = getelementptr i8, ptr %out, i64 48
  store double %d6, ptr %o7
  %o8 = getelementptr i8, ptr %out, i64 56
  store float %d7, ptr %o8
  ; back again, in range by construction
  %b1 = fptosi double %d3 to i32
  %b2 = fptoui float %d4 to i32
  %b3 = add i32 %b1, %b2
  %o9 = getelementptr i8, ptr %out, i64 60
  store i32 %b3, ptr %o9
  ret void
}
