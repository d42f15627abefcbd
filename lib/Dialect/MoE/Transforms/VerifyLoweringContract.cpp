//===- VerifyLoweringContract.cpp - Check what a stage promised to remove -===//
//
// The `moe-verify-lowering-contract` pass and the verifyLoweringContract API:
// the moe pipelines run it at the end of every stage, so that an op a stage
// should have removed (a moe op after the linalg lowering, a tensor after
// bufferization, an unrealized cast before translation) is reported where it
// is, by name, instead of failing later in a pass that never expected it.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEDialect.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEVERIFYLOWERINGCONTRACTPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

StringRef mlir::moe::stringifyLoweringStage(LoweringStage stage) {
  switch (stage) {
  case LoweringStage::Linalg:
    return "linalg";
  case LoweringStage::Bufferized:
    return "bufferized";
  case LoweringStage::Loops:
    return "loops";
  case LoweringStage::LLVM:
    return "llvm";
  }
  llvm_unreachable("unknown lowering stage");
}

/// What `stage` promises, for the error message.
static StringRef describePromise(LoweringStage stage) {
  switch (stage) {
  case LoweringStage::Linalg:
    return "no moe ops";
  case LoweringStage::Bufferized:
    return "no moe ops and no tensors";
  case LoweringStage::Loops:
    return "no moe ops, no tensors, no linalg ops and no scf.forall";
  case LoweringStage::LLVM:
    return "only llvm and omp ops (and gpu.binary kernels with their "
           "gpu.launch_func) in a builtin.module";
  }
  llvm_unreachable("unknown lowering stage");
}

static bool isTensor(Type type) { return isa<TensorType>(type); }

/// Why `op` breaks the promise of `stage`, or an empty string if it keeps it.
static std::string findViolation(Operation *op, LoweringStage stage) {
  Dialect *dialect = op->getDialect();
  StringRef dialectName =
      dialect ? dialect->getNamespace() : op->getName().getDialectNamespace();
  if (stage == LoweringStage::LLVM) {
    // gpu.binary holds the serialized kernels of moe-gpu-pipeline, and
    // gpu.launch_func (on llvm values) launches one: the translation to
    // LLVM IR embeds the binary and emits the mgpu* calls that load it and
    // launch its kernels.
    if (isa<ModuleOp, gpu::BinaryOp, gpu::LaunchFuncOp>(op) ||
        dialectName == LLVM::LLVMDialect::getDialectNamespace() ||
        dialectName == omp::OpenMPDialect::getDialectNamespace())
      return "";
    return "is not in the llvm or omp dialect";
  }
  if (dialectName == MoEDialect::getDialectNamespace())
    return "is a moe op";
  if (stage == LoweringStage::Linalg)
    return "";
  if (llvm::any_of(op->getOperandTypes(), isTensor))
    return "has a tensor operand";
  if (llvm::any_of(op->getResultTypes(), isTensor))
    return "has a tensor result";
  for (Region &region : op->getRegions())
    for (Block &block : region)
      if (llvm::any_of(block.getArgumentTypes(), isTensor))
        return "has a tensor block argument";
  if (stage == LoweringStage::Bufferized)
    return "";
  if (dialectName == linalg::LinalgDialect::getDialectNamespace())
    return "is a linalg op";
  if (isa<scf::ForallOp>(op))
    return "is an scf.forall";
  return "";
}

LogicalResult mlir::moe::verifyLoweringContract(Operation *root,
                                                LoweringStage stage) {
  LogicalResult result = success();
  root->walk<WalkOrder::PreOrder>([&](Operation *op) {
    std::string violation = findViolation(op, stage);
    if (violation.empty())
      return WalkResult::advance();
    op->emitError() << "'" << op->getName() << "' op " << violation
                    << ": it is left after the '"
                    << stringifyLoweringStage(stage)
                    << "' stage, which promises " << describePromise(stage);
    result = failure();
    return WalkResult::interrupt();
  });
  return result;
}

namespace {

struct MoEVerifyLoweringContractPass
    : public mlir::moe::impl::MoEVerifyLoweringContractPassBase<
          MoEVerifyLoweringContractPass> {
  using MoEVerifyLoweringContractPassBase::MoEVerifyLoweringContractPassBase;

  void runOnOperation() override {
    if (failed(verifyLoweringContract(getOperation(), stage)))
      signalPassFailure();
    // A check: nothing changed.
    markAllAnalysesPreserved();
  }
};

} // namespace
