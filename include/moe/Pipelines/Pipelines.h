//===- Pipelines.h - The moe compilation pipelines --------------*- C++ -*-===//
//
// Library code for the pass pipelines that take a moe-level module to the
// LLVM dialect, with option structs, registered as `moe-cpu-pipeline` for
// moe-opt and used directly by moe-run and moe-compile.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_PIPELINES_PIPELINES_H
#define MOE_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::moe {

/// Options of the CPU pipeline.
struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  PassOptions::Option<bool> enableOpenMP{
      *this, "openmp",
      llvm::cl::desc("run scf.forall/scf.parallel loops on OpenMP threads"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> emitCInterface{
      *this, "c-interface",
      llvm::cl::desc("give every public function an _mlir_ciface_ wrapper "
                     "that takes memref descriptors by pointer"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> reassociateFloatArith{
      *this, "reassociate-float-arith",
      llvm::cl::desc("let LLVM reassociate float sums and fuse multiply-adds "
                     "(reassoc, contract) so that reductions vectorize; "
                     "changes only the last bits of results"),
      llvm::cl::init(true)};
};

/// Appends the CPU pipeline to `pm` (a pass manager on builtin.module): moe
/// ops to linalg/scf on tensors, bufferization, loops, OpenMP, LLVM dialect.
void buildMoECPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options);

/// Registers `moe-cpu-pipeline` for moe-opt.
void registerMoEPipelines();

} // namespace mlir::moe

#endif // MOE_PIPELINES_PIPELINES_H
