//===- Calls.cpp - calling-convention lowering -----------------------------===//
//
// Upstream LLVM's BPF backend passes arguments in r1-r5 only and returns in
// r0 only. It refuses:
//  - definitions and calls whose arguments need more than five registers
//    ("defined with too many args", "too many args to ...");
//  - functions with an sret parameter ("functions with VarArgs or StructRet
//    are not supported") and byval arguments ("pass by value not supported");
//  - return values needing more than r0: aggregates ("only integer returns
//    supported"), i128 (a crash, "unable to allocate function return", in a
//    definition; "only small returns supported" at a call);
//  - calling conventions other than C and fast ("Unsupported calling
//    convention").
// This file rewrites signatures into a convention of its own that keeps
// every call within those limits. Definitions are rewritten together with
// every call of their function type, direct or indirect, so function pointers
// (vtables, fn pointers) keep working; declarations (external symbols such as
// the sol_* syscalls) are never changed, and are reported if they would need
// to be.
//
//===----------------------------------------------------------------------===//
#include "SbfLower.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/IR/Intrinsics.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace sbf {

static constexpr unsigned MaxArgRegs = 5;

/// Number of 64-bit registers a value of type T occupies when passed to a
/// function: the backend splits integers wider than 64 bits into i64 parts
/// and first-class aggregates into their elements.
static unsigned regsFor(Type *T, const DataLayout &DL) {
  if (auto *ST = dyn_cast<StructType>(T)) {
    unsigned N = 0;
    for (Type *E : ST->elements())
      N += regsFor(E, DL);
    return N;
  }
  if (auto *AT = dyn_cast<ArrayType>(T))
    return AT->getNumElements() * regsFor(AT->getElementType(), DL);
  uint64_t Bits = DL.getTypeSizeInBits(T).getKnownMinValue();
  return Bits == 0 ? 0 : (Bits + 63) / 64;
}

/// A return value the backend cannot place in r0.
static bool needsOutReturn(Type *T, const DataLayout &DL) {
  if (T->isVoidTy())
    return false;
  return T->isAggregateType() || regsFor(T, DL) > 1;
}

/// How one function type is rewritten. The new convention:
///  - a return value that does not fit r0 is stored through a pointer the
///    caller passes as a new first parameter, and the function returns void;
///  - if the parameters (that pointer included) need more than five
///    registers, the leading parameters that fit in four registers are kept,
///    and the rest are stored by the caller in a struct (natural layout) in
///    its own frame, whose address is the last parameter.
struct SigPlan {
  FunctionType *Old = nullptr, *New = nullptr;
  bool OutReturn = false;
  unsigned Kept = 0;              // leading old parameters kept as they are
  StructType *Spill = nullptr;    // the rest, or null
};

static std::optional<SigPlan> planFor(FunctionType *FT, const DataLayout &DL) {
  SigPlan P;
  P.Old = FT;
  P.OutReturn = needsOutReturn(FT->getReturnType(), DL);
  unsigned Total = P.OutReturn ? 1 : 0;
  for (Type *T : FT->params())
    Total += regsFor(T, DL);
  if (!P.OutReturn && Total <= MaxArgRegs)
    return std::nullopt;
  LLVMContext &C = FT->getContext();
  PointerType *Ptr = PointerType::get(C, 0);
  SmallVector<Type *, 8> Params;
  if (P.OutReturn)
    Params.push_back(Ptr);
  P.Kept = FT->getNumParams();
  if (Total > MaxArgRegs) {
    unsigned Used = P.OutReturn ? 1 : 0, K = 0;
    while (K < FT->getNumParams() &&
           Used + regsFor(FT->getParamType(K), DL) <= MaxArgRegs - 1)
      Used += regsFor(FT->getParamType(K++), DL);
    P.Kept = K;
    SmallVector<Type *, 8> Rest(FT->param_begin() + K, FT->param_end());
    P.Spill = StructType::get(C, Rest);
  }
  for (unsigned I = 0; I < P.Kept; ++I)
    Params.push_back(FT->getParamType(I));
  if (P.Spill)
    Params.push_back(Ptr);
  P.New = FunctionType::get(P.OutReturn ? Type::getVoidTy(C)
                                        : FT->getReturnType(),
                            Params, false);
  return P;
}

/// Attributes of the rewritten function or call: function attributes are
/// kept, except that the body now also touches argument memory (the out
/// pointer and the spill struct), and allocsize, whose parameter indices no
/// longer hold; return attributes are dropped with the return value; kept
/// parameters keep theirs, moved by one slot when an out pointer comes first.
static AttributeList mapAttrs(LLVMContext &C, AttributeList AL,
                              const SigPlan &P) {
  AttributeSet FnAS = AL.getFnAttrs();
  AttrBuilder FnB(C, FnAS);
  FnB.removeAttribute(Attribute::AllocSize);
  FnB.removeAttribute(Attribute::Speculatable);
  if (FnAS.hasAttribute(Attribute::Memory))
    FnB.addMemoryAttr(FnAS.getMemoryEffects() | MemoryEffects::argMemOnly());
  SmallVector<AttributeSet, 8> Params;
  if (P.OutReturn)
    Params.push_back(AttributeSet());
  for (unsigned I = 0; I < P.Kept; ++I) {
    AttrBuilder PB(C, AL.getParamAttrs(I));
    PB.removeAttribute(Attribute::Returned);
    Params.push_back(AttributeSet::get(C, PB));
  }
  if (P.Spill)
    Params.push_back(AttributeSet());
  return AttributeList::get(
      C, AttributeSet::get(C, FnB),
      P.OutReturn ? AttributeSet() : AL.getRetAttrs(), Params);
}

/// Rewrites one call site to the plan's convention. The out slot and the
/// spill struct are allocas in the caller's entry block, bracketed by
/// lifetime markers around the call so the backend can share their frame
/// space between calls.
static void rewriteCall(CallBase *CB, const SigPlan &P) {
  Function &Caller = *CB->getFunction();
  const DataLayout &DL = Caller.getParent()->getDataLayout();
  LLVMContext &C = Caller.getContext();
  IRBuilder<> B(CB);
  SmallVector<Value *, 8> Args;
  AllocaInst *OutSlot = nullptr, *SpillSlot = nullptr;
  Type *RetTy = P.Old->getReturnType();
  if (P.OutReturn) {
    OutSlot = entryAlloca(Caller, RetTy, "ret.slot");
    B.CreateLifetimeStart(OutSlot);
    Args.push_back(OutSlot);
  }
  for (unsigned I = 0; I < P.Kept; ++I)
    Args.push_back(CB->getArgOperand(I));
  if (P.Spill) {
    SpillSlot = entryAlloca(Caller, P.Spill, "args.slot");
    B.CreateLifetimeStart(SpillSlot);
    const StructLayout *SL = DL.getStructLayout(P.Spill);
    for (unsigned I = P.Kept, E = P.Old->getNumParams(); I < E; ++I) {
      unsigned Field = I - P.Kept;
      Value *Addr = B.CreateStructGEP(P.Spill, SpillSlot, Field);
      Align A = commonAlignment(SpillSlot->getAlign(),
                                SL->getElementOffset(Field));
      B.CreateAlignedStore(CB->getArgOperand(I), Addr, A);
    }
    Args.push_back(SpillSlot);
  }
  SmallVector<OperandBundleDef, 2> Bundles;
  CB->getOperandBundlesAsDefs(Bundles);
  CallBase *NewCB;
  BasicBlock *After; // where the result is read back
  BasicBlock::iterator AfterIt;
  if (auto *II = dyn_cast<InvokeInst>(CB)) {
    // The result becomes available on the normal edge: read it back in a new
    // block on that edge.
    BasicBlock *Normal = II->getNormalDest();
    BasicBlock *Cont =
        BasicBlock::Create(C, "invoke.cont.sbf", &Caller, Normal);
    BranchInst::Create(Normal, Cont);
    Normal->replacePhiUsesWith(II->getParent(), Cont);
    NewCB = B.CreateInvoke(P.New, II->getCalledOperand(), Cont,
                           II->getUnwindDest(), Args, Bundles);
    After = Cont;
    AfterIt = Cont->getFirstInsertionPt();
  } else if (isa<CallInst>(CB)) {
    NewCB = B.CreateCall(P.New, CB->getCalledOperand(), Args, Bundles);
    // Passing pointers to the caller's frame rules out `tail`/`musttail`.
    cast<CallInst>(NewCB)->setTailCallKind(CallInst::TCK_None);
    After = CB->getParent();
    AfterIt = std::next(CB->getIterator());
  } else {
    report_fatal_error("sbf-lower: callbr with a lowered signature", false);
  }
  NewCB->setCallingConv(CB->getCallingConv());
  NewCB->setAttributes(mapAttrs(C, CB->getAttributes(), P));
  NewCB->setDebugLoc(CB->getDebugLoc());
  NewCB->copyMetadata(*CB, {LLVMContext::MD_prof, LLVMContext::MD_callees});
  B.SetInsertPoint(After, AfterIt);
  if (P.OutReturn) {
    Value *V = B.CreateAlignedLoad(RetTy, OutSlot, OutSlot->getAlign());
    B.CreateLifetimeEnd(OutSlot);
    V->takeName(CB);
    CB->replaceAllUsesWith(V);
  } else if (!CB->getType()->isVoidTy()) {
    NewCB->takeName(CB);
    CB->replaceAllUsesWith(NewCB);
  }
  if (SpillSlot)
    B.CreateLifetimeEnd(SpillSlot);
  CB->eraseFromParent();
}

/// Rewrites a definition: a new function of the plan's type takes over F's
/// name, attributes, metadata and body; spilled parameters are loaded from
/// the struct at the top of the entry block; `ret v` becomes a store of v
/// through the out pointer and `ret void`. All uses of F (calls already
/// rewritten, vtables, other address-taken uses) then point at it.
static void rewriteDefinition(Function *F, const SigPlan &P) {
  Module &M = *F->getParent();
  const DataLayout &DL = M.getDataLayout();
  LLVMContext &C = M.getContext();
  Function *NF =
      Function::Create(P.New, F->getLinkage(), F->getAddressSpace(), "");
  M.getFunctionList().insert(F->getIterator(), NF);
  NF->copyAttributesFrom(F);
  NF->setAttributes(mapAttrs(C, F->getAttributes(), P));
  NF->copyMetadata(F, 0);
  NF->takeName(F);
  NF->splice(NF->begin(), F);

  unsigned NI = 0;
  Argument *Out = nullptr;
  if (P.OutReturn) {
    Out = NF->getArg(NI++);
    Out->setName("ret.out");
  }
  for (unsigned I = 0; I < P.Kept; ++I) {
    Argument *NA = NF->getArg(NI++);
    NA->takeName(F->getArg(I));
    F->getArg(I)->replaceAllUsesWith(NA);
  }
  if (P.Spill) {
    Argument *SP = NF->getArg(NI++);
    SP->setName("args.in");
    BasicBlock &Entry = NF->getEntryBlock();
    IRBuilder<> B(&Entry, Entry.getFirstInsertionPt());
    const StructLayout *SL = DL.getStructLayout(P.Spill);
    Align Base = DL.getPrefTypeAlign(P.Spill);
    for (unsigned I = P.Kept, E = P.Old->getNumParams(); I < E; ++I) {
      unsigned Field = I - P.Kept;
      Argument *OA = F->getArg(I);
      Value *Addr = B.CreateStructGEP(P.Spill, SP, Field);
      Value *V = B.CreateAlignedLoad(
          OA->getType(), Addr,
          commonAlignment(Base, SL->getElementOffset(Field)));
      V->takeName(OA);
      OA->replaceAllUsesWith(V);
    }
  }
  if (P.OutReturn) {
    Align A = DL.getPrefTypeAlign(P.Old->getReturnType());
    SmallVector<ReturnInst *, 4> Rets;
    for (BasicBlock &BB : *NF)
      if (auto *R = dyn_cast<ReturnInst>(BB.getTerminator()))
        Rets.push_back(R);
    for (ReturnInst *R : Rets) {
      IRBuilder<> B(R);
      B.CreateAlignedStore(R->getReturnValue(), Out, A);
      B.CreateRetVoid();
      R->eraseFromParent();
    }
  }
  F->replaceAllUsesWith(NF);
  F->eraseFromParent();
}

static bool isLoweredAway(const Function *F) {
  return F->isIntrinsic();
}

/// sret, byval, varargs and calling conventions. Runs first.
///  - sret is only an ABI marker (which register returns the pointer on
///    other targets); the pointer stays an ordinary first parameter of a
///    function returning void, so the attribute is dropped everywhere.
///  - byval(T) means "the callee gets its own copy of the pointee": the
///    attribute is dropped from definitions, and every call site makes the
///    copy itself (an alloca of T filled by memcpy) and passes its address.
///  - coldcc, preserve_most and the like are replaced by the C convention on
///    functions and calls alike (BPF accepts only C and fast).
///  - variadic definitions and calls with variadic arguments are reported.
bool lowerAttrsAndConventions(Module &M, Diags &D) {
  bool Changed = false;
  const DataLayout &DL = M.getDataLayout();
  auto FixCC = [&](auto *X) {
    CallingConv::ID CC = X->getCallingConv();
    if (CC != CallingConv::C && CC != CallingConv::Fast) {
      X->setCallingConv(CallingConv::C);
      Changed = true;
    }
  };
  for (Function &F : M) {
    if (isLoweredAway(&F))
      continue;
    if (F.isVarArg() && !F.isDeclaration())
      D.error(&F, "variadic function definition");
    FixCC(&F);
    for (unsigned I = 0; I < F.arg_size(); ++I) {
      if (F.hasParamAttribute(I, Attribute::StructRet)) {
        F.removeParamAttr(I, Attribute::StructRet);
        Changed = true;
      }
      if (F.hasParamAttribute(I, Attribute::ByVal)) {
        F.removeParamAttr(I, Attribute::ByVal);
        Changed = true;
      }
      if (F.hasParamAttribute(I, Attribute::InAlloca) ||
          F.hasParamAttribute(I, Attribute::Preallocated))
        D.error(&F, "inalloca/preallocated parameter");
    }
  }
  for (Function &F : M) {
    for (Instruction &I : make_early_inc_range(instructions(F))) {
      auto *CB = dyn_cast<CallBase>(&I);
      if (!CB || CB->isInlineAsm())
        continue;
      if (Function *Callee = CB->getCalledFunction())
        if (isLoweredAway(Callee))
          continue;
      if (CB->getFunctionType()->isVarArg())
        D.error(&F, "call with variadic arguments");
      FixCC(CB);
      for (unsigned A = 0; A < CB->arg_size(); ++A) {
        if (CB->paramHasAttr(A, Attribute::StructRet)) {
          CB->removeParamAttr(A, Attribute::StructRet);
          Changed = true;
        }
        if (Type *T = CB->getParamByValType(A)) {
          IRBuilder<> B(CB);
          AllocaInst *Copy = entryAlloca(F, T, "byval.copy");
          Align SrcA = CB->getParamAlign(A).value_or(Align(1));
          B.CreateMemCpy(Copy, Copy->getAlign(), CB->getArgOperand(A), SrcA,
                         DL.getTypeAllocSize(T));
          CB->setArgOperand(A, Copy);
          CB->removeParamAttr(A, Attribute::ByVal);
          if (auto *CI = dyn_cast<CallInst>(CB))
            CI->setTailCallKind(CallInst::TCK_None);
          Changed = true;
        }
      }
    }
  }
  return Changed;
}

/// Return values that do not fit r0, and arguments that need more than five
/// registers (see SigPlan). Runs last, after the arithmetic lowerings, whose
/// helpers already fit.
bool lowerSignatures(Module &M, Diags &D) {
  const DataLayout &DL = M.getDataLayout();
  DenseMap<FunctionType *, std::optional<SigPlan>> Plans;
  auto Plan = [&](FunctionType *FT) -> const std::optional<SigPlan> & {
    auto It = Plans.find(FT);
    if (It == Plans.end())
      It = Plans.try_emplace(FT, planFor(FT, DL)).first;
    return It->second;
  };

  // Declarations are external code with a fixed ABI: report those that would
  // need the rewrite and are used.
  for (Function &F : M)
    if (F.isDeclaration() && !isLoweredAway(&F) && !F.use_empty() &&
        Plan(F.getFunctionType()))
      D.error(&F, "external function needs more than 5 argument registers or "
                  "returns a value wider than 64 bits; it cannot be called "
                  "on BPF");

  // Calls, direct and indirect, by the function type they call with.
  SmallVector<CallBase *, 64> Calls;
  for (Function &F : M)
    for (Instruction &I : instructions(F))
      if (auto *CB = dyn_cast<CallBase>(&I)) {
        if (CB->isInlineAsm())
          continue;
        Function *Callee = CB->getCalledFunction();
        if (Callee && (isLoweredAway(Callee) || Callee->isDeclaration()))
          continue; // intrinsics; declarations reported above
        if (Plan(CB->getFunctionType()))
          Calls.push_back(CB);
      }
  for (CallBase *CB : Calls) {
    SigPlan P = *Plan(CB->getFunctionType()); // a copy: Plans may grow
    rewriteCall(CB, P);
  }

  SmallVector<Function *, 32> Defs;
  for (Function &F : M)
    if (!F.isDeclaration() && Plan(F.getFunctionType()))
      Defs.push_back(&F);
  for (Function *F : Defs) {
    SigPlan P = *Plan(F->getFunctionType());
    rewriteDefinition(F, P);
  }
  return !Calls.empty() || !Defs.empty();
}

} // namespace sbf
