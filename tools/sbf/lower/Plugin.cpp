//===- Plugin.cpp - the sbf-lower pass plugin ------------------------------===//
//
// Registers the module pass `sbf-lower` (and one pass per lowering, for
// tests and debugging) with the new pass manager:
//
//   opt -load-pass-plugin=libsbf-lower.so
//       -passes='function(lower-atomic),sbf-lower' in.bc -o out.bc
//
// `sbf-lower` runs every lowering in the order below; the output is accepted
// by upstream LLVM's BPF backend (llc -march=bpfel -mcpu=v1).
//
// Loaded into llc instead (llc -load-pass-plugin=libsbf-lower.so ...), the
// plugin runs lower-atomic and sbf-lower on a BPF module just before code
// generation, so the lowering cannot be undone by optimizations in between.
//
//===----------------------------------------------------------------------===//
#include "SbfLower.h"

#include "llvm/IR/PassManager.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Plugins/PassPlugin.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Transforms/Scalar/LowerAtomicPass.h"

using namespace llvm;

namespace sbf {

void Diags::error(const Twine &Msg) {
  ++Errors;
  errs() << "sbf-lower: error: " << Msg << "\n";
}

void Diags::error(const Function *F, const Twine &Msg) {
  error(Twine("in ") + F->getName() + ": " + Msg);
}

using Lowering = bool (*)(Module &, Diags &);

/// The full lowering, in order. The division helper contains a 128-bit
/// multiply and variable shifts, lowered by the steps after it; signatures
/// come last so that every call the earlier steps create is rewritten too.
static const Lowering AllSteps[] = {
    lowerAttrsAndConventions, lowerDivRem,   lowerMul,        lowerShifts,
    lowerMemIntrinsics,       lowerFloatOps, lowerSignatures,
};

/// Runs Steps on M, then aborts (exit status 1) if any construct could not be
/// lowered or the result does not verify. Returns whether M changed.
static bool runSteps(Module &M, ArrayRef<Lowering> Steps) {
  Diags D;
  bool Changed = false;
  for (Lowering L : Steps)
    Changed |= L(M, D);
  if (D.Errors)
    report_fatal_error(Twine("sbf-lower: ") + Twine(D.Errors) +
                           " construct(s) cannot be lowered for BPF",
                       /*gen_crash_diag=*/false);
  if (verifyModule(M, &errs()))
    report_fatal_error("sbf-lower: produced invalid IR (a bug in the pass)",
                       false);
  return Changed;
}

namespace {
/// A module pass running a fixed list of lowerings.
struct LowerPass : PassInfoMixin<LowerPass> {
  SmallVector<Lowering, 8> Steps;
  explicit LowerPass(ArrayRef<Lowering> S) : Steps(S.begin(), S.end()) {}

  PreservedAnalyses run(Module &M, ModuleAnalysisManager &) {
    return runSteps(M, Steps) ? PreservedAnalyses::none()
                              : PreservedAnalyses::all();
  }
  static bool isRequired() { return true; }
};
} // namespace

/// llc's hook before code generation: lower-atomic and the full lowering on
/// BPF modules; returns false so that llc then generates code as usual.
static bool preCodeGen(Module &M, TargetMachine &TM, CodeGenFileType,
                       raw_pwrite_stream &) {
  if (!TM.getTargetTriple().isBPF())
    return false;
  FunctionAnalysisManager FAM;
  FAM.registerPass([] { return PassInstrumentationAnalysis(); });
  for (Function &F : M)
    if (!F.isDeclaration())
      LowerAtomicPass().run(F, FAM);
  runSteps(M, AllSteps);
  return false;
}

static bool addPass(StringRef Name, ModulePassManager &MPM) {
  if (Name == "sbf-lower") {
    MPM.addPass(LowerPass(AllSteps));
    return true;
  }
  static const std::pair<const char *, Lowering> Single[] = {
      {"sbf-lower-conv", lowerAttrsAndConventions},
      {"sbf-lower-divrem", lowerDivRem},
      {"sbf-lower-mul", lowerMul},
      {"sbf-lower-shifts", lowerShifts},
      {"sbf-lower-mem", lowerMemIntrinsics},
      {"sbf-lower-float", lowerFloatOps},
      {"sbf-lower-sigs", lowerSignatures},
  };
  for (auto &[N, L] : Single)
    if (Name == N) {
      MPM.addPass(LowerPass(ArrayRef<Lowering>(L)));
      return true;
    }
  return false;
}

} // namespace sbf

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo llvmGetPassPluginInfo() {
  PassPluginLibraryInfo Info{
      LLVM_PLUGIN_API_VERSION, "sbf-lower", "1", [](PassBuilder &PB) {
        PB.registerPipelineParsingCallback(
            [](StringRef Name, ModulePassManager &MPM,
               ArrayRef<PassBuilder::PipelineElement>) {
              return sbf::addPass(Name, MPM);
            });
      }};
  Info.PreCodeGenCallback = sbf::preCodeGen;
  return Info;
}
