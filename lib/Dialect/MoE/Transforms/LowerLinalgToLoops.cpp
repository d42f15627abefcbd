//===- LowerLinalgToLoops.cpp - linalg to parallel or serial loops --------===//
//
// The `moe-lower-linalg-to-loops` pass: like upstream's
// convert-linalg-to-loops, but an op that no parallel loop encloses becomes
// an scf.parallel over its parallel dimensions, so that OpenMP runs the
// dense parts of a graph on all cores, while the ops inside the per-token
// and per-expert parallel loops of the moe lowering stay serial loops.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOELOWERLINALGTOLOOPSPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

/// Whether the iterations of an enclosing loop already run in parallel.
static bool isInsideParallelLoop(Operation *op) {
  for (Operation *parent = op->getParentOp(); parent;
       parent = parent->getParentOp())
    if (isa<scf::ForallOp, scf::ParallelOp>(parent))
      return true;
  return false;
}

LogicalResult mlir::moe::lowerLinalgToLoops(Operation *root) {
  SmallVector<linalg::LinalgOp> linalgOps;
  root->walk([&](linalg::LinalgOp op) {
    if (op.hasPureBufferSemantics())
      linalgOps.push_back(op);
  });
  IRRewriter rewriter(root->getContext());
  for (linalg::LinalgOp op : linalgOps) {
    rewriter.setInsertionPoint(op);
    FailureOr<linalg::LinalgLoops> loops =
        isInsideParallelLoop(op)
            ? linalg::linalgOpToLoops(rewriter, op)
            : linalg::linalgOpToParallelLoops(rewriter, op);
    if (failed(loops))
      return op->emitError() << "could not be lowered to loops";
    rewriter.eraseOp(op);
  }

  // Fold the index arithmetic of the loop bodies (affine.apply of the
  // indexing maps, memref.dim of static shapes), as convert-linalg-to-loops
  // does.
  RewritePatternSet patterns(root->getContext());
  affine::AffineApplyOp::getCanonicalizationPatterns(patterns,
                                                     root->getContext());
  memref::DimOp::getCanonicalizationPatterns(patterns, root->getContext());
  (void)applyPatternsGreedily(root, std::move(patterns));
  return success();
}

namespace {

struct MoELowerLinalgToLoopsPass
    : public mlir::moe::impl::MoELowerLinalgToLoopsPassBase<
          MoELowerLinalgToLoopsPass> {
  void runOnOperation() override {
    if (failed(lowerLinalgToLoops(getOperation())))
      signalPassFailure();
  }
};

} // namespace
