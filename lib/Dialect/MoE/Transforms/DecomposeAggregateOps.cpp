//===- DecomposeAggregateOps.cpp - Expand linalg aggregate ops ------------===//
//
// The `moe-decompose-aggregate-ops` pass: every op with linalg's
// AggregatedOpInterface (linalg.softmax) is replaced by the linalg ops it
// stands for, which bufferize and lower to loops like the rest.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEDECOMPOSEAGGREGATEOPSPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

LogicalResult mlir::moe::decomposeAggregateOps(Operation *root) {
  SmallVector<linalg::AggregatedOpInterface> aggregates;
  root->walk(
      [&](linalg::AggregatedOpInterface op) { aggregates.push_back(op); });
  IRRewriter rewriter(root->getContext());
  for (linalg::AggregatedOpInterface op : aggregates) {
    rewriter.setInsertionPoint(op);
    FailureOr<SmallVector<Value>> replacements =
        op.decomposeOperation(rewriter);
    if (failed(replacements))
      return op->emitError() << "moe-decompose-aggregate-ops: cannot expand '"
                             << op->getName() << "' into linalg ops";
    rewriter.replaceOp(op, *replacements);
  }
  return success();
}

namespace {

struct MoEDecomposeAggregateOpsPass
    : public mlir::moe::impl::MoEDecomposeAggregateOpsPassBase<
          MoEDecomposeAggregateOpsPass> {
  void runOnOperation() override {
    if (failed(decomposeAggregateOps(getOperation())))
      signalPassFailure();
  }
};

} // namespace
