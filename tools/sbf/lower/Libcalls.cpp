//===- Libcalls.cpp - memory intrinsics and floating point ----------------===//
//
// The BPF backend refuses every call it would have to emit by symbol name
// itself, a "libcall" ("A call to built-in function 'memcpy' is not
// supported", the same for '__adddf3'). A call the IR makes to a declared or
// defined function is an ordinary call and is fine. So the operations codegen
// would turn into libcalls are rewritten here into explicit calls to those
// same functions (memcpy, __adddf3, ...), which the link must provide
// (compiler-builtins does), or into inline IR.
//
//===----------------------------------------------------------------------===//
#include "SbfLower.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/IR/Intrinsics.h"

using namespace llvm;

namespace sbf {

/// A call to the runtime routine Name returning Ret, declared on first use.
/// When the module already has Name (compiler-builtins is linked in), its
/// own type is used, since a call through another type would be undefined:
/// integer parameters and an integer result of another width are converted
/// (e.g. compiler-builtins' comparisons return i64 on BPF, compiler-rt's
/// int); any other difference gives null, and the caller reports it, as it
/// does for an operation inside the routine it would call.
static Value *callRt(IRBuilder<> &B, Module &M, const Twine &Name, Type *Ret,
                     ArrayRef<Value *> Args) {
  std::string N = Name.str();
  SmallVector<Type *, 3> Tys;
  for (Value *V : Args)
    Tys.push_back(V->getType());
  FunctionType *Want = FunctionType::get(Ret, Tys, false);
  Function *F = M.getFunction(N);
  if (!F)
    return B.CreateCall(M.getOrInsertFunction(N, Want), Args);
  if (F == B.GetInsertBlock()->getParent())
    return nullptr; // the routine itself: the call would recurse
  FunctionType *Have = F->getFunctionType();
  if (Have == Want)
    return B.CreateCall(F, Args);
  auto Compatible = [](Type *H, Type *W) {
    return H == W || (H->isIntegerTy() && W->isIntegerTy());
  };
  if (Have->isVarArg() || Have->getNumParams() != Tys.size() ||
      !Compatible(Have->getReturnType(), Ret))
    return nullptr;
  SmallVector<Value *, 3> Conv;
  for (unsigned I = 0; I < Tys.size(); ++I) {
    if (!Compatible(Have->getParamType(I), Tys[I]))
      return nullptr;
    Type *P = Have->getParamType(I);
    Conv.push_back(P == Tys[I] ? Args[I] : B.CreateSExtOrTrunc(Args[I], P));
  }
  Value *R = B.CreateCall(F, Conv);
  return R->getType() == Ret ? R : B.CreateSExtOrTrunc(R, Ret);
}

//===----------------------------------------------------------------------===//
// Memory intrinsics
//===----------------------------------------------------------------------===//

/// Constant-length memcpy the backend expands itself, in pieces of the
/// alignment (at most 8 bytes): up to 128 stores in both of its modes
/// (BPF's getCommonMaxStoresPerMemFunc); beyond that it emits a libcall.
static constexpr uint64_t BackendMemcpyOps = 128;
/// At most this many loads (or stores) per expansion of memset/memmove here.
static constexpr uint64_t InlineMemOps = 32;

/// Functions in which a memory intrinsic must not become a call: the C
/// routines themselves, and code compiled not to call them ("no-builtins",
/// as compiler-builtins is), which may be what implements them.
static bool isMemRoutine(const Function &F) {
  StringRef N = F.getName();
  return N == "memcpy" || N == "memmove" || N == "memset" ||
         F.hasFnAttribute("no-builtins");
}

/// Widest access the alignment allows, at most 8 bytes.
static uint64_t chunkFor(Align A) { return std::min<uint64_t>(8, A.value()); }

/// Number of accesses an inline expansion of Len bytes in Chunk-byte pieces
/// takes (the tail in smaller pieces).
static uint64_t opsFor(uint64_t Len, uint64_t Chunk) {
  uint64_t N = Len / Chunk;
  for (uint64_t Rest = Len % Chunk; Rest; Rest &= Rest - 1)
    ++N;
  return N;
}

/// Calls Fn(offset, size) for the pieces of an inline expansion.
static void forPieces(uint64_t Len, uint64_t Chunk,
                      function_ref<void(uint64_t, uint64_t)> Fn) {
  uint64_t Off = 0;
  for (; Off + Chunk <= Len; Off += Chunk)
    Fn(Off, Chunk);
  for (uint64_t Sz = Chunk / 2; Sz; Sz /= 2)
    if (Off + Sz <= Len) {
      Fn(Off, Sz);
      Off += Sz;
    }
}

/// Lowers llvm.memcpy, llvm.memmove and llvm.memset (and their .inline
/// forms) that the backend would turn into refused libcalls. It expands a
/// constant-length memcpy of up to 128 pieces (the alignment, at most 8
/// bytes, per piece) into loads and stores itself, in both of its modes, and
/// those are left to it. With -bpf-expand-memcpy-in-order (which sbpf-linker
/// passes by default) every memset and memmove is a libcall, and without it
/// the long ones are; variable lengths always are. Here:
///  - memset/memmove of constant length needing at most 32 pieces (and every
///    constant-length .inline form the backend would not expand): explicit
///    loads and stores; memmove loads every piece before storing any, so
///    overlap is harmless;
///  - every other one: a call to the C function memcpy/memmove/memset (the
///    length extended to i64), which the link provides (in the program,
///    compiler-builtins' memcpy/memmove/memset, which use sol_mem*_ syscalls
///    for long lengths).
/// Inside memcpy/memmove/memset themselves a call would recurse (and
/// "no-builtins" code may implement them), so there constant lengths are
/// always expanded and variable ones reported.
bool lowerMemIntrinsics(Module &M, Diags &D) {
  SmallVector<MemIntrinsic *, 32> Work;
  for (Function &F : M)
    for (Instruction &I : instructions(F))
      if (auto *MI = dyn_cast<MemIntrinsic>(&I))
        switch (MI->getIntrinsicID()) {
        case Intrinsic::memcpy:
        case Intrinsic::memcpy_inline:
        case Intrinsic::memmove:
        case Intrinsic::memset:
        case Intrinsic::memset_inline:
          Work.push_back(MI);
          break;
        default:
          break;
        }
  LLVMContext &C = M.getContext();
  Type *I64 = Type::getInt64Ty(C), *I32 = Type::getInt32Ty(C);
  PointerType *Ptr = PointerType::get(C, 0);
  bool Changed = false;
  for (MemIntrinsic *MI : Work) {
    Function &F = *MI->getFunction();
    bool IsSet = isa<MemSetInst>(MI);
    bool IsMove = MI->getIntrinsicID() == Intrinsic::memmove;
    bool MustInline = MI->getIntrinsicID() == Intrinsic::memcpy_inline ||
                      MI->getIntrinsicID() == Intrinsic::memset_inline;
    bool Volatile = MI->isVolatile();
    Value *Dst = MI->getRawDest();
    Align A = MI->getDestAlign().valueOrOne();
    Value *Src = nullptr;
    if (!IsSet) {
      auto *MT = cast<MemTransferInst>(MI);
      Src = MT->getRawSource();
      A = std::min(A, MT->getSourceAlign().valueOrOne());
    }
    uint64_t Chunk = chunkFor(A);
    auto *LenC = dyn_cast<ConstantInt>(MI->getLength());
    IRBuilder<> B(MI);
    bool IsCopy = !IsSet && !IsMove;
    uint64_t Ops = LenC ? opsFor(LenC->getZExtValue(), Chunk) : 0;
    if (LenC && IsCopy && Ops <= BackendMemcpyOps)
      continue; // the backend expands it
    if (LenC && (MustInline || Ops <= InlineMemOps || isMemRoutine(F))) {
      uint64_t Len = LenC->getZExtValue();
      if (IsSet) {
        Value *Byte = cast<MemSetInst>(MI)->getValue();
        forPieces(Len, Chunk, [&](uint64_t Off, uint64_t Sz) {
          Type *T = B.getIntNTy(8 * Sz);
          // Splat the byte: zext(b) * 0x0101...01.
          Value *V = B.CreateMul(B.CreateZExt(Byte, T),
                                 ConstantInt::get(T, APInt::getSplat(
                                                         8 * Sz, APInt(8, 1))));
          B.CreateAlignedStore(V, B.CreateConstInBoundsGEP1_64(B.getInt8Ty(),
                                                               Dst, Off),
                               commonAlignment(A, Off), Volatile);
        });
      } else {
        SmallVector<std::pair<uint64_t, Value *>, 16> Loaded;
        auto Store = [&](uint64_t Off, Value *V) {
          B.CreateAlignedStore(
              V, B.CreateConstInBoundsGEP1_64(B.getInt8Ty(), Dst, Off),
              commonAlignment(A, Off), Volatile);
        };
        forPieces(Len, Chunk, [&](uint64_t Off, uint64_t Sz) {
          Value *V = B.CreateAlignedLoad(
              B.getIntNTy(8 * Sz),
              B.CreateConstInBoundsGEP1_64(B.getInt8Ty(), Src, Off),
              commonAlignment(A, Off), Volatile);
          if (IsMove)
            Loaded.push_back({Off, V});
          else
            Store(Off, V);
        });
        for (auto &[Off, V] : Loaded)
          Store(Off, V);
      }
      MI->eraseFromParent();
      Changed = true;
      continue;
    }
    if (isMemRoutine(F)) {
      D.error(&F, "variable-length memory intrinsic inside memcpy/memmove/"
                  "memset or a no-builtins function");
      continue;
    }
    Value *Len = B.CreateZExtOrTrunc(MI->getLength(), I64);
    const char *Name = IsSet ? "memset" : IsMove ? "memmove" : "memcpy";
    Value *Second =
        IsSet ? B.CreateZExt(cast<MemSetInst>(MI)->getValue(), I32) : Src;
    if (!callRt(B, M, Name, Ptr, {Dst, Second, Len})) {
      D.error(&F, Twine("the module defines ") + Name +
                      " with a signature other than C's");
      continue;
    }
    MI->eraseFromParent();
    Changed = true;
  }
  return Changed;
}

//===----------------------------------------------------------------------===//
// Floating point
//===----------------------------------------------------------------------===//

/// compiler-rt's suffix for a float type: "sf" (f32) or "df" (f64).
static const char *suffixOf(Type *T) {
  if (T->isFloatTy())
    return "sf";
  if (T->isDoubleTy())
    return "df";
  return nullptr;
}

static Value *lowerFCmpWith(IRBuilder<> &B, FCmpInst::Predicate P,
                            function_ref<Value *(const char *)> Cmp,
                            Value *Zero) {
  switch (P) {
  case FCmpInst::FCMP_FALSE:
    return B.getFalse();
  case FCmpInst::FCMP_TRUE:
    return B.getTrue();
  case FCmpInst::FCMP_OEQ:
    return B.CreateICmpEQ(Cmp("eq"), Zero);
  case FCmpInst::FCMP_UNE:
    return B.CreateICmpNE(Cmp("ne"), Zero);
  case FCmpInst::FCMP_OLT:
    return B.CreateICmpSLT(Cmp("lt"), Zero);
  case FCmpInst::FCMP_OLE:
    return B.CreateICmpSLE(Cmp("le"), Zero);
  case FCmpInst::FCMP_OGT:
    return B.CreateICmpSGT(Cmp("gt"), Zero);
  case FCmpInst::FCMP_OGE:
    return B.CreateICmpSGE(Cmp("ge"), Zero);
  case FCmpInst::FCMP_UGE:
    return B.CreateICmpSGE(Cmp("lt"), Zero);
  case FCmpInst::FCMP_UGT:
    return B.CreateICmpSGT(Cmp("le"), Zero);
  case FCmpInst::FCMP_ULE:
    return B.CreateICmpSLE(Cmp("gt"), Zero);
  case FCmpInst::FCMP_ULT:
    return B.CreateICmpSLT(Cmp("ge"), Zero);
  case FCmpInst::FCMP_UNO:
    return B.CreateICmpNE(Cmp("unord"), Zero);
  case FCmpInst::FCMP_ORD:
    return B.CreateICmpEQ(Cmp("unord"), Zero);
  case FCmpInst::FCMP_UEQ:
    return B.CreateOr(B.CreateICmpNE(Cmp("unord"), Zero),
                      B.CreateICmpEQ(Cmp("eq"), Zero));
  case FCmpInst::FCMP_ONE:
    return B.CreateAnd(B.CreateICmpEQ(Cmp("unord"), Zero),
                       B.CreateICmpNE(Cmp("ne"), Zero));
  default:
    llvm_unreachable("bad fcmp predicate");
  }
}

/// fcmp through compiler-rt's comparison routines, as LLVM's own soft-float
/// legalization does. __eq/__ne/__lt/__le return <0, 0, >0 like a three-way
/// compare and 1 for unordered operands; __ge/__gt return -1 for unordered;
/// __unord returns non-zero for unordered. The unordered-or predicates are
/// the negations of the opposite ordered ones (UGE = !OLT, ...).
static Value *lowerFCmp(IRBuilder<> &B, Module &M, FCmpInst *I,
                        const char *Sfx) {
  Value *X = I->getOperand(0), *Y = I->getOperand(1);
  Type *I32 = B.getInt32Ty();
  Value *Zero = B.getInt32(0);
  bool Failed = false;
  auto Cmp = [&](const char *Fn) -> Value * {
    if (Value *V = callRt(B, M, Twine("__") + Fn + Sfx + "2", I32, {X, Y}))
      return V;
    Failed = true;
    return Zero;
  };
  Value *R = lowerFCmpWith(B, I->getPredicate(), Cmp, Zero);
  return Failed ? nullptr : R;
}

/// Integer width letter in compiler-rt conversion names: si (32), di (64),
/// ti (128).
static const char *intSuffix(unsigned Bits) {
  return Bits <= 32 ? "si" : Bits <= 64 ? "di" : "ti";
}

/// llvm.fpto{s,u}i.sat (what Rust's `as` from float to integer emits) as
/// compares and a plain conversion, which the rest of this lowering then
/// turns into calls: NaN gives 0, values beyond the range clamp.
static Value *expandSatConvert(IRBuilder<> &B, IntrinsicInst *II) {
  bool Signed = II->getIntrinsicID() == Intrinsic::fptosi_sat;
  Value *X = II->getArgOperand(0);
  auto *ITy = cast<IntegerType>(II->getType());
  unsigned W = ITy->getBitWidth();
  Type *FTy = X->getType();
  const fltSemantics &Sem = FTy->getFltSemantics();
  // Bounds as floats: -2^(W-1) and 2^(W-1) (signed) or 2^W (unsigned); both
  // are exact powers of two. Values >= the upper bound clamp to the maximum.
  APFloat Upper(Sem), Lower(Sem);
  APInt Two = APInt::getOneBitSet(W + 1, Signed ? W - 1 : W);
  Upper.convertFromAPInt(Two, false, APFloat::rmNearestTiesToEven);
  Value *UpperV = ConstantFP::get(FTy, Upper);
  Value *Max = ConstantInt::get(ITy, Signed ? APInt::getSignedMaxValue(W)
                                            : APInt::getMaxValue(W));
  if (!Signed) {
    // !(x > -1) covers NaN and everything that truncates below zero.
    Value *Conv = B.CreateFPToUI(X, ITy);
    Value *Pos = B.CreateFCmpOGT(X, ConstantFP::get(FTy, -1.0));
    Value *R = B.CreateSelect(B.CreateFCmpOGE(X, UpperV), Max, Conv);
    return B.CreateSelect(Pos, R, ConstantInt::get(ITy, 0));
  }
  Lower = Upper;
  Lower.changeSign();
  Value *Conv = B.CreateFPToSI(X, ITy);
  Value *Min = ConstantInt::get(ITy, APInt::getSignedMinValue(W));
  Value *R = B.CreateSelect(B.CreateFCmpOGE(X, UpperV), Max, Conv);
  R = B.CreateSelect(B.CreateFCmpOLT(X, ConstantFP::get(FTy, Lower)), Min, R);
  return B.CreateSelect(B.CreateFCmpUNO(X, X), ConstantInt::get(ITy, 0), R);
}

/// The libm function implementing a math intrinsic, or null.
static const char *libmName(Intrinsic::ID ID) {
  switch (ID) {
  case Intrinsic::sqrt: return "sqrt";
  case Intrinsic::floor: return "floor";
  case Intrinsic::ceil: return "ceil";
  case Intrinsic::trunc: return "trunc";
  case Intrinsic::round: return "round";
  case Intrinsic::rint: return "rint";
  case Intrinsic::nearbyint: return "nearbyint";
  case Intrinsic::fma: return "fma";
  case Intrinsic::fmuladd: return "fma";
  case Intrinsic::pow: return "pow";
  case Intrinsic::exp: return "exp";
  case Intrinsic::exp2: return "exp2";
  case Intrinsic::log: return "log";
  case Intrinsic::log2: return "log2";
  case Intrinsic::log10: return "log10";
  case Intrinsic::sin: return "sin";
  case Intrinsic::cos: return "cos";
  case Intrinsic::minnum: return "fmin";
  case Intrinsic::maxnum: return "fmax";
  default: return nullptr;
  }
}

/// Lowers f32/f64 operations, which BPF (no floating-point registers) would
/// soften into refused libcalls, into explicit calls of the same compiler-rt
/// routines: fadd/fsub/fmul/fdiv -> __{add,sub,mul,div}{s,d}f3, fcmp -> the
/// comparison routines (lowerFCmp), fpext/fptrunc -> __extendsfdf2 /
/// __truncdfsf2, fpto{s,u}i and {s,u}itofp -> __fix[uns]{s,d}f{s,d,t}i and
/// __float[un]{s,d,t}i{s,d}f (narrow integers go through i32), frem and
/// math intrinsics -> libm (fmod, sqrt, floor, ...; names with an `f`
/// suffix for f32), llvm.powi -> __powi{s,d}f2, and llvm.fpto{s,u}i.sat
/// first to compares (expandSatConvert). fneg, fabs and copysign are bit
/// operations the backend handles itself. Conversions from a float to an
/// integer wider than 64 bits would return an i128 and are reported.
bool lowerFloatOps(Module &M, Diags &D) {
  bool Changed = false;
  // Saturating conversions first: their expansion is lowered below.
  SmallVector<IntrinsicInst *, 8> Sat;
  for (Function &F : M)
    for (Instruction &I : instructions(F))
      if (auto *II = dyn_cast<IntrinsicInst>(&I))
        if ((II->getIntrinsicID() == Intrinsic::fptosi_sat ||
             II->getIntrinsicID() == Intrinsic::fptoui_sat) &&
            !II->getType()->isVectorTy() &&
            suffixOf(II->getArgOperand(0)->getType()))
          Sat.push_back(II);
  for (IntrinsicInst *II : Sat) {
    IRBuilder<> B(II);
    Value *R = expandSatConvert(B, II);
    R->takeName(II);
    II->replaceAllUsesWith(R);
    II->eraseFromParent();
    Changed = true;
  }

  SmallVector<Instruction *, 32> Work;
  for (Function &F : M)
    for (Instruction &I : instructions(F)) {
      bool FloatIn = any_of(I.operands(), [](Value *V) {
        return V->getType()->isFloatingPointTy();
      });
      if (I.getType()->isFloatingPointTy() || FloatIn)
        Work.push_back(&I);
    }
  LLVMContext &C = M.getContext();
  Type *I32 = Type::getInt32Ty(C);
  for (Instruction *I : Work) {
    Function &F = *I->getFunction();
    IRBuilder<> B(I);
    Value *R = nullptr;
    Type *Ty = I->getType();
    auto Unsupported = [&](const Twine &What) {
      D.error(&F, "unsupported floating-point operation: " + What);
    };
    switch (I->getOpcode()) {
    case Instruction::FAdd:
    case Instruction::FSub:
    case Instruction::FMul:
    case Instruction::FDiv: {
      const char *Sfx = suffixOf(Ty);
      if (!Sfx) {
        Unsupported("arithmetic on a non-f32/f64 type");
        continue;
      }
      const char *Op = I->getOpcode() == Instruction::FAdd   ? "add"
                       : I->getOpcode() == Instruction::FSub ? "sub"
                       : I->getOpcode() == Instruction::FMul ? "mul"
                                                             : "div";
      R = callRt(B, M, Twine("__") + Op + Sfx + "3", Ty,
                 {I->getOperand(0), I->getOperand(1)});
      break;
    }
    case Instruction::FRem:
      if (!suffixOf(Ty)) {
        Unsupported("frem on a non-f32/f64 type");
        continue;
      }
      R = callRt(B, M, Ty->isFloatTy() ? "fmodf" : "fmod", Ty,
                 {I->getOperand(0), I->getOperand(1)});
      break;
    case Instruction::FCmp: {
      const char *Sfx = suffixOf(I->getOperand(0)->getType());
      if (!Sfx) {
        Unsupported("fcmp on a non-f32/f64 type");
        continue;
      }
      R = lowerFCmp(B, M, cast<FCmpInst>(I), Sfx);
      break;
    }
    case Instruction::FPExt:
    case Instruction::FPTrunc: {
      Value *X = I->getOperand(0);
      if (X->getType()->isFloatTy() && Ty->isDoubleTy())
        R = callRt(B, M, "__extendsfdf2", Ty, {X});
      else if (X->getType()->isDoubleTy() && Ty->isFloatTy())
        R = callRt(B, M, "__truncdfsf2", Ty, {X});
      else {
        Unsupported("fpext/fptrunc between these types");
        continue;
      }
      break;
    }
    case Instruction::FPToSI:
    case Instruction::FPToUI: {
      Value *X = I->getOperand(0);
      const char *Sfx = suffixOf(X->getType());
      unsigned W = Ty->isIntegerTy() ? Ty->getIntegerBitWidth() : 0;
      if (!Sfx || W == 0 || W > 64) {
        Unsupported("conversion to an integer wider than 64 bits");
        continue;
      }
      bool S = I->getOpcode() == Instruction::FPToSI;
      Type *CTy = W <= 32 ? I32 : B.getInt64Ty();
      R = callRt(B, M,
                 Twine("__fix") + (S ? "" : "uns") + Sfx + intSuffix(W), CTy,
                 {X});
      if (R)
        R = B.CreateTrunc(R, Ty);
      break;
    }
    case Instruction::SIToFP:
    case Instruction::UIToFP: {
      Value *X = I->getOperand(0);
      const char *Sfx = suffixOf(Ty);
      unsigned W = X->getType()->isIntegerTy()
                       ? X->getType()->getIntegerBitWidth()
                       : 0;
      if (!Sfx || W == 0 || W > 128) {
        Unsupported("integer to float conversion of this type");
        continue;
      }
      bool S = I->getOpcode() == Instruction::SIToFP;
      if (W < 32 || (W > 32 && W < 64) || (W > 64 && W < 128)) {
        unsigned NW = W < 32 ? 32 : W < 64 ? 64 : 128;
        X = S ? B.CreateSExt(X, B.getIntNTy(NW))
              : B.CreateZExt(X, B.getIntNTy(NW));
        W = NW;
      }
      R = callRt(B, M,
                 Twine("__float") + (S ? "" : "un") + intSuffix(W) + Sfx, Ty,
                 {X});
      break;
    }
    case Instruction::Call: {
      auto *II = dyn_cast<IntrinsicInst>(I);
      if (!II)
        continue; // ordinary calls taking or returning floats are fine
      Intrinsic::ID ID = II->getIntrinsicID();
      switch (ID) {
      case Intrinsic::fabs:
      case Intrinsic::copysign:
      case Intrinsic::dbg_value:
      case Intrinsic::dbg_declare:
        continue; // bit operations / no code
      case Intrinsic::powi: {
        const char *Sfx = suffixOf(Ty);
        if (!Sfx) {
          Unsupported("powi on a non-f32/f64 type");
          continue;
        }
        R = callRt(B, M, Twine("__powi") + Sfx + "2", Ty,
                   {II->getArgOperand(0),
                    B.CreateSExtOrTrunc(II->getArgOperand(1), I32)});
        break;
      }
      default: {
        // Math intrinsics become libm calls (fmuladd as fma, which is one
        // of its valid implementations). Others are left to the backend,
        // which expands the bit-level ones (is.fpclass, ...) itself.
        const char *Name = libmName(ID);
        if (!Name || !suffixOf(Ty))
          continue;
        SmallVector<Value *, 3> Args(II->args());
        R = callRt(B, M, Twine(Name) + (Ty->isFloatTy() ? "f" : ""), Ty,
                   Args);
        break;
      }
      }
      break;
    }
    default:
      continue; // loads, stores, phi, select, fneg, bitcast, calls: fine
    }
    if (!R) {
      Unsupported(Twine(I->getOpcodeName()) +
                  ": the module defines the runtime routine with another "
                  "signature, or this is that routine");
      continue;
    }
    R->takeName(I);
    I->replaceAllUsesWith(R);
    I->eraseFromParent();
    Changed = true;
  }
  return Changed;
}

} // namespace sbf
