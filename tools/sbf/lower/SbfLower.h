//===- SbfLower.h - IR lowering for upstream LLVM's BPF backend -----------===//
//
// Shared declarations of the sbf-lower pass plugin. Each lowering is a
// module-level function returning true when it changed the module; the
// driver (Plugin.cpp) runs them in a fixed order. See README.md.
//
//===----------------------------------------------------------------------===//
#ifndef SBF_LOWER_H
#define SBF_LOWER_H

#include "llvm/ADT/Twine.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Module.h"

namespace sbf {

/// Collects errors: constructs the pass cannot lower. They are printed as
/// they are found; the driver aborts with a non-zero exit once the module has
/// been walked, so that one run lists all of them.
struct Diags {
  unsigned Errors = 0;
  void error(const llvm::Twine &Msg);
  void error(const llvm::Function *F, const llvm::Twine &Msg);
};

// Lowerings, in the order the full "sbf-lower" pass runs them.
bool lowerAttrsAndConventions(llvm::Module &M, Diags &D); // Calls.cpp
bool lowerDivRem(llvm::Module &M, Diags &D);              // Arith.cpp
bool lowerMul(llvm::Module &M, Diags &D);                 // Arith.cpp
bool lowerShifts(llvm::Module &M, Diags &D);              // Arith.cpp
bool lowerMemIntrinsics(llvm::Module &M, Diags &D);       // Libcalls.cpp
bool lowerFloatOps(llvm::Module &M, Diags &D);            // Libcalls.cpp
bool lowerSignatures(llvm::Module &M, Diags &D);          // Calls.cpp

// Small IR helpers shared by the lowerings (Arith.cpp).

/// Splits an i128 value into its low and high i64 halves.
std::pair<llvm::Value *, llvm::Value *> split128(llvm::IRBuilder<> &B,
                                                 llvm::Value *V);
/// Joins two i64 halves into an i128.
llvm::Value *join128(llvm::IRBuilder<> &B, llvm::Value *Lo, llvm::Value *Hi);
/// Full 64x64->128 unsigned product from 32-bit limbs, as {lo, hi} i64s.
std::pair<llvm::Value *, llvm::Value *> mul64x64(llvm::IRBuilder<> &B,
                                                 llvm::Value *A, llvm::Value *C);

/// An alloca in the entry block of F (where static allocas belong).
llvm::AllocaInst *entryAlloca(llvm::Function &F, llvm::Type *Ty,
                              const llvm::Twine &Name);

} // namespace sbf

#endif
