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

/// Options of the GPU pipeline.
struct GPUPipelineOptions : public PassPipelineOptions<GPUPipelineOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip",
      llvm::cl::desc("the NVIDIA architecture the kernels are compiled for"),
      llvm::cl::init("sm_90")};
  PassOptions::Option<std::string> features{
      *this, "features",
      llvm::cl::desc("NVPTX features: the PTX ISA version (sm_90 needs "
                     "+ptx78 or later)"),
      llvm::cl::init("+ptx80")};
  PassOptions::Option<std::string> format{
      *this, "format",
      llvm::cl::desc("what the gpu.binary holds: `isa` (PTX, compiled by "
                     "the driver when loaded; needs no CUDA toolkit), `bin` "
                     "(cubin) or `fatbin` (both need ptxas)"),
      llvm::cl::init("isa")};
  PassOptions::Option<std::string> toolkit{
      *this, "toolkit",
      llvm::cl::desc("the CUDA toolkit for ptxas and libdevice (empty: "
                     "/usr/local/cuda when it exists)"),
      llvm::cl::init("")};
  PassOptions::Option<int> optLevel{
      *this, "opt-level",
      llvm::cl::desc("LLVM optimization level of the kernels (0-3)"),
      llvm::cl::init(3)};
  PassOptions::Option<int64_t> blockSize{
      *this, "block-size",
      llvm::cl::desc("threads per block of the kernels of parallel loops"),
      llvm::cl::init(256)};
  PassOptions::Option<bool> emulateOnHost{
      *this, "emulate-on-host",
      llvm::cl::desc("run the kernels as OpenMP loops on the host instead "
                     "of compiling them for the GPU (testing without a "
                     "GPU: the same kernels, index arithmetic and buffer "
                     "placement)"),
      llvm::cl::init(false)};
  PassOptions::Option<bool> emitCInterface{
      *this, "c-interface",
      llvm::cl::desc("give every public function an _mlir_ciface_ wrapper "
                     "that takes memref descriptors by pointer"),
      llvm::cl::init(true)};
};

/// Appends the GPU pipeline to `pm` (a pass manager on builtin.module): moe
/// ops to linalg on tensors (experts in the row-parallel form),
/// bufferization, one kernel launch per loop nest (moe-gpu-offload), NVVM,
/// and host code that calls the mgpu* runtime. Entry points take and return
/// device buffers.
void buildMoEGPUPipeline(OpPassManager &pm, const GPUPipelineOptions &options);

/// Appends the CPU pipeline to `pm` (a pass manager on builtin.module): moe
/// ops to linalg/scf on tensors, bufferization, loops, OpenMP, LLVM dialect.
void buildMoECPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options);

/// Registers `moe-cpu-pipeline` and `moe-gpu-pipeline` for moe-opt.
void registerMoEPipelines();

} // namespace mlir::moe

#endif // MOE_PIPELINES_PIPELINES_H
