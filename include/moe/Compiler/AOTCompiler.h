//===- AOTCompiler.h - Ahead-of-time compilation of moe modules -*- C++ -*-===//
//
// The library behind moe-compile: lowers a module with the CPU pipeline (or
// the GPU pipeline for CUDA), translates it to LLVM IR, optimizes it at -O3
// for the host CPU (all of its features, so AVX-512 where present), and
// emits LLVM IR, an object file or a shared library, plus a C header that
// declares the entry points; for CUDA also the kernels' PTX.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_COMPILER_AOTCOMPILER_H
#define MOE_COMPILER_AOTCOMPILER_H

#include "moe/Dialect/MoE/IR/MoEDialect.h"
#include "moe/Runner/EntryPoint.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace mlir::moe {

/// What moe-compile writes.
enum class EmitKind {
  /// The module in the LLVM dialect (after moe-cpu-pipeline).
  MLIR,
  /// Optimized LLVM IR (text).
  LLVMIR,
  /// A relocatable, position-independent object file.
  Object,
  /// A shared library linked against libomp and libmoe_runtime.so (and
  /// libmoe_cuda_runtime.so for CUDA).
  Shared,
  /// CUDA only: the PTX of every kernel, one gpu.binary after another.
  PTX,
};

/// How to compile and where to put the results.
struct CompileOptions {
  EmitKind emit = EmitKind::Object;
  /// CPU: moe-cpu-pipeline, host code for this CPU. CUDA: moe-gpu-pipeline,
  /// kernels for `gpuChip` embedded in host code that calls the mgpu*
  /// runtime (libmoe_cuda_runtime.so); the host code is compiled for
  /// generic x86-64-v2 unless `cpu` says otherwise, since it runs on the GPU
  /// machine's CPU.
  TargetKind target = TargetKind::CPU;
  /// CUDA: the GPU architecture and what the gpu.binary holds (`isa`: PTX
  /// that the driver compiles when the library is loaded; `bin`, `fatbin`:
  /// cubin from ptxas).
  std::string gpuChip = "sm_90";
  std::string gpuFormat = "isa";
  /// The output file ("-" for stdout, text kinds only).
  std::string output;
  /// If not empty, the C header of the entry points is written here.
  std::string header;
  /// The CPU to compile for; empty: the host CPU and its features.
  std::string cpu;
  /// For EmitKind::Shared: the compiler driver that links (clang-22), the
  /// OpenMP library and the directory of libmoe_runtime.so.
  std::string linker;
  std::string openmpLibrary;
  std::string runtimeLibraryDirectory;
};

/// Compiles `module` as `options` say. Diagnostics of the pipeline go to
/// the context's handler; other failures are returned as one line.
llvm::Error compileModule(ModuleOp module, const CompileOptions &options);

/// Writes a C header declaring, for each entry point, the memref descriptor
/// structs (`moe_memref_<rank>d_<element>`), a struct of its results when
/// it returns several, and `_mlir_ciface_<name>`. `includeGuard` names the
/// header's include guard; `target` what the buffers are (host or GPU
/// memory) and how results are released.
llvm::Error writeCHeader(llvm::ArrayRef<EntrySignature> entryPoints,
                         llvm::StringRef includeGuard,
                         llvm::StringRef sourceName, llvm::raw_ostream &os,
                         TargetKind target = TargetKind::CPU);

} // namespace mlir::moe

#endif // MOE_COMPILER_AOTCOMPILER_H
