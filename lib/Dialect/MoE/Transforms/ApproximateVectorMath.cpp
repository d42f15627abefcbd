//===- ApproximateVectorMath.cpp - Polynomial exp/erf/tanh on vectors -----===//
//
// The `moe-approximate-vector-math` pass: math.exp, math.erf and math.tanh
// on f32 vectors become MLIR's polynomial approximations, so that the
// activations of the vectorized expert kernels stay vectorized; scalar math
// ops are left to their exact lowering.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEAPPROXIMATEVECTORMATHPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

LogicalResult mlir::moe::approximateVectorMath(Operation *root) {
  SmallVector<Operation *> vectorMath;
  root->walk([&](Operation *op) {
    if (!isa<math::ExpOp, math::ErfOp, math::TanhOp>(op))
      return;
    auto type = dyn_cast<VectorType>(op->getResult(0).getType());
    if (type && type.getElementType().isF32())
      vectorMath.push_back(op);
  });
  if (vectorMath.empty())
    return success();
  RewritePatternSet patterns(root->getContext());
  // The predicate gets the full op name (math.exp, ...).
  populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
    return name == math::ExpOp::getOperationName() ||
           name == math::ErfOp::getOperationName() ||
           name == math::TanhOp::getOperationName();
  });
  // Only the listed ops (and what their rewrites create) are rewritten.
  GreedyRewriteConfig config;
  config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
  return applyOpPatternsGreedily(vectorMath, std::move(patterns), config);
}

namespace {

struct MoEApproximateVectorMathPass
    : public mlir::moe::impl::MoEApproximateVectorMathPassBase<
          MoEApproximateVectorMathPass> {
  void runOnOperation() override {
    if (failed(approximateVectorMath(getOperation())))
      signalPassFailure();
  }
};

} // namespace
