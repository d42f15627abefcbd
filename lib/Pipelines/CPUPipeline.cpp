//===- CPUPipeline.cpp - moe graphs to the LLVM dialect for x86 CPUs ------===//
//
// `moe-cpu-pipeline`: the pass pipeline that takes a module of moe (and
// upstream tensor-level) ops to the llvm and omp dialects, ready for
// translation to LLVM IR and for mlir::ExecutionEngine. Four stages, each
// closed by `moe-verify-lowering-contract`:
//
//   1. linalg:     moe ops (and elementwise ops on tensors) -> linalg/tensor/
//                  scf/arith/math on tensors;
//   2. bufferized: read-only entry arguments, one-shot bufferization,
//                  ownership-based deallocation;
//   3. loops:      linalg -> scf.for, scf.forall -> scf.parallel -> OpenMP;
//   4. llvm:       memref, scf, cf, math, arith, func, omp -> llvm.
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Pipelines.h"

#include "Stages.h"

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::moe;

void mlir::moe::pipelines::addContractCheck(OpPassManager &pm,
                                            LoweringStage stage) {
  MoEVerifyLoweringContractPassOptions options;
  options.stage = stage;
  pm.addPass(createMoEVerifyLoweringContractPass(options));
}

void mlir::moe::pipelines::addLinalgStage(OpPassManager &pm,
                                          TargetKind codeFor) {

  // Every moe op (moe.layer is decomposed first) becomes linalg, tensor,
  // scf, arith and math on tensors; the parallel per-token and per-expert
  // work is scf.forall, which stage 3 maps to OpenMP.
  // Unfused router chains (matmul, softmax or sigmoid, bias, moe.topk,
  // renormalization, scale) that importers emit become one moe.route, whose
  // lowering keeps each token's logits local.
  pm.addPass(createMoEFuseGatingPass());
  // Dense SwiGLU FFNs (three matmuls and the activation) become moe.experts
  // with one expert, so that the expert kernels run them (a repeated
  // block's, too).
  pm.addPass(createMoERaiseDenseFFNPass());
  // Each moe.repeat is unrolled (small bodies, low counts), or kept as a
  // loop, marked resident with its weight-only code hoisted when its weights
  // fit the target's L3: decided while the repeats are still moe ops, before
  // the lowering turns them into plain scf.for loops.
  pm.addPass(createMoEScheduleRepeatsPass());
  // moe.layer -> route, dispatch, experts, combine, so that the passes below
  // see each moe.experts.
  pm.addPass(createMoEDecomposePass());
  if (codeFor == TargetKind::CPU) {
    // Each moe.experts gets its F-tile, token tile and kernel from the cost
    // model and the target's fast-memory budget (#moe.expert_tiling).
    pm.addPass(createMoETileExpertsPass());
    // Functions on a dynamic token count get a decode (gemv) and a prefill
    // (gemm) variant, selected at run time by T.
    pm.addNestedPass<func::FuncOp>(createMoESpecializeTokensPass());
  }
  {
    // The experts become vectorized per-expert kernels for CPUs, and the
    // row-parallel form whose launches do not depend on the routing for
    // GPUs.
    ConvertMoEToLinalgPassOptions lowering;
    lowering.target = stringifyTargetKind(codeFor).str();
    pm.addPass(createConvertMoEToLinalgPass(lowering));
  }
  // linalg.softmax (in a chain that was not fused) and other aggregate ops
  // have no bufferization of their own: expand them into generics.
  pm.addPass(createMoEDecomposeAggregateOpsPass());
  // Elementwise arith/math ops on whole tensors (a residual `arith.addf` in
  // a moe.repeat body, an activation written as `math.exp` on a tensor)
  // have no bufferization; they become linalg.generic like the rest.
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  // The lowering builds generic code (constants per pattern, unused scores
  // outputs, shape computations); fold it before bufferization sees it.
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  addContractCheck(pm, LoweringStage::Linalg);
}

void mlir::moe::pipelines::addBufferizationStage(OpPassManager &pm) {

  // Tensors have value semantics: bufferization must not write into the
  // caller's input buffers (it copies first where an op would).
  pm.addPass(createMoEProtectEntryArgumentsPass());
  // A tensor.empty that only seeds an insert_slice into a bigger tensor
  // becomes a slice of that tensor, so bufferization allocates it once.
  pm.addPass(bufferization::createEmptyTensorEliminationPass());
  {
    bufferization::OneShotBufferizePassOptions bufferize;
    // Whole-module bufferization: function arguments and results become
    // memrefs, so that callers (moe-run, C code) pass plain buffers.
    bufferize.bufferizeFunctionBoundaries = true;
    // Identity-layout memrefs at function boundaries: the C ABI of an entry
    // point is a contiguous row-major buffer, never a strided view.
    bufferize.functionBoundaryTypeConversion =
        bufferization::LayoutMapOption::IdentityLayoutMap;
    // moe.repeat lowers to an scf.for whose body yields a freshly computed
    // tensor; without this, bufferization rejects the loop ("Yield operand
    // #0 is not equivalent to the corresponding iter bbArg").
    bufferize.allowReturnAllocsFromLoops = true;
    pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  }
  // Fold the casts and copies that bufferization leaves at region
  // boundaries before deallocation reasons about ownership.
  pm.addPass(createCanonicalizerPass());
  // Ownership-based deallocation (the pipeline that one-shot bufferization
  // is meant to be followed by): frees every buffer that is not returned,
  // and hands returned buffers to the caller, cloning those that alias an
  // argument, so a caller can always free what it gets back.
  bufferization::buildBufferDeallocationPipeline(pm);
  // The clones the deallocation inserted become memref.alloc + memref.copy.
  pm.addPass(createConvertBufferizationToMemRefPass());
  addContractCheck(pm, LoweringStage::Bufferized);
}

void mlir::moe::buildMoECPUPipeline(OpPassManager &pm,
                                    const CPUPipelineOptions &options) {
  // Stage 1: moe -> linalg on tensors.
  pipelines::addLinalgStage(pm, TargetKind::CPU);
  // Stage 2: tensors -> buffers.
  pipelines::addBufferizationStage(pm);

  //===--------------------------------------------------------------------===//
  // Stage 3: structured ops -> loops, parallel loops -> OpenMP.
  //===--------------------------------------------------------------------===//

  // linalg.matmul/generic/fill/copy on buffers -> loop nests; LLVM's O3
  // vectorizes the inner loops for the host's vector width. An op outside
  // the moe lowering's parallel loops (a shared-expert or attention matmul)
  // gets an scf.parallel over its parallel dims, so it runs on all cores
  // too; ops inside them get serial scf.for (no nested OpenMP regions).
  pm.addNestedPass<func::FuncOp>(createMoELowerLinalgToLoopsPass());
  // The innermost loop of a matmul against [out, in] weights is a float sum;
  // LLVM vectorizes it (and uses FMA) only if it may reassociate it. On an
  // OLMoE-sized layer at T = 1 this takes the experts from compute-bound
  // scalar code to the memory-bandwidth limit (8x faster). NaN/inf
  // semantics are kept.
  if (options.reassociateFloatArith)
    pm.addNestedPass<func::FuncOp>(createMoEReassociateFloatArithPass());
  // The per-token and per-expert scf.forall loops (no shared_outs left after
  // bufferization) become scf.parallel, the form OpenMP conversion takes.
  pm.addNestedPass<func::FuncOp>(createForallToParallelLoopPass());
  // scf.parallel -> omp.parallel + omp.wsloop: the iterations run on all
  // cores. Without OpenMP, scf-to-cf lowers scf.parallel to a serial loop.
  if (options.enableOpenMP) {
    pm.addPass(createConvertSCFToOpenMPPass());
    // The loop over whole experts (prefill) gets schedule(dynamic): routing
    // gives the experts uneven row counts (olmoe-skew f32 T = 256: 133-134
    // -> 104-111 ms).
    pm.addPass(createMoEApplyLoopSchedulesPass());
  }
  pm.addPass(createCanonicalizerPass());
  pipelines::addContractCheck(pm, LoweringStage::Loops);

  // Stage 4: everything -> the llvm and omp dialects.
  pipelines::HostLoweringOptions host;
  host.openMP = options.enableOpenMP;
  host.cInterface = options.emitCInterface;
  pipelines::addHostToLLVMStage(pm, host);
  pipelines::addContractCheck(pm, LoweringStage::LLVM);
}

void mlir::moe::pipelines::addHostToLLVMStage(
    OpPassManager &pm, const HostLoweringOptions &options) {

  // memref.subview/expand/collapse -> memref.reinterpret_cast plus affine
  // index arithmetic, the only view forms the memref lowering handles.
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // f16/bf16 math ops compute in f32: LLVM and libm have f32/f64 versions.
  pm.addPass(math::createMathExtendToSupportedTypes());
  // exp, log, ceil, ... -> LLVM intrinsics; what has none (erf for the
  // exact GELU) -> libm calls (erff), resolved from the process by the JIT
  // and from -lm by moe-compile.
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  // The expert kernels' vector ops: transfers -> (masked) loads and stores,
  // fma -> llvm.fma, x86vector.avx512.dot -> vdpbf16ps, and the reductions
  // of the dot products as trees (reassociated), not as 16 sequential adds.
  {
    ConvertVectorToLLVMPassOptions vectorOptions;
    vectorOptions.reassociateFPReductions = true;
    vectorOptions.x86Vector = true;
    pm.addPass(createConvertVectorToLLVMPass(vectorOptions));
  }
  // memref -> llvm (malloc/free, descriptors, memcpy or the runtime's
  // memrefCopy). It runs before scf-to-cf because it also lowers the
  // memref.alloca_scope that scf-to-openmp wraps each loop body in, whose
  // region must stay a single block until then.
  {
    // memref.alloc/dealloc -> the runtime's _mlir_memref_to_llvm_alloc and
    // _mlir_memref_to_llvm_free, which keep large buffers between calls
    // instead of having every call fault in and zero fresh pages
    // (MoERuntime.h).
    FinalizeMemRefToLLVMConversionPassOptions memrefOptions;
    memrefOptions.useGenericFunctions = true;
    pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefOptions));
  }
  // scf.for/if/while (and the serial scf.parallel) -> cf branches.
  pm.addPass(createSCFToControlFlowPass());
  // arith ops without a direct LLVM counterpart (ceildiv, floordiv, the
  // NaN-propagating min/max on some types) -> simpler arith ops.
  pm.addPass(arith::createArithExpandOpsPass());
  pm.addPass(createArithToLLVMConversionPass());
  // Record the buffer signature of each entry point and, when asked, have
  // func-to-llvm emit its `_mlir_ciface_` wrapper (memref descriptors by
  // pointer), which moe-run, moe-compile's header and C callers use.
  {
    MoEAnnotateEntryPointsPassOptions annotate;
    annotate.cInterface = options.cInterface;
    pm.addPass(createMoEAnnotateEntryPointsPass(annotate));
  }
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  // omp.parallel/wsloop regions take the converted (llvm) types.
  if (options.openMP)
    pm.addPass(createConvertOpenMPToLLVMPass());
  // gpu.launch_func, gpu.alloc/dealloc/memcpy -> calls of the mgpu*
  // runtime functions (moe_cuda_runtime), the kernel arguments unpacked
  // from the memref descriptors.
  if (options.gpuRuntimeCalls)
    pm.addPass(createGpuToLLVMConversionPass());
  // The casts between memref and descriptor types that the partial
  // conversions above left at their seams cancel out here.
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}

void mlir::moe::registerMoEPipelines() {
  PassPipelineRegistration<CPUPipelineOptions>(
      "moe-cpu-pipeline",
      "Lower a moe graph to the llvm and omp dialects for x86 CPUs: "
      "moe -> linalg, one-shot bufferization, loops, OpenMP, LLVM",
      buildMoECPUPipeline);
  PassPipelineRegistration<GPUPipelineOptions>(
      "moe-gpu-pipeline",
      "Lower a moe graph to host code in the llvm dialect that launches "
      "NVVM kernels (PTX or cubin in a gpu.binary) through the mgpu* "
      "runtime: moe -> linalg, bufferization, kernels, NVVM",
      buildMoEGPUPipeline);
}
