//===- InitAll.cpp - The one registration point of moe-mlir ---------------===//
//
// Registers the moe dialect, passes and pipelines, and exactly the upstream
// dialects, interface models, passes and LLVM IR translations that moe
// graphs and the moe pipelines use.
//
//===----------------------------------------------------------------------===//

#include "moe/InitAll.h"

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Pipelines/Pipelines.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/GPUCommon/GPUToLLVM.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVM.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/BufferDeallocationOpInterfaceImpl.h"
#include "mlir/Dialect/Arith/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/Extensions/AllExtensions.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Index/IR/IndexDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Linalg/Transforms/SubsetInsertionOpInterfaceImpl.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/AllocationOpInterfaceImpl.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/BufferDeallocationOpInterfaceImpl.h"
#include "mlir/Dialect/SCF/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Tensor/Transforms/SubsetInsertionOpInterfaceImpl.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Vector/Transforms/SubsetOpInterfaceImpl.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "mlir/Transforms/Passes.h"

void mlir::moe::registerAllDialects(DialectRegistry &registry) {
  // The moe dialect and the upstream dialects a model graph is written in
  // (DESIGN.md section 1), plus those decompose and the lowerings create,
  // so that every intermediate form of moe-cpu-pipeline can be parsed.
  registry.insert<moe::MoEDialect, func::FuncDialect, arith::ArithDialect,
                  math::MathDialect, tensor::TensorDialect,
                  linalg::LinalgDialect, scf::SCFDialect, affine::AffineDialect,
                  bufferization::BufferizationDialect, memref::MemRefDialect,
                  cf::ControlFlowDialect, LLVM::LLVMDialect, omp::OpenMPDialect,
                  vector::VectorDialect, gpu::GPUDialect, NVVM::NVVMDialect,
                  index::IndexDialect, ub::UBDialect,
                  x86vector::X86VectorDialect>();
  // The func inliner interface, so that graphs split into functions can be
  // inlined before the moe passes.
  func::registerAllExtensions(registry);

  // One-shot bufferization of what convert-moe-to-linalg produces: arith
  // constants, linalg ops, scf loops (for, forall, if), tensor ops, and
  // function boundaries.
  arith::registerBufferizableOpInterfaceExternalModels(registry);
  linalg::registerBufferizableOpInterfaceExternalModels(registry);
  scf::registerBufferizableOpInterfaceExternalModels(registry);
  tensor::registerBufferizableOpInterfaceExternalModels(registry);
  vector::registerBufferizableOpInterfaceExternalModels(registry);
  bufferization::func_ext::registerBufferizableOpInterfaceExternalModels(
      registry);
  // Subset insertion (tensor.insert_slice, parallel_insert_slice, linalg
  // outs): lets empty-tensor elimination and the one-shot analysis write
  // a slice in place instead of into a copy.
  linalg::registerSubsetOpInterfaceExternalModels(registry);
  tensor::registerSubsetOpInterfaceExternalModels(registry);
  vector::registerSubsetOpInterfaceExternalModels(registry);
  // Ownership-based deallocation through arith.select and scf regions, and
  // the clones/deallocs it builds for memref.alloc.
  arith::registerBufferDeallocationOpInterfaceExternalModels(registry);
  scf::registerBufferDeallocationOpInterfaceExternalModels(registry);
  memref::registerAllocationOpInterfaceExternalModels(registry);

  // convert-gpu-to-nvvm lowers the ops in a kernel through the
  // ConvertToLLVM interfaces of their dialects; without these, arith,
  // memref, math or cf ops in a kernel would be left unconverted.
  arith::registerConvertArithToLLVMInterface(registry);
  cf::registerConvertControlFlowToLLVMInterface(registry);
  registerConvertFuncToLLVMInterface(registry);
  gpu::registerConvertGpuToLLVMInterface(registry);
  index::registerConvertIndexToLLVMInterface(registry);
  registerConvertMathToLLVMInterface(registry);
  registerConvertMemRefToLLVMInterface(registry);
  registerConvertNVVMToLLVMInterface(registry);
  ub::registerConvertUBToLLVMInterface(registry);
  vector::registerConvertVectorToLLVMInterface(registry);
  // #nvvm.target: how gpu-module-to-binary compiles a gpu.module to PTX or
  // cubin.
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);

  // Translation of the pipelines' output to LLVM IR, for moe-run's JIT and
  // moe-compile: builtin.module, llvm, omp; and for moe-gpu-pipeline the
  // gpu.binary (embedded, with the code that loads it through the mgpu*
  // runtime) and the nvvm ops of kernels.
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerOpenMPDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
  // #gpu.select_object, the gpu.binary handler that embeds the kernels and
  // emits the mgpuModuleLoad/GetFunction/LaunchKernel calls.
  gpu::registerOffloadingLLVMTranslationInterfaceExternalModels(registry);
}

void mlir::moe::registerAllPasses() {
  moe::registerMoEPasses();
  moe::registerMoEConversionPasses();
  moe::registerMoEPipelines();
  // canonicalize, cse, inline, symbol-dce: used between moe passes.
  mlir::registerTransformsPasses();

  // The upstream passes of moe-cpu-pipeline, so that each stage can be run
  // and tested on its own.
  registerConvertElementwiseToLinalgPass();
  bufferization::registerEmptyTensorEliminationPass();
  bufferization::registerOneShotBufferizePass();
  bufferization::registerOwnershipBasedBufferDeallocationPass();
  bufferization::registerBufferizationPipelines();
  registerConvertBufferizationToMemRefPass();
  registerSCFForallToParallelLoop();
  registerConvertSCFToOpenMPPass();
  memref::registerExpandStridedMetadataPass();
  registerLowerAffinePass();
  registerFinalizeMemRefToLLVMConversionPass();
  registerSCFToControlFlowPass();
  math::registerMathExtendToSupportedTypes();
  registerConvertMathToLLVMPass();
  registerConvertMathToLibmPass();
  arith::registerArithExpandOpsPass();
  registerArithToLLVMConversionPass();
  registerConvertFuncToLLVMPass();
  registerConvertControlFlowToLLVMPass();
  registerConvertOpenMPToLLVMPass();
  registerConvertVectorToLLVMPass();
  registerReconcileUnrealizedCastsPass();

  // The upstream passes of moe-gpu-pipeline.
  registerGpuKernelOutliningPass();
  registerGpuNVVMAttachTarget();
  registerConvertGpuOpsToNVVMOps();
  registerGpuToLLVMConversionPass();
  registerGpuModuleToBinaryPass();
}
