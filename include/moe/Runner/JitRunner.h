//===- JitRunner.h - Run a moe module on the CPU with the JIT ---*- C++ -*-===//
//
// The library behind moe-run: lowers a module with the CPU pipeline (unless
// it is already in the LLVM dialect), JIT-compiles it with
// mlir::ExecutionEngine at -O3 for the host CPU, calls one entry point with
// inputs from .npy files or seeded random data, and reports, writes or
// prints its results; optionally times repeated calls, warm or cold.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNNER_JITRUNNER_H
#define MOE_RUNNER_JITRUNNER_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <string>
#include <vector>

namespace mlir::moe {

/// What to run and how to report it.
struct RunOptions {
  /// The function to call; empty: `main`, or the only public function.
  std::string entry;
  /// .npy files for the leading arguments, in order; the other arguments
  /// get random data.
  std::vector<std::string> inputs;
  /// Seeds the random data: floats uniform in [-1, 1), integers in [0, 8)
  /// (i1 in {0, 1}). Each argument has its own stream, so giving a file for
  /// one argument does not change the data of the others.
  uint64_t seed = 1;
  /// The size of every dynamic dimension of a random argument.
  int64_t dynamicSize = 16;
  /// If not empty, each result is written to DIR/result<i>.npy.
  std::string outputDirectory;
  /// Prints every element of each result (else one summary line each).
  bool printResults = false;
  /// Times this many calls after the first one (0: no timing).
  unsigned benchRuns = 0;
  /// Untimed calls between the first one and the timed ones, run like the
  /// timed ones (cold if `cold`). A process's first cold calls run slower
  /// than the later ones (measured: the first ~9 of an OLMoE layer at
  /// T = 1 with a 2 GiB flush, up to 2x), so a comparison between systems
  /// gives each the same warm-up.
  unsigned benchWarmup = 0;
  /// Times the calls cold, as a layer of a model with many layers runs:
  /// before each timed call (outside the timed region) the activation
  /// arguments (those with a dynamic dimension, else the first argument)
  /// get new random data (seed + 1 + the call's number, so the routing
  /// changes), and a flush buffer larger than the last-level cache is read
  /// on all cores (moe_flush_caches), so no weight is still cached from the
  /// call before.
  bool cold = false;
  /// The bytes of the flush buffer of a cold call; 0: the runtime's choice
  /// (4x the last-level cache, between 256 MiB and 2 GiB).
  size_t coldFlushBytes = 0;
  /// Fails if buffers the compiled code allocated (malloc'ed) outlive the
  /// calls, which would mean a deallocation is missing.
  bool checkLeaks = false;
  /// Shared libraries the JIT resolves symbols from (libomp, the runtime).
  std::vector<std::string> sharedLibraries;
};

/// Runs `module` as `options` says, writing the report to `os`. A failure
/// is returned as one line that names what is wrong (for an input: the
/// argument, its type and the file).
llvm::Error runModule(ModuleOp module, const RunOptions &options,
                      llvm::raw_ostream &os);

} // namespace mlir::moe

#endif // MOE_RUNNER_JITRUNNER_H
