//===- GPUPipeline.cpp - moe graphs to NVVM kernels and host code ---------===//
//
// `moe-gpu-pipeline`: takes a module of moe ops to host code in the llvm
// dialect that launches NVVM kernels through the mgpu* runtime functions
// (lib/Runtime/MoECudaRuntime.c), the kernels serialized into a gpu.binary
// (PTX by default). Stages, each closed by `moe-verify-lowering-contract`:
//
//   1. linalg:     as on CPUs, but moe.experts in the row-parallel form
//                  (no launch size depends on the routing);
//   2. bufferized: as on CPUs;
//   3. loops:      linalg -> loops, scf.forall -> scf.parallel, then every
//                  loop nest that touches memory -> a gpu.launch
//                  (moe-gpu-offload); buffers -> device buffers;
//   4. llvm:       kernels outlined into a gpu.module -> NVVM -> PTX/cubin;
//                  host code -> llvm with mgpu* calls.
//
// With `emulate-on-host`, stage 4 runs the launches as OpenMP loops on the
// CPU instead, which is how the kernels are tested on machines without a
// GPU.
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Pipelines.h"

#include "Stages.h"

#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/FileSystem.h"

using namespace mlir;
using namespace mlir::moe;

void mlir::moe::buildMoEGPUPipeline(OpPassManager &pm,
                                    const GPUPipelineOptions &options) {
  // Stage 1: moe -> linalg on tensors, the experts as independent
  // (row, unit) elements.
  pipelines::addLinalgStage(pm, TargetKind::CUDA);
  // Stage 2: tensors -> buffers.
  pipelines::addBufferizationStage(pm);

  //===--------------------------------------------------------------------===//
  // Stage 3: loops, and which of them run on the device.
  //===--------------------------------------------------------------------===//

  // linalg ops outside parallel loops get an scf.parallel over their
  // parallel dims (one thread per output element once launched); those
  // inside get sequential loops, run by the thread of the enclosing
  // iteration.
  pm.addNestedPass<func::FuncOp>(createMoELowerLinalgToLoopsPass());
  // The per-token loops of route, combine and peer: scf.forall ->
  // scf.parallel, the form moe-gpu-offload launches.
  pm.addNestedPass<func::FuncOp>(createForallToParallelLoopPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // Every loop nest that touches memory becomes a gpu.launch; the host
  // keeps only launch sizing, device allocation and copies.
  {
    MoEGPUOffloadPassOptions offload;
    offload.blockSize = options.blockSize;
    pm.addNestedPass<func::FuncOp>(createMoEGPUOffloadPass(offload));
  }
  pm.addPass(createCanonicalizerPass());
  pipelines::addContractCheck(pm, LoweringStage::Loops);

  //===--------------------------------------------------------------------===//
  // Stage 4 (emulated): the kernels as host loops.
  //===--------------------------------------------------------------------===//

  if (options.emulateOnHost) {
    pm.addNestedPass<func::FuncOp>(createMoEGPUEmulateOnHostPass());
    // The emulated grid runs on all cores, like the CPU pipeline's loops.
    pm.addPass(createConvertSCFToOpenMPPass());
    pm.addPass(createCanonicalizerPass());
    pipelines::HostLoweringOptions host;
    host.cInterface = options.emitCInterface;
    pipelines::addHostToLLVMStage(pm, host);
    pipelines::addContractCheck(pm, LoweringStage::LLVM);
    return;
  }

  //===--------------------------------------------------------------------===//
  // Stage 4: kernels -> NVVM -> PTX/cubin; host -> llvm + mgpu* calls.
  //===--------------------------------------------------------------------===//

  // Each gpu.launch body becomes a gpu.func in a gpu.module of its own;
  // the launch becomes a gpu.launch_func with the captured values as
  // kernel arguments.
  pm.addPass(createGpuKernelOutliningPass());
  // The launches, device allocations and copies get async tokens chained
  // in program order, with a gpu.wait wherever host code needs their
  // results: they run on one stream with no synchronization in between
  // (gpu-to-llvm lowers gpu.alloc/dealloc/memcpy only in this form).
  pm.addNestedPass<func::FuncOp>(createGpuAsyncRegionPass());
  // The gpu.modules get an #nvvm.target: the chip, PTX version and
  // optimization level gpu-module-to-binary compiles them with.
  {
    GpuNVVMAttachTargetOptions target;
    target.chip = options.chip;
    target.features = options.features;
    target.optLevel = options.optLevel;
    pm.addPass(createGpuNVVMAttachTarget(target));
  }
  // Views (subview, expand/collapse) -> reinterpret_cast with explicit
  // index arithmetic, on host and device alike.
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // f16/bf16 math ops compute in f32 (libdevice has f32/f64 versions).
  pm.addPass(math::createMathExtendToSupportedTypes());
  // The loops in kernels and in host code -> branches; nested scf.parallel
  // in a kernel runs sequentially in its thread.
  pm.addPass(createSCFToControlFlowPass());
  // Device code: gpu ids and sizes -> NVVM special registers, math ->
  // libdevice calls (__nv_expf, ...), memref/arith/cf/func -> llvm, with
  // kernel arguments as unpacked memref descriptors (what gpu-to-llvm
  // passes).
  pm.addNestedPass<gpu::GPUModuleOp>(createConvertGpuOpsToNVVMOps());
  pm.addNestedPass<gpu::GPUModuleOp>(createCanonicalizerPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCSEPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createReconcileUnrealizedCastsPass());
  // Host code, with gpu.launch_func and the gpu buffer ops as mgpu* calls.
  {
    pipelines::HostLoweringOptions host;
    host.openMP = false;
    host.cInterface = options.emitCInterface;
    host.gpuRuntimeCalls = true;
    pipelines::addHostToLLVMStage(pm, host);
  }
  // The gpu.modules -> gpu.binary: NVVM IR linked with libdevice, compiled
  // by LLVM's NVPTX backend to PTX (and by ptxas to cubin for bin/fatbin).
  {
    GpuModuleToBinaryPassOptions binary;
    binary.compilationTarget = options.format;
    binary.toolkitPath = options.toolkit;
    if (binary.toolkitPath.empty() && llvm::sys::fs::exists("/usr/local/cuda"))
      binary.toolkitPath = "/usr/local/cuda";
    pm.addPass(createGpuModuleToBinaryPass(binary));
  }
  pipelines::addContractCheck(pm, LoweringStage::LLVM);
}
