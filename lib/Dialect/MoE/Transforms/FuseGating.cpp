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
    auto route =
        RouteOp::create(rewriter, topk.getLoc(), matmul->x, matmul->router,
                        /*bias=*/Value(), topk.getKAttr().getInt());
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
    auto route =
        RouteOp::create(rewriter, topk.getLoc(), matmul->x, matmul->router,
                        /*bias=*/Value(), topk.getKAttr().getInt());
    route.setScore(ScoreFunction::SoftmaxTopk);
    Value weights = route.getWeights();
    Type softmaxType = softmax->getResult(0).getType();
    if (weights.getType() != softmaxType)
      weights =
          tensor::CastOp::create(rewriter, topk.getLoc(), softmaxType, weights);
    Value indices = castIndices(rewriter, topk.getLoc(), route.getIndices(),
                                topk.getIndices().getType());
    rewriter.replaceOp(softmax, weights);
    rewriter.replaceAllUsesWith(topk.getIndices(), indices);
    rewriter.eraseOp(topk);
    return success();
  }
};

/// True when `block` is `yield (lhs <op> rhs)` of its first two arguments
/// (in this order, or either order when `commutative`).
template <typename BinaryOpTy>
bool isBinaryBody(Block &block, bool commutative) {
  if (block.getOperations().size() != 2 || block.getNumArguments() < 2)
    return false;
  auto binary = dyn_cast<BinaryOpTy>(block.front());
  auto yield = dyn_cast<linalg::YieldOp>(block.back());
  if (!binary || !yield || yield.getNumOperands() != 1 ||
      yield.getOperand(0) != binary.getResult())
    return false;
  Value first = block.getArgument(0), second = block.getArgument(1);
  if (binary.getLhs() == first && binary.getRhs() == second)
    return true;
  return commutative && binary.getLhs() == second && binary.getRhs() == first;
}

/// moe.route -> divide its weights by their sum over the top-k (a
/// linalg.reduce add over dimension 1 and an elementwise linalg.generic
/// divide broadcasting the sum)  ==>  moe.route normalize. The route's
/// zero-sum rule only differs where every selected score is 0, which
/// softmax and sigmoid scores never are.
struct FuseRouteNormalization : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RouteOp route,
                                PatternRewriter &rewriter) const override {
    if (route.getNormalize() || route.getScale().convertToFloat() != 1.0f)
      return rewriter.notifyMatchFailure(route, "already normalized or "
                                                "scaled");
    Value weights = route.getWeights();
    linalg::ReduceOp reduce;
    linalg::GenericOp divide;
    for (Operation *user : weights.getUsers()) {
      if (auto candidate = dyn_cast<linalg::ReduceOp>(user))
        reduce = candidate;
      else if (auto candidate = dyn_cast<linalg::GenericOp>(user))
        divide = candidate;
      else
        return rewriter.notifyMatchFailure(route, "the weights have another "
                                                  "use");
    }
    if (!reduce || !divide ||
        std::distance(weights.getUses().begin(), weights.getUses().end()) != 2)
      return rewriter.notifyMatchFailure(route, "no sum and divide");
    // sum[t] = Σ_k weights[t, k], from a zero-filled accumulator.
    if (reduce.getNumDpsInputs() != 1 || reduce.getDimensions().size() != 1 ||
        reduce.getDimensions()[0] != 1 ||
        !isBinaryBody<arith::AddFOp>(reduce.getCombiner().front(), true))
      return rewriter.notifyMatchFailure(route, "not a sum over the top-k");
    auto fill = reduce.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
    if (!fill || !matchPattern(fill.getInputs()[0], m_AnyZeroFloat()))
      return rewriter.notifyMatchFailure(route, "the sum does not start at 0");
    Value sum = reduce->getResult(0);
    if (!sum.hasOneUse())
      return rewriter.notifyMatchFailure(route, "the sum has other uses");
    // normalized[t, k] = weights[t, k] / sum[t].
    MLIRContext *context = rewriter.getContext();
    AffineMap identity = AffineMap::getMultiDimIdentityMap(2, context);
    AffineMap perToken =
        AffineMap::get(2, 0, {getAffineDimExpr(0, context)}, context);
    if (divide.getNumDpsInputs() != 2 || divide.getDpsInputs()[0] != weights ||
        divide.getDpsInputs()[1] != sum ||
        divide.getIndexingMapsArray() !=
            SmallVector<AffineMap>{identity, perToken, identity} ||
        divide.getNumReductionLoops() != 0 ||
        !isBinaryBody<arith::DivFOp>(divide.getRegion().front(), false))
      return rewriter.notifyMatchFailure(route, "not a divide by the sum");
    rewriter.modifyOpInPlace(route, [&] { route.setNormalize(true); });
    Value replacement = weights;
    if (replacement.getType() != divide->getResult(0).getType())
      replacement =
          tensor::CastOp::create(rewriter, divide.getLoc(),
                                 divide->getResult(0).getType(), replacement);
    rewriter.replaceOp(divide, replacement);
    rewriter.eraseOp(reduce);
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
  patterns
      .add<FuseSoftmaxThenTopK, FuseTopKThenSoftmax, FuseRouteNormalization>(
          patterns.getContext());
}
