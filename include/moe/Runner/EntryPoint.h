//===- EntryPoint.h - Entry points of a compiled moe module -----*- C++ -*-===//
//
// What moe-run and moe-compile need to know to call a compiled function: the
// element type, rank and static shape of each argument and result, and how
// the `_mlir_ciface_` wrapper that convert-func-to-llvm emits passes them
// (memref descriptors by pointer, scalars by value, results through a pointer
// to a struct). In the LLVM dialect every memref is an opaque `!llvm.ptr`, so
// for a module that is already lowered the signature comes from the
// `moe.signature` attribute that the CPU pipeline records.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNNER_ENTRYPOINT_H
#define MOE_RUNNER_ENTRYPOINT_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/SourceMgr.h"

#include <memory>
#include <string>

namespace llvm {
class TargetMachine;
} // namespace llvm

namespace mlir::moe {

struct CPUPipelineOptions;
struct GPUPipelineOptions;

/// The element types (of buffers) and scalar types an entry point may use.
enum class ElementKind { F16, BF16, F32, F64, I1, I8, I16, I32, I64, Index };

/// The size of one element in memory (i1 takes a byte).
unsigned getElementBytes(ElementKind kind);

/// The NumPy dtype string of `.npy` files holding this element type: '<f4',
/// '<f8', '<f2', '<u2' (the bits of a bf16), '|i1' (i1 and i8), '<i2',
/// '<i4', '<i8' (i64 and index).
llvm::StringRef getNpyDescr(ElementKind kind);

/// Whether the element type is a floating-point type.
bool isFloatKind(ElementKind kind);

/// One argument or result of an entry point: a ranked buffer (a tensor
/// before bufferization, an identity-layout memref after it; passed as a
/// memref descriptor) or a scalar (passed by value).
struct EntryValue {
  /// The type as written in the signature, for messages.
  Type type;
  ElementKind element;
  bool isBuffer;
  /// The buffer's shape, ShapedType::kDynamic for `?`; empty for scalars.
  llvm::SmallVector<int64_t> shape;

  int64_t getRank() const { return static_cast<int64_t>(shape.size()); }
  /// The bytes of the memref descriptor {allocated, aligned, offset,
  /// sizes[rank], strides[rank]} of a buffer.
  size_t getDescriptorBytes() const { return 8 * (3 + 2 * shape.size()); }
  /// The bytes and alignment of the value inside a struct of results.
  size_t getStorageBytes() const;
  size_t getStorageAlignment() const;
};

/// The signature of an entry point.
struct EntrySignature {
  std::string name;
  llvm::SmallVector<EntryValue> arguments;
  llvm::SmallVector<EntryValue> results;

  /// Whether `_mlir_ciface_<name>` returns its results through a pointer to
  /// a struct in its first argument (a buffer result, or several results)
  /// rather than as its return value (one scalar) or not at all.
  bool returnsThroughPointer() const;
  /// The byte offset of each result in that struct (natural alignment, as
  /// LLVM lays out `!llvm.struct<(...)>` on x86-64), and its size.
  llvm::SmallVector<size_t> getResultOffsets(size_t *structBytes) const;
};

/// Describes `type` (a function's signature) as an entry point named `name`;
/// fails for types no runner can pass (unranked or strided memrefs, element
/// types outside ElementKind).
llvm::Expected<EntrySignature> describeEntryPoint(llvm::StringRef name,
                                                  FunctionType type);

/// Whether `module` holds nothing but llvm and omp ops (it is ready for
/// translation to LLVM IR and needs no pipeline).
bool isInLLVMDialect(ModuleOp module);

/// The name of the function to run: `requested` if not empty, else `main`
/// if the module has it, else its only public function.
llvm::Expected<std::string> chooseEntryPoint(ModuleOp module,
                                             llvm::StringRef requested);

/// The signature of the entry point `name`: the type of the func.func, or
/// the recorded `moe.signature` of the llvm.func in a lowered module.
llvm::Expected<EntrySignature> getEntrySignature(ModuleOp module,
                                                 llvm::StringRef name);

/// The signatures of all public functions with a body that have a C
/// wrapper, in a module lowered by the CPU pipeline.
llvm::Expected<llvm::SmallVector<EntrySignature>>
getLoweredEntryPoints(ModuleOp module);

/// Runs the CPU pipeline on `module` unless it is already in the LLVM
/// dialect. The pipeline's own diagnostics go to the context's handler.
llvm::Error lowerToLLVMDialect(ModuleOp module,
                               const CPUPipelineOptions &options);

/// The same with the GPU pipeline (host code in the LLVM dialect and
/// gpu.binary kernels).
llvm::Error lowerToLLVMDialect(ModuleOp module,
                               const GPUPipelineOptions &options);

/// A TargetMachine for the host (x86-64: the process triple) at -O3,
/// position-independent. With an empty `cpu`, for the host CPU and all of
/// its features (AVX-512 where present); else for the named CPU.
llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
createHostTargetMachine(llvm::StringRef cpu = "");

/// Fits the module's #moe.target (before lowering) to the CPU `machine`
/// compiles for: an unset bf16_dot follows the CPU's AVX512-BF16 (where
/// --cpu names another CPU than this one, the host default would not), and
/// bf16_dot = avx512 for a CPU without it is an error rather than code that
/// cannot be selected or run.
llvm::Error fitTargetToMachine(ModuleOp module,
                               const llvm::TargetMachine &machine);

/// A parsed .mlir model file. Its diagnostic handler stays installed while
/// the object lives, so that errors of the passes run on the module later
/// point into the file too.
struct ModelFile {
  llvm::SourceMgr sourceMgr;
  std::unique_ptr<SourceMgrDiagnosticHandler> diagnostics;
  OwningOpRef<ModuleOp> module;
};

/// Reads and parses `path` ("-" for stdin) into `file`. Parse errors are
/// reported through the file's diagnostic handler; the returned error says
/// which file could not be read or parsed.
llvm::Error loadModelFile(llvm::StringRef path, MLIRContext &context,
                          ModelFile &file);

/// `type` as it prints in IR (`tensor<?x64xf32>`), for messages.
std::string printType(Type type);

} // namespace mlir::moe

#endif // MOE_RUNNER_ENTRYPOINT_H
