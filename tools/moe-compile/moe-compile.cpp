//===- moe-compile.cpp - Compile a moe model ahead of time
//-----------------===//
//
// moe-compile FILE.mlir --emit=mlir|llvm-ir|obj|shared -o OUT [--header=H]
//
// Lowers the module with moe-cpu-pipeline, optimizes it at -O3 for this CPU
// and writes the LLVM dialect, LLVM IR, an object file or a shared library,
// and optionally a C header declaring the entry points. The work is in the
// MoECompiler library (moe/Compiler/AOTCompiler.h).
//
//===----------------------------------------------------------------------===//

#include "moe/Compiler/AOTCompiler.h"
#include "moe/InitAll.h"
#include "moe/Runner/EntryPoint.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"

using namespace mlir;
namespace cl = llvm::cl;

namespace {
enum class Target { CPU, CUDA };
} // namespace

static cl::OptionCategory category("moe-compile options");

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.mlir>"),
                                      cl::init("-"), cl::cat(category));
static cl::opt<std::string> outputFile("o", cl::desc("the output file"),
                                       cl::value_desc("file"), cl::init("-"),
                                       cl::cat(category));
static cl::opt<moe::EmitKind>
    emit("emit", cl::desc("what to write"), cl::init(moe::EmitKind::Object),
         cl::values(clEnumValN(moe::EmitKind::MLIR, "mlir",
                               "the module in the LLVM dialect"),
                    clEnumValN(moe::EmitKind::LLVMIR, "llvm-ir",
                               "optimized LLVM IR"),
                    clEnumValN(moe::EmitKind::Object, "obj",
                               "an object file (the default)"),
                    clEnumValN(moe::EmitKind::Shared, "shared",
                               "a shared library linked against libomp and "
                               "libmoe_runtime.so (and libmoe_cuda_runtime.so "
                               "for CUDA)"),
                    clEnumValN(moe::EmitKind::PTX, "ptx",
                               "the PTX of the kernels (--target=cuda)")),
         cl::cat(category));
static cl::opt<Target> target(
    "target", cl::desc("the hardware to compile for"), cl::init(Target::CPU),
    cl::values(clEnumValN(Target::CPU, "cpu", "this x86-64 CPU (OpenMP)"),
               clEnumValN(Target::CUDA, "cuda",
                          "an NVIDIA GPU (moe-gpu-pipeline; the host code "
                          "calls libmoe_cuda_runtime.so)")),
    cl::cat(category));
static cl::opt<std::string>
    gpuChip("gpu-chip",
            cl::desc("--target=cuda: the GPU architecture (default sm_90)"),
            cl::value_desc("sm_XX"), cl::init("sm_90"), cl::cat(category));
static cl::opt<std::string> gpuFormat(
    "gpu-format",
    cl::desc("--target=cuda: isa (PTX, compiled by the driver when loaded; "
             "the default), bin (cubin) or fatbin (both need ptxas)"),
    cl::init("isa"), cl::cat(category));
static cl::opt<std::string>
    header("header", cl::desc("also write a C header of the entry points"),
           cl::value_desc("file.h"), cl::cat(category));
static cl::opt<std::string>
    cpu("cpu",
        cl::desc("the CPU to compile for (default: this one, with all of "
                 "its features)"),
        cl::value_desc("name"), cl::cat(category));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "moe-compile: " << message << "\n";
  return 1;
}

/// The directory of libmoe_runtime.so: next to this tool (bin/../lib), else
/// where the build put it.
static std::string findRuntimeLibraryDirectory(const char *argv0) {
  std::string executable = llvm::sys::fs::getMainExecutable(
      argv0, (void *)&findRuntimeLibraryDirectory);
  llvm::SmallString<256> directory(
      llvm::sys::path::parent_path(llvm::sys::path::parent_path(executable)));
  llvm::sys::path::append(directory, "lib");
  llvm::SmallString<256> library(directory);
  llvm::sys::path::append(library, "libmoe_runtime.so");
  if (llvm::sys::fs::exists(library))
    return std::string(directory);
  return std::string(llvm::sys::path::parent_path(MOE_RUNTIME_LIBRARY));
}

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv, "moe-compile: compile a moe model ahead of time\n");

  DialectRegistry registry;
  moe::registerAllDialects(registry);
  MLIRContext context(registry);
  moe::ModelFile model;
  if (llvm::Error failure = moe::loadModelFile(inputFile, context, model))
    return fail(llvm::toString(std::move(failure)));
  OwningOpRef<ModuleOp> &module = model.module;

  moe::CompileOptions options;
  options.emit = emit;
  options.output = outputFile;
  options.header = header;
  options.cpu = cpu;
  options.target =
      target == Target::CUDA ? moe::TargetKind::CUDA : moe::TargetKind::CPU;
  options.gpuChip = gpuChip;
  if (gpuFormat != "isa" && gpuFormat != "bin" && gpuFormat != "fatbin")
    return fail("--gpu-format must be isa, bin or fatbin, got '" + gpuFormat +
                "'");
  options.gpuFormat = gpuFormat;
  options.linker = MOE_CLANG;
  options.openmpLibrary = MOE_LIBOMP_PATH;
  options.runtimeLibraryDirectory = findRuntimeLibraryDirectory(argv[0]);
  if (llvm::Error failure = moe::compileModule(*module, options))
    return fail(llvm::toString(std::move(failure)));
  return 0;
}
