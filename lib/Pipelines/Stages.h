//===- Stages.h - The stages the moe pipelines share ------------*- C++ -*-===//
//
// The CPU and GPU pipelines lower a moe graph through the same first two
// stages (moe -> linalg on tensors, then buffers) and end with the same
// host lowering to the llvm dialect; what differs is how the loops run
// (OpenMP threads or GPU kernels). Private to lib/Pipelines.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_PIPELINES_STAGES_H
#define MOE_LIB_PIPELINES_STAGES_H

#include "moe/Dialect/MoE/IR/MoEDialect.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"

namespace mlir::moe::pipelines {

/// Closes a stage: fails the pipeline, naming the op, if the stage left an
/// op it promised to remove.
void addContractCheck(OpPassManager &pm, LoweringStage stage);

/// Stage 1: moe ops (and elementwise ops on tensors) -> linalg, tensor, scf,
/// arith and math on tensors, with the experts in the form for `codeFor`.
void addLinalgStage(OpPassManager &pm, TargetKind codeFor);

/// Stage 2: one-shot bufferization of the whole module and ownership-based
/// deallocation.
void addBufferizationStage(OpPassManager &pm);

struct HostLoweringOptions {
  bool openMP = true;
  bool cInterface = true;
  /// Lower gpu.launch_func and the gpu buffer ops to mgpu* calls.
  bool gpuRuntimeCalls = false;
};

/// The last stage of host code: memref, scf, cf, math, arith, func (and omp
/// or gpu host ops) -> llvm. No contract check: the caller adds it.
void addHostToLLVMStage(OpPassManager &pm, const HostLoweringOptions &options);

} // namespace mlir::moe::pipelines

#endif // MOE_LIB_PIPELINES_STAGES_H
