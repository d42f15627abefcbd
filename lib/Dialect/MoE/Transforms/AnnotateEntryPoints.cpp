//===- AnnotateEntryPoints.cpp - Mark functions that runners call ---------===//
//
// The `moe-annotate-entry-points` pass: before convert-func-to-llvm, gives
// every public function the `moe.signature` attribute (its buffer-level
// function type, which survives the conversion to llvm.func so that moe-run
// and moe-compile can call and declare functions of modules that are already
// in the LLVM dialect) and, optionally, `llvm.emit_c_interface` (so that the
// conversion adds the `_mlir_ciface_` wrapper that C code and the runners
// call with memref descriptors). Private functions get internal linkage.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEANNOTATEENTRYPOINTSPASS
#define GEN_PASS_DEF_MOEPROTECTENTRYARGUMENTSPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

void mlir::moe::annotateEntryPoints(Operation *module, bool cInterface) {
  MLIRContext *context = module->getContext();
  module->walk([&](func::FuncOp func) {
    // Declarations (libm, runtime functions) are resolved at link time.
    if (func.isExternal())
      return;
    // Private helpers (the deallocation pipeline's dealloc_helper) are
    // nobody's entry point; func-to-llvm would give them external linkage,
    // and two compiled modules linked together would then clash.
    if (!func.isPublic()) {
      func->setAttr("llvm.linkage",
                    LLVM::LinkageAttr::get(context, LLVM::Linkage::Internal));
      return;
    }
    func->setAttr(getEntrySignatureAttrName(),
                  TypeAttr::get(func.getFunctionType()));
    if (cInterface)
      func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                    UnitAttr::get(context));
  });
}

void mlir::moe::protectEntryArguments(Operation *module) {
  module->walk([&](func::FuncOp func) {
    if (func.isExternal() || !func.isPublic())
      return;
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
      if (isa<TensorType>(func.getArgument(i).getType()))
        func.setArgAttr(i,
                        bufferization::BufferizationDialect::kWritableAttrName,
                        BoolAttr::get(func.getContext(), false));
  });
}

namespace {

struct MoEProtectEntryArgumentsPass
    : public mlir::moe::impl::MoEProtectEntryArgumentsPassBase<
          MoEProtectEntryArgumentsPass> {
  void runOnOperation() override { protectEntryArguments(getOperation()); }
};

struct MoEAnnotateEntryPointsPass
    : public mlir::moe::impl::MoEAnnotateEntryPointsPassBase<
          MoEAnnotateEntryPointsPass> {
  using MoEAnnotateEntryPointsPassBase::MoEAnnotateEntryPointsPassBase;

  void runOnOperation() override {
    annotateEntryPoints(getOperation(), cInterface);
  }
};

} // namespace
