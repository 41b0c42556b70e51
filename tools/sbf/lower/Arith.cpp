//===- Arith.cpp - wide and signed integer arithmetic lowering ------------===//
//
// Upstream LLVM's BPF backend legalizes i128 arithmetic by splitting it into
// i64 halves, except for the operations it hands to compiler-rt libcalls
// (__multi3, __udivti3, __ashlti3, ...). BPF refuses every libcall ("A call to
// built-in function '__multi3' is not supported"), and even if it did not,
// those functions return i128, which BPF cannot return ("only small returns
// supported"). With -mcpu=v1 (sBPF v0) there is also no signed division at
// any width ("unsupported signed division"). This file rewrites all of these
// into IR the backend selects natively: i64 operations, selects, branches and
// one internal helper function for 128-bit division.
//
//===----------------------------------------------------------------------===//
#include "SbfLower.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/IR/Intrinsics.h"
#include "llvm/Transforms/Utils/IntegerDivision.h"

using namespace llvm;

namespace sbf {

std::pair<Value *, Value *> split128(IRBuilder<> &B, Value *V) {
  Type *I64 = B.getInt64Ty();
  Value *Lo = B.CreateTrunc(V, I64, "lo");
  Value *Hi = B.CreateTrunc(B.CreateLShr(V, 64), I64, "hi");
  return {Lo, Hi};
}

Value *join128(IRBuilder<> &B, Value *Lo, Value *Hi) {
  Type *I128 = B.getIntNTy(128);
  return B.CreateOr(B.CreateZExt(Lo, I128),
                    B.CreateShl(B.CreateZExt(Hi, I128), 64), "join");
}

// Schoolbook multiplication on 32-bit limbs: with A = a1*2^32 + a0 and
// C = c1*2^32 + c0, every partial product aI*cJ fits in 64 bits, and the
// middle column (p00 >> 32) + lo32(p01) + lo32(p10) is below 3*2^32, so no
// partial sum overflows an i64.
std::pair<Value *, Value *> mul64x64(IRBuilder<> &B, Value *A, Value *C) {
  Value *M32 = B.getInt64(0xffffffffULL);
  Value *A0 = B.CreateAnd(A, M32), *A1 = B.CreateLShr(A, 32);
  Value *C0 = B.CreateAnd(C, M32), *C1 = B.CreateLShr(C, 32);
  Value *P00 = B.CreateMul(A0, C0);
  Value *P01 = B.CreateMul(A0, C1);
  Value *P10 = B.CreateMul(A1, C0);
  Value *P11 = B.CreateMul(A1, C1);
  Value *Mid = B.CreateAdd(B.CreateAdd(B.CreateLShr(P00, 32),
                                       B.CreateAnd(P01, M32)),
                           B.CreateAnd(P10, M32));
  Value *Lo = B.CreateOr(B.CreateShl(Mid, 32), B.CreateAnd(P00, M32), "mlo");
  Value *Hi = B.CreateAdd(
      B.CreateAdd(P11, B.CreateLShr(P01, 32)),
      B.CreateAdd(B.CreateLShr(P10, 32), B.CreateLShr(Mid, 32)), "mhi");
  return {Lo, Hi};
}

AllocaInst *entryAlloca(Function &F, Type *Ty, const Twine &Name) {
  const DataLayout &DL = F.getParent()->getDataLayout();
  BasicBlock &Entry = F.getEntryBlock();
  // Static allocas go at the top of the entry block so that codegen gives
  // them fixed frame slots.
  IRBuilder<> B(&Entry, Entry.getFirstInsertionPt());
  AllocaInst *A = B.CreateAlloca(Ty, DL.getAllocaAddrSpace(), nullptr, Name);
  A->setAlignment(DL.getPrefTypeAlign(Ty));
  return A;
}

static bool isWideInt(Type *T) {
  return T->isIntegerTy() && T->getIntegerBitWidth() > 64;
}

/// Collects the instructions of the module satisfying Pred first, so that the
/// rewrites below can insert and erase freely.
template <typename Pred>
static SmallVector<Instruction *, 32> collect(Module &M, Pred P) {
  SmallVector<Instruction *, 32> Out;
  for (Function &F : M)
    for (Instruction &I : instructions(F))
      if (P(I))
        Out.push_back(&I);
  return Out;
}

//===----------------------------------------------------------------------===//
// Division and remainder
//===----------------------------------------------------------------------===//

static const char *const UDivModName = "__sbf_udivmod128";

/// Builds (once per module) the internal helper
///   void @__sbf_udivmod128(i128 %a, i128 %b, ptr %out)
/// storing a / b at out[0] and a % b at out[1]. BPF cannot return an i128,
/// hence the out pointer; the signature uses exactly the five argument
/// registers. Three paths:
///  - both operands below 2^64: one native 64-bit udiv and urem;
///  - divisor below 2^32: schoolbook long division on four 32-bit digits of
///    the dividend, each step a native 64-bit udiv/urem (the running remainder
///    is below the divisor, so remainder*2^32 + digit fits in 64 bits);
///  - otherwise: a 128-bit `udiv`, expanded by LLVM's own shift-subtract
///    expansion (llvm::expandDivision, the code behind the expand-ir-insts
///    pass), and the remainder as a - q*b (that multiply is lowered by
///    lowerMul and the expansion's variable shifts by lowerShifts, which run
///    after this).
/// Division by zero is undefined in LLVM IR (Rust checks before dividing);
/// here it ends in the 64-bit path's native divide, which sBPF aborts on.
static Function *getUDivMod128(Module &M) {
  if (Function *F = M.getFunction(UDivModName))
    return F;
  LLVMContext &C = M.getContext();
  Type *I128 = Type::getIntNTy(C, 128);
  PointerType *Ptr = PointerType::get(C, 0);
  auto *FT = FunctionType::get(Type::getVoidTy(C), {I128, I128, Ptr}, false);
  Function *F =
      Function::Create(FT, GlobalValue::InternalLinkage, UDivModName, &M);
  F->addFnAttr(Attribute::NoUnwind);
  F->addFnAttr(Attribute::NoInline); // one copy of the division loop
  Argument *A = F->getArg(0), *Bv = F->getArg(1), *Out = F->getArg(2);
  A->setName("a");
  Bv->setName("b");
  Out->setName("out");

  BasicBlock *Entry = BasicBlock::Create(C, "entry", F);
  BasicBlock *Fast64 = BasicBlock::Create(C, "fast64", F);
  BasicBlock *Check32 = BasicBlock::Create(C, "check32", F);
  BasicBlock *Fast32 = BasicBlock::Create(C, "fast32", F);
  BasicBlock *Slow = BasicBlock::Create(C, "slow", F);

  auto Store = [&](IRBuilder<> &B, Value *Q, Value *R) {
    B.CreateAlignedStore(Q, Out, Align(8));
    B.CreateAlignedStore(R, B.CreateConstGEP1_64(I128, Out, 1), Align(8));
    B.CreateRetVoid();
  };

  IRBuilder<> B(Entry);
  Value *Af = B.CreateFreeze(A), *Bf = B.CreateFreeze(Bv);
  auto [ALo, AHi] = split128(B, Af);
  auto [BLo, BHi] = split128(B, Bf);
  B.CreateCondBr(B.CreateICmpEQ(B.CreateOr(AHi, BHi), B.getInt64(0)), Fast64,
                 Check32);

  B.SetInsertPoint(Fast64);
  Store(B, B.CreateZExt(B.CreateUDiv(ALo, BLo), I128),
        B.CreateZExt(B.CreateURem(ALo, BLo), I128));

  B.SetInsertPoint(Check32);
  B.CreateCondBr(B.CreateICmpEQ(B.CreateOr(BHi, B.CreateLShr(BLo, 32)),
                                B.getInt64(0)),
                 Fast32, Slow);

  B.SetInsertPoint(Fast32);
  {
    Value *M32 = B.getInt64(0xffffffffULL);
    Value *Digits[4] = {B.CreateLShr(AHi, 32), B.CreateAnd(AHi, M32),
                        B.CreateLShr(ALo, 32), B.CreateAnd(ALo, M32)};
    Value *Rem = B.getInt64(0);
    Value *Q[4];
    for (int I = 0; I < 4; ++I) {
      Value *N = B.CreateOr(B.CreateShl(Rem, 32), Digits[I]);
      Q[I] = B.CreateUDiv(N, BLo);
      Rem = B.CreateURem(N, BLo);
    }
    Value *QHi = B.CreateOr(B.CreateShl(Q[0], 32), Q[1]);
    Value *QLo = B.CreateOr(B.CreateShl(Q[2], 32), Q[3]);
    Store(B, join128(B, QLo, QHi), B.CreateZExt(Rem, I128));
  }

  B.SetInsertPoint(Slow);
  auto *Div = cast<BinaryOperator>(B.CreateUDiv(Af, Bf, "q"));
  // Remainder from the quotient; the placeholder is replaced by the expanded
  // quotient below.
  Value *Prod = B.CreateMul(Div, Bf);
  Value *Rem = B.CreateSub(Af, Prod, "r");
  Store(B, Div, Rem);
  expandDivision(Div); // splits Slow; replaces all uses of Div
  return F;
}

/// Signed operation on values of at most 64 bits via the unsigned one:
/// |a| and |b| are computed as (x ^ s) - s with s = x >> (N-1) (arithmetic),
/// which is exact as an unsigned N-bit number even for the minimum value;
/// the quotient takes the sign sa ^ sb and the remainder the sign of a, as in
/// C/Rust truncating division. (INT_MIN / -1 is undefined in IR; Rust checks.)
static Value *signedViaUnsigned(IRBuilder<> &B, Instruction::BinaryOps Op,
                                Value *A, Value *Bv,
                                function_ref<Value *(Value *, Value *)> UOp) {
  unsigned N = A->getType()->getScalarSizeInBits();
  Value *SA = B.CreateAShr(A, N - 1), *SB = B.CreateAShr(Bv, N - 1);
  Value *UA = B.CreateSub(B.CreateXor(A, SA), SA);
  Value *UB = B.CreateSub(B.CreateXor(Bv, SB), SB);
  Value *U = UOp(UA, UB);
  Value *S = Op == Instruction::SDiv ? B.CreateXor(SA, SB) : SA;
  return B.CreateSub(B.CreateXor(U, S), S);
}

/// Lowers division and remainder the backend cannot select:
///  - sdiv/srem on <= 64 bits: sBPF v0 (-mcpu=v1) has no signed divide;
///    rewritten to udiv/urem on absolute values (signedViaUnsigned).
///  - udiv/urem/sdiv/srem on 65..128 bits: a call to @__sbf_udivmod128 (see
///    getUDivMod128) writing quotient and remainder to a 32-byte slot in the
///    caller's frame (one slot per function, shared by all its divisions);
///    signed ones on absolute values as above; widths below 128 extended.
/// Wider than 128 bits and vector divisions are reported as errors.
bool lowerDivRem(Module &M, Diags &D) {
  auto Work = collect(M, [](Instruction &I) {
    switch (I.getOpcode()) {
    case Instruction::SDiv:
    case Instruction::SRem:
      return true;
    case Instruction::UDiv:
    case Instruction::URem:
      return isWideInt(I.getType()) || I.getType()->isVectorTy();
    default:
      return false;
    }
  });
  if (Work.empty())
    return false;
  LLVMContext &C = M.getContext();
  Type *I128 = Type::getIntNTy(C, 128);
  DenseMap<Function *, AllocaInst *> Slots;
  for (Instruction *I : Work) {
    Function &F = *I->getFunction();
    Type *Ty = I->getType();
    if (!Ty->isIntegerTy() || Ty->getIntegerBitWidth() > 128) {
      D.error(&F, Twine("unsupported division type: ") + I->getOpcodeName() +
                      " on " + (Ty->isVectorTy() ? "a vector" : "> 128 bits"));
      continue;
    }
    auto Op = static_cast<Instruction::BinaryOps>(I->getOpcode());
    bool Signed = Op == Instruction::SDiv || Op == Instruction::SRem;
    bool IsDiv = Op == Instruction::SDiv || Op == Instruction::UDiv;
    IRBuilder<> B(I);
    Value *A = I->getOperand(0), *Bv = I->getOperand(1);
    Value *Res;
    if (!isWideInt(Ty)) {
      Res = signedViaUnsigned(B, Op, A, Bv, [&](Value *X, Value *Y) {
        return IsDiv ? B.CreateUDiv(X, Y) : B.CreateURem(X, Y);
      });
    } else {
      AllocaInst *&Slot = Slots[&F];
      if (!Slot)
        Slot = entryAlloca(F, ArrayType::get(I128, 2), "divmod.slot");
      Function *Helper = getUDivMod128(M);
      auto UOp = [&](Value *X, Value *Y) -> Value * {
        B.CreateCall(Helper, {X, Y, Slot});
        Value *P = IsDiv ? (Value *)Slot : B.CreateConstGEP1_64(I128, Slot, 1);
        return B.CreateAlignedLoad(I128, P, Align(8));
      };
      if (Ty != I128) {
        A = Signed ? B.CreateSExt(A, I128) : B.CreateZExt(A, I128);
        Bv = Signed ? B.CreateSExt(Bv, I128) : B.CreateZExt(Bv, I128);
      }
      Res = Signed ? signedViaUnsigned(B, Op, A, Bv, UOp) : UOp(A, Bv);
      if (Ty != I128)
        Res = B.CreateTrunc(Res, Ty);
    }
    Res->takeName(I);
    I->replaceAllUsesWith(Res);
    I->eraseFromParent();
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Multiplication
//===----------------------------------------------------------------------===//

/// Low 128 bits of a 128x128 product: the full product of the low halves
/// plus the two cross products, of which only the low 64 bits matter
/// (shifted left by 64); the high x high term is shifted out entirely.
static Value *mul128(IRBuilder<> &B, Value *A, Value *Bv) {
  auto [ALo, AHi] = split128(B, A);
  auto [BLo, BHi] = split128(B, Bv);
  auto [PLo, PHi] = mul64x64(B, ALo, BLo);
  Value *Hi = B.CreateAdd(PHi, B.CreateAdd(B.CreateMul(ALo, BHi),
                                           B.CreateMul(AHi, BLo)));
  return join128(B, PLo, Hi);
}

/// Unsigned 128x128 multiply with overflow flag. It overflows when both high
/// halves are non-zero, when a cross product alo*bhi or ahi*blo needs more
/// than 64 bits, or when adding the cross products to the high half of
/// alo*blo carries. (Adding the two cross products to each other can only
/// carry when both are non-zero, i.e. both high halves are.) The value is
/// the wrapped product in every case, as llvm.umul.with.overflow requires.
static std::pair<Value *, Value *> umulo128(IRBuilder<> &B, Value *A,
                                            Value *Bv) {
  auto [ALo, AHi] = split128(B, A);
  auto [BLo, BHi] = split128(B, Bv);
  Value *Zero = B.getInt64(0);
  auto [PLo, PHi] = mul64x64(B, ALo, BLo);
  auto [C1Lo, C1Hi] = mul64x64(B, AHi, BLo);
  auto [C2Lo, C2Hi] = mul64x64(B, ALo, BHi);
  Value *Cross = B.CreateAdd(C1Lo, C2Lo);
  Value *Hi = B.CreateAdd(PHi, Cross);
  Value *Ov = B.CreateAnd(B.CreateICmpNE(AHi, Zero), B.CreateICmpNE(BHi, Zero));
  Ov = B.CreateOr(Ov, B.CreateICmpNE(B.CreateOr(C1Hi, C2Hi), Zero));
  Ov = B.CreateOr(Ov, B.CreateICmpULT(Hi, PHi));
  return {join128(B, PLo, Hi), Ov};
}

/// Builds the {iN, i1} aggregate a *.with.overflow intrinsic returns.
static Value *pairOf(IRBuilder<> &B, Type *STy, Value *V, Value *Ov) {
  Value *R = B.CreateInsertValue(PoisonValue::get(STy), V, 0);
  return B.CreateInsertValue(R, Ov, 1);
}

/// Lowers multiplications that the backend would turn into __multi3:
///  - mul i65..i128: mul128 (widths below 128 are extended and truncated);
///  - llvm.umul.with.overflow.i64: the 64x64->128 limb product, overflow iff
///    its high half is non-zero;
///  - llvm.smul.with.overflow.i64: the signed high half is the unsigned one
///    minus (a<0 ? b : 0) minus (b<0 ? a : 0); overflow iff it differs from
///    the sign extension of the low half;
///  - llvm.umul.with.overflow.i128: umulo128;
///  - llvm.smul.with.overflow.i128: umulo128 on the absolute values (exact as
///    unsigned numbers), negated when the signs differ; it overflows when the
///    unsigned one did, or the magnitude exceeds 2^127 - 1 (positive result)
///    or 2^127 (negative result).
/// (i32 and narrower overflow multiplies are promoted to a native i64 mul.)
bool lowerMul(Module &M, Diags &D) {
  auto Work = collect(M, [](Instruction &I) {
    if (I.getOpcode() == Instruction::Mul)
      return isWideInt(I.getType());
    if (auto *II = dyn_cast<IntrinsicInst>(&I)) {
      Intrinsic::ID ID = II->getIntrinsicID();
      if (ID == Intrinsic::umul_with_overflow ||
          ID == Intrinsic::smul_with_overflow) {
        unsigned W = II->getArgOperand(0)->getType()->getScalarSizeInBits();
        return W > 32;
      }
    }
    return false;
  });
  LLVMContext &C = M.getContext();
  Type *I128 = Type::getIntNTy(C, 128);
  for (Instruction *I : Work) {
    IRBuilder<> B(I);
    Value *Res = nullptr;
    if (I->getOpcode() == Instruction::Mul) {
      Type *Ty = I->getType();
      if (Ty->getIntegerBitWidth() > 128) {
        D.error(I->getFunction(), "mul wider than 128 bits");
        continue;
      }
      Value *A = B.CreateZExt(I->getOperand(0), I128);
      Value *Bv = B.CreateZExt(I->getOperand(1), I128);
      Res = B.CreateTrunc(mul128(B, A, Bv), Ty);
    } else {
      auto *II = cast<IntrinsicInst>(I);
      bool Signed = II->getIntrinsicID() == Intrinsic::smul_with_overflow;
      Value *A = II->getArgOperand(0), *Bv = II->getArgOperand(1);
      unsigned W = A->getType()->getScalarSizeInBits();
      if (A->getType()->isVectorTy() || (W != 64 && W != 128)) {
        D.error(I->getFunction(), Twine("unsupported ") +
                                      (Signed ? "smul" : "umul") +
                                      ".with.overflow width");
        continue;
      }
      if (W == 64) {
        auto [Lo, Hi] = mul64x64(B, A, Bv);
        Value *Ov;
        if (!Signed) {
          Ov = B.CreateICmpNE(Hi, B.getInt64(0));
        } else {
          Value *Zero = B.getInt64(0);
          Value *SHi = B.CreateSub(
              B.CreateSub(Hi, B.CreateSelect(B.CreateICmpSLT(A, Zero), Bv, Zero)),
              B.CreateSelect(B.CreateICmpSLT(Bv, Zero), A, Zero));
          Ov = B.CreateICmpNE(SHi, B.CreateAShr(Lo, 63));
        }
        Res = pairOf(B, II->getType(), Lo, Ov);
      } else if (!Signed) {
        auto [V, Ov] = umulo128(B, A, Bv);
        Res = pairOf(B, II->getType(), V, Ov);
      } else {
        Value *SA = B.CreateAShr(A, 127), *SB = B.CreateAShr(Bv, 127);
        Value *UA = B.CreateSub(B.CreateXor(A, SA), SA);
        Value *UB = B.CreateSub(B.CreateXor(Bv, SB), SB);
        auto [U, UOv] = umulo128(B, UA, UB);
        Value *Neg = B.CreateICmpNE(SA, SB);
        Value *V = B.CreateSelect(Neg, B.CreateNeg(U), U);
        Value *Min = ConstantInt::get(I128, APInt::getSignedMinValue(128));
        // Magnitude limit: 2^127 when negative, 2^127 - 1 when positive.
        Value *TooBig = B.CreateSelect(Neg, B.CreateICmpUGT(U, Min),
                                       B.CreateICmpUGE(U, Min));
        Res = pairOf(B, II->getType(), V, B.CreateOr(UOv, TooBig));
      }
    }
    Res->takeName(I);
    I->replaceAllUsesWith(Res);
    I->eraseFromParent();
  }
  return !Work.empty();
}

//===----------------------------------------------------------------------===//
// Shifts
//===----------------------------------------------------------------------===//

/// Variable i128 shift from i64 halves. With t = s & 63 and big = s >= 64:
///   shl:  lo' = big ? 0 : lo << t
///         hi' = big ? lo << t : (hi << t) | ((lo >> 1) >> (63 - t))
///   lshr: lo' = big ? hi >> t : (lo >> t) | ((hi << 1) << (63 - t))
///         hi' = big ? 0 : hi >> t
///   ashr: as lshr, with arithmetic shifts of hi and hi' = hi >> 63 when big.
/// The bits crossing halves are moved in two steps (by 1, then by 63 - t) so
/// that no i64 shift amount reaches 64 when t = 0. Amounts >= 128 give poison
/// in IR; here the amount is taken modulo 128.
static Value *shift128(IRBuilder<> &B, Instruction::BinaryOps Op, Value *X,
                       Value *Amt) {
  auto [Lo, Hi] = split128(B, X);
  Value *S = B.CreateTrunc(Amt, B.getInt64Ty());
  Value *T = B.CreateAnd(S, 63);
  Value *Big = B.CreateICmpNE(B.CreateAnd(S, 64), B.getInt64(0));
  Value *Inv = B.CreateSub(B.getInt64(63), T);
  Value *Zero = B.getInt64(0);
  Value *NLo, *NHi;
  if (Op == Instruction::Shl) {
    Value *LoT = B.CreateShl(Lo, T);
    Value *HiSmall =
        B.CreateOr(B.CreateShl(Hi, T), B.CreateLShr(B.CreateLShr(Lo, 1), Inv));
    NLo = B.CreateSelect(Big, Zero, LoT);
    NHi = B.CreateSelect(Big, LoT, HiSmall);
  } else {
    bool Arith = Op == Instruction::AShr;
    Value *HiT = Arith ? B.CreateAShr(Hi, T) : B.CreateLShr(Hi, T);
    Value *LoSmall =
        B.CreateOr(B.CreateLShr(Lo, T), B.CreateShl(B.CreateShl(Hi, 1), Inv));
    NLo = B.CreateSelect(Big, HiT, LoSmall);
    NHi = B.CreateSelect(Big, Arith ? B.CreateAShr(Hi, 63) : Zero, HiT);
  }
  return join128(B, NLo, NHi);
}

/// Lowers shl/lshr/ashr on 65..128-bit integers by a non-constant amount,
/// which the backend would turn into __ashlti3/__lshrti3/__ashrti3 calls
/// (shift128; narrower widths are extended to i128 and truncated back).
/// Shifts by a constant are split into halves by the backend itself.
bool lowerShifts(Module &M, Diags &D) {
  auto Work = collect(M, [](Instruction &I) {
    return I.isShift() && isWideInt(I.getType()) &&
           !isa<Constant>(I.getOperand(1));
  });
  Type *I128 = Type::getIntNTy(M.getContext(), 128);
  for (Instruction *I : Work) {
    Type *Ty = I->getType();
    if (Ty->getIntegerBitWidth() > 128) {
      D.error(I->getFunction(), "variable shift wider than 128 bits");
      continue;
    }
    auto Op = static_cast<Instruction::BinaryOps>(I->getOpcode());
    IRBuilder<> B(I);
    Value *X = I->getOperand(0), *Amt = I->getOperand(1);
    if (Ty != I128) {
      X = Op == Instruction::AShr ? B.CreateSExt(X, I128)
                                  : B.CreateZExt(X, I128);
      Amt = B.CreateZExt(Amt, I128);
    }
    Value *Res = shift128(B, Op, X, Amt);
    if (Ty != I128)
      Res = B.CreateTrunc(Res, Ty);
    Res->takeName(I);
    I->replaceAllUsesWith(Res);
    I->eraseFromParent();
  }
  return !Work.empty();
}

} // namespace sbf
