//===- FuseGating.cpp - Fuse unfused router chains into moe.route ---------===//
//
// The `moe-fuse-gating` pass: router matmul -> softmax -> moe.topk, and
// router matmul -> moe.topk -> softmax of the selected logits, become one
// moe.route (score softmax or softmax_topk), so that the lowering computes a
// token's logits, scores and top-k in one loop nest.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEFUSEGATINGPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The operands of a router matmul: logits = x · routerᵀ.
struct RouterMatmul {
  Value x;
  Value router;
};

/// Matches `logits` as the only result of a transposed-B linalg.matmul of a
/// T x D activation against an E x D weight into a zero-filled f32
/// accumulator, used once.
FailureOr<RouterMatmul> matchRouterMatmul(Value logits) {
  auto matmul = logits.getDefiningOp<linalg::MatmulOp>();
  if (!matmul || !isa<linalg::MatmulTransposeBOp>(matmul.getOperation()) ||
      !logits.hasOneUse())
    return failure();
  auto resultType = dyn_cast<RankedTensorType>(logits.getType());
  if (!resultType || !resultType.getElementType().isF32())
    return failure();
  auto fill = matmul.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
  if (!fill || !matchPattern(fill.getInputs()[0], m_AnyZeroFloat()))
    return failure();
  Value x = matmul.getDpsInputs()[0];
  Value router = matmul.getDpsInputs()[1];
  auto xType = dyn_cast<RankedTensorType>(x.getType());
  auto routerType = dyn_cast<RankedTensorType>(router.getType());
  if (!xType || !routerType || xType.getRank() != 2 ||
      routerType.getRank() != 2 ||
      !isa<Float32Type, BFloat16Type, Float16Type>(xType.getElementType()) ||
      !isa<Float32Type, BFloat16Type, Float16Type>(
          routerType.getElementType()) ||
      ShapedType::isDynamic(routerType.getDimSize(0)))
    return failure();
  return RouterMatmul{x, router};
}

/// True for a linalg.softmax over the last dimension of a rank-2 tensor.
bool isSoftmaxOverExperts(linalg::SoftmaxOp softmax) {
  auto type = cast<RankedTensorType>(softmax.getInput().getType());
  return type.getRank() == 2 && softmax.getDimension() == 1;
}

/// The route's i32 indices in the element type the replaced top-k had.
Value castIndices(PatternRewriter &rewriter, Location loc, Value indices,
                  Type type) {
  if (indices.getType() == type)
    return indices;
  return arith::ExtSIOp::create(rewriter, loc, type, indices);
}

/// softmax over experts -> moe.topk  ==>  moe.route score(softmax).
struct FuseSoftmaxThenTopK : OpRewritePattern<TopKOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(TopKOp topk,
                                PatternRewriter &rewriter) const override {
    auto softmax = topk.getInput().getDefiningOp<linalg::SoftmaxOp>();
    if (!softmax || !isSoftmaxOverExperts(softmax))
      return rewriter.notifyMatchFailure(topk, "input is not a softmax over "
                                               "the last dimension");
    if (!softmax->getResult(0).hasOneUse())
      return rewriter.notifyMatchFailure(topk, "the scores have other uses");
    FailureOr<RouterMatmul> matmul = matchRouterMatmul(softmax.getInput());
    if (failed(matmul))
      return rewriter.notifyMatchFailure(topk, "no router matmul");
    if (!topk.getValues().getType().getElementType().isF32())
      return failure();
    auto route = RouteOp::create(rewriter, topk.getLoc(), matmul->x,
                                 matmul->router, /*bias=*/Value(),
                                 topk.getKAttr().getInt());
    route.setScore(ScoreFunction::Softmax);
    Value weights = route.getWeights();
    if (weights.getType() != topk.getValues().getType())
      weights = tensor::CastOp::create(rewriter, topk.getLoc(),
                                       topk.getValues().getType(), weights);
    Value indices = castIndices(rewriter, topk.getLoc(), route.getIndices(),
                                topk.getIndices().getType());
    rewriter.replaceOp(topk, {weights, indices});
    return success();
  }
};

/// moe.topk of the logits -> softmax of the top-k values  ==>
/// moe.route score(softmax_topk).
struct FuseTopKThenSoftmax : OpRewritePattern<TopKOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(TopKOp topk,
                                PatternRewriter &rewriter) const override {
    FailureOr<RouterMatmul> matmul = matchRouterMatmul(topk.getInput());
    if (failed(matmul))
      return rewriter.notifyMatchFailure(topk, "input is not a router matmul");
    Value values = topk.getValues();
    if (!values.hasOneUse())
      return rewriter.notifyMatchFailure(topk, "the top-k logits have other "
                                               "uses");
    auto softmax = dyn_cast<linalg::SoftmaxOp>(*values.getUsers().begin());
    if (!softmax || softmax.getInput() != values ||
        !isSoftmaxOverExperts(softmax))
      return rewriter.notifyMatchFailure(topk, "the top-k logits do not feed "
                                               "a softmax over the last "
                                               "dimension");
    // At the top-k, so the route dominates every use of the indices.
    rewriter.setInsertionPoint(topk);
    auto route = RouteOp::create(rewriter, topk.getLoc(), matmul->x,
                                 matmul->router, /*bias=*/Value(),
                                 topk.getKAttr().getInt());
    route.setScore(ScoreFunction::SoftmaxTopk);
    Value weights = route.getWeights();
    Type softmaxType = softmax->getResult(0).getType();
    if (weights.getType() != softmaxType)
      weights = tensor::CastOp::create(rewriter, topk.getLoc(), softmaxType,
                                       weights);
    Value indices = castIndices(rewriter, topk.getLoc(), route.getIndices(),
                                topk.getIndices().getType());
    rewriter.replaceOp(softmax, weights);
    rewriter.replaceAllUsesWith(topk.getIndices(), indices);
    rewriter.eraseOp(topk);
    return success();
  }
};

struct MoEFuseGatingPass
    : public mlir::moe::impl::MoEFuseGatingPassBase<MoEFuseGatingPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMoEFuseGatingPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace

void mlir::moe::populateMoEFuseGatingPatterns(RewritePatternSet &patterns) {
  patterns.add<FuseSoftmaxThenTopK, FuseTopKThenSoftmax>(
      patterns.getContext());
}
