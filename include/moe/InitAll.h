//===- InitAll.h - The one registration point of moe-mlir -------*- C++ -*-===//
//
// Every tool (moe-opt, moe-lsp-server, the runners), the plugin and the
// embedding APIs register the moe dialect, its passes and the upstream
// dialects they use through these functions, so that they agree on what a
// moe-mlir context can hold.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_INITALL_H
#define MOE_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace mlir::moe {

/// Adds the moe dialect and the upstream dialects (and their interface
/// extensions: bufferization, deallocation, LLVM IR translation) that moe
/// graphs, the moe pipelines and the JIT use.
void registerAllDialects(DialectRegistry &registry);

/// Registers the moe passes, the moe pipelines (`moe-cpu-pipeline`) and the
/// upstream passes the pipelines use, so that they can be named on a
/// command line.
void registerAllPasses();

} // namespace mlir::moe

#endif // MOE_INITALL_H
