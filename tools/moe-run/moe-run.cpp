//===- moe-run.cpp - Run a moe model on the CPU with the JIT
//---------------===//
//
// moe-run FILE.mlir [--entry=NAME] [-i a.npy -i b.npy ...] [--seed=N]
//   [--dynamic-size=N] [-o DIR] [--print] [--bench=N [--warmup=N] [--cold]]
//
// Lowers the module with moe-cpu-pipeline (unless it is already in the LLVM
// dialect), JIT-compiles it for this CPU, calls the entry point with inputs
// from .npy files (in argument order) or seeded random data, and reports the
// results. The work is in the MoERunner library (moe/Runner/JitRunner.h).
//
//===----------------------------------------------------------------------===//

#include "moe/InitAll.h"
#include "moe/Runner/EntryPoint.h"
#include "moe/Runner/JitRunner.h"
#include "moe/Runtime/MoERuntime.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("moe-run options");

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.mlir>"),
                                      cl::init("-"), cl::cat(category));
static cl::opt<std::string>
    entry("entry",
          cl::desc("the function to run (default: main, or the only public "
                   "function)"),
          cl::value_desc("name"), cl::cat(category));
static cl::list<std::string>
    inputs("i",
           cl::desc("a .npy file for the next argument, in order; arguments "
                    "without a file get seeded random data"),
           cl::value_desc("file.npy"), cl::cat(category));
static cl::opt<uint64_t> seed("seed", cl::desc("seed of the random inputs"),
                              cl::init(1), cl::cat(category));
static cl::opt<int64_t> dynamicSize(
    "dynamic-size",
    cl::desc("the size of every dynamic dimension of a random input"),
    cl::init(16), cl::cat(category));
static cl::opt<std::string>
    outputDirectory("o", cl::desc("write each result to DIR/result<i>.npy"),
                    cl::value_desc("dir"), cl::cat(category));
static cl::opt<bool> printResults("print",
                                  cl::desc("print every element of each "
                                           "result"),
                                  cl::cat(category));
static cl::opt<unsigned>
    bench("bench",
          cl::desc("time N calls after the first and print median_ms, "
                   "min_ms"),
          cl::value_desc("N"), cl::init(0), cl::cat(category));
static cl::opt<bool> cold(
    "cold",
    cl::desc("with --bench: before each timed call, draw new activations "
             "(arguments with a dynamic dimension, else the first; a new seed "
             "each call) and read a flush buffer larger than the last-level "
             "cache, so no weight stays cached between calls"),
    cl::cat(category));
static cl::opt<unsigned> warmup(
    "warmup",
    cl::desc("with --bench: untimed calls after the first and before the "
             "timed ones, under the same --cold rule (default 0)"),
    cl::value_desc("N"), cl::init(0), cl::cat(category));
static cl::opt<unsigned> flushMiB(
    "flush-mib",
    cl::desc("the size of the --cold flush buffer in MiB (default: 4x the "
             "last-level cache, between 256 MiB and 2 GiB)"),
    cl::value_desc("N"), cl::init(0), cl::cat(category));
static cl::opt<bool>
    checkLeaks("check-leaks",
               cl::desc("fail if a call leaves heap memory behind (a missing "
                        "deallocation)"),
               cl::cat(category));
static cl::list<std::string> sharedLibraries(
    "shared-libs",
    cl::desc("libraries the JIT resolves symbols from (default: libomp and "
             "libmoe_runtime.so)"),
    cl::CommaSeparated, cl::value_desc("path"), cl::cat(category));
static cl::opt<bool> measureBandwidth(
    "measure-bandwidth",
    cl::desc("print the main-memory read bandwidth (read_bandwidth_gbps=) "
             "first; alone, only that"),
    cl::cat(category));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "moe-run: " << message << "\n";
  return 1;
}

/// libmoe_runtime.so next to this tool (bin/../lib), else where the build
/// put it.
static std::string findRuntimeLibrary(const char *argv0) {
  std::string executable =
      llvm::sys::fs::getMainExecutable(argv0, (void *)&findRuntimeLibrary);
  llvm::SmallString<256> path(
      llvm::sys::path::parent_path(llvm::sys::path::parent_path(executable)));
  llvm::sys::path::append(path, "lib", "libmoe_runtime.so");
  if (llvm::sys::fs::exists(path))
    return std::string(path);
  return MOE_RUNTIME_LIBRARY;
}

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "moe-run: run a moe model on the CPU\n");

  if (measureBandwidth) {
    double gbps = moe_measure_read_bandwidth_gbps(0, 0);
    if (gbps < 0)
      return fail("cannot allocate the buffer of the bandwidth probe");
    llvm::outs() << llvm::format("read_bandwidth_gbps=%.2f threads=%d\n", gbps,
                                 moe_num_threads());
    // Without a model, measuring is all there is to do.
    if (inputFile.getNumOccurrences() == 0)
      return 0;
  }

  if (cold && bench == 0)
    return fail("--cold times calls: give --bench=N too");
  if (warmup && bench == 0)
    return fail("--warmup comes before timed calls: give --bench=N too");

  DialectRegistry registry;
  moe::registerAllDialects(registry);
  MLIRContext context(registry);
  moe::ModelFile model;
  if (llvm::Error failure = moe::loadModelFile(inputFile, context, model))
    return fail(llvm::toString(std::move(failure)));
  OwningOpRef<ModuleOp> &module = model.module;

  moe::RunOptions options;
  options.entry = entry;
  options.inputs.assign(inputs.begin(), inputs.end());
  options.seed = seed;
  options.dynamicSize = dynamicSize;
  options.outputDirectory = outputDirectory;
  options.printResults = printResults;
  options.benchRuns = bench;
  options.benchWarmup = warmup;
  options.cold = cold;
  options.coldFlushBytes = size_t(flushMiB) << 20;
  options.checkLeaks = checkLeaks;
  if (sharedLibraries.empty())
    options.sharedLibraries = {MOE_LIBOMP_PATH, findRuntimeLibrary(argv[0])};
  else
    options.sharedLibraries.assign(sharedLibraries.begin(),
                                   sharedLibraries.end());
  if (!outputDirectory.empty())
    if (std::error_code code =
            llvm::sys::fs::create_directories(outputDirectory))
      return fail("cannot create " + outputDirectory + ": " + code.message());

  if (llvm::Error failure = moe::runModule(*module, options, llvm::outs()))
    return fail(llvm::toString(std::move(failure)));
  return 0;
}
