//===- FuseGating.cpp - Fuse unfused router chains into moe.route ---------===//
//
// The `moe-fuse-gating` pass: the router chains that importers emit become
// one moe.route, so that the lowering computes a token's logits, scores and
// top-k in one loop nest. Recognized, each with the router logits coming
// from a transposed-B linalg.matmul:
//
//  * scores -> moe.topk, the scores a softmax over the experts or an
//    elementwise sigmoid (route score softmax / sigmoid);
//  * moe.topk of the logits -> softmax of the selected logits
//    (softmax_topk);
//  * scores + a per-expert bias -> moe.topk, the weights gathered from the
//    unbiased scores at the selected indices (route bias, DeepSeek-V3);
//  * after a route: its weights divided by their sum (normalize), then
//    multiplied by a positive constant (scale).
//
// Elementwise steps are matched through ElementwiseView, which sees the same
// computation whether the importer wrote one linalg.generic with a scalar
// body, a chain of single-op generics or named elementwise linalg ops (what
// convert-elementwise-to-linalg produces), or arith/math ops on tensors.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>
#include <optional>

namespace mlir::moe {
#define GEN_PASS_DEF_MOEFUSEGATINGPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

//===----------------------------------------------------------------------===//
// Elementwise computations
//===----------------------------------------------------------------------===//

/// True for a linalg op whose loops are all parallel and whose result
/// `resultNumber` is written at the loop position (identity output map): the
/// element at a position depends only on the input elements that the
/// input maps select for that position.
bool isParallelWithIdentityResult(linalg::LinalgOp op, unsigned resultNumber) {
  if (!op.getBlock() || op.getNumLoops() != op.getNumParallelLoops() ||
      resultNumber >= op->getNumResults())
    return false;
  return op.getMatchingIndexingMap(op.getDpsInitOperand(resultNumber))
      .isIdentity();
}

/// A view of elementwise computations that ignores how the importer split
/// them into ops. For an elementwise computation, "the element at one
/// position" is the same scalar whether it is an op in the body of a
/// linalg.generic (or linalg.map, or a named op such as linalg.exp), the
/// result of a chain of such ops, or an arith/math op on whole tensors; so
/// a matcher can ask which op defines a value and get the same answer in
/// each form:
///
///  * a result of a parallel linalg op with an identity output map stands
///    for the value its body yields;
///  * a block argument of such an op stands for the input it reads, when it
///    reads it at the loop position (identity map) or the input is a splat
///    constant (any map).
///
/// The view records the tensors it looks through, so that a pattern can
/// check that the chain it replaces has no other users.
class ElementwiseView {
public:
  /// The value behind `value`, recording the tensors looked through.
  Value follow(Value value) { return resolve(value, &lookedThrough); }

  /// The op of type OpTy behind `value`, or null. Records the tensors looked
  /// through (and the op's own result, when it is a tensor) only on a match.
  template <typename OpTy> OpTy match(Value value) {
    SmallVector<Value> path;
    Value resolved = resolve(value, &path);
    auto op = resolved.getDefiningOp<OpTy>();
    if (!op)
      return nullptr;
    llvm::append_range(lookedThrough, path);
    if (isa<TensorType>(resolved.getType()))
      lookedThrough.push_back(resolved);
    return op;
  }

  /// The value of a splat float constant behind `value` (a scalar
  /// arith.constant, a splat dense tensor, or a linalg.fill of one).
  /// Constants may be shared, so nothing is recorded.
  std::optional<APFloat> getSplatConstant(Value value) {
    APFloat constant(APFloat::Bogus());
    if (matchPattern(resolve(value, /*path=*/nullptr),
                     m_ConstantFloat(&constant)))
      return constant;
    return std::nullopt;
  }

  /// True when `value` is a splat float constant equal to `expected`.
  bool isSplatConstant(Value value, double expected) {
    std::optional<APFloat> constant = getSplatConstant(value);
    return constant && constant->isExactlyValue(expected);
  }

  /// Records `tensor` (with its defining op) as part of the chain, for a
  /// step the view does not take itself (e.g. a linalg.softmax).
  void addIntermediate(Value tensor) { lookedThrough.push_back(tensor); }

  /// True when every user of `tensor` is an op of the chain (one that
  /// defines a tensor the view looked through), or is or lies in one of
  /// `alsoAllowed`. A use as the destination of a chain op counts as in the
  /// chain, since convert-elementwise-to-linalg writes each generic into its
  /// first operand.
  bool isOnlyUsedInChain(Value tensor,
                         ArrayRef<Operation *> alsoAllowed = {}) const {
    return llvm::all_of(tensor.getUsers(), [&](Operation *user) {
      return llvm::any_of(
                 alsoAllowed,
                 [&](Operation *op) { return op->isAncestor(user); }) ||
             llvm::any_of(lookedThrough, [&](Value intermediate) {
               return intermediate.getDefiningOp() == user;
             });
    });
  }

  /// True when every tensor looked through, except the `ends` of the chain
  /// (whose uses the caller checks), is only used in the chain: replacing
  /// the ends makes all of them dead.
  bool ownsIntermediates(ValueRange ends) const {
    return llvm::all_of(lookedThrough, [&](Value tensor) {
      return llvm::is_contained(ends, tensor) || isOnlyUsedInChain(tensor);
    });
  }

private:
  Value resolve(Value value, SmallVectorImpl<Value> *path) {
    while (true) {
      if (auto result = dyn_cast<OpResult>(value)) {
        auto linalgOp = dyn_cast<linalg::LinalgOp>(result.getOwner());
        if (!linalgOp ||
            !isParallelWithIdentityResult(linalgOp, result.getResultNumber()))
          return value;
        if (path)
          path->push_back(value);
        value = linalgOp
                    .getMatchingYieldValue(
                        linalgOp.getDpsInitOperand(result.getResultNumber()))
                    ->get();
        continue;
      }
      auto argument = cast<BlockArgument>(value);
      auto linalgOp = dyn_cast_or_null<linalg::LinalgOp>(
          argument.getOwner()->getParentOp());
      if (!linalgOp || argument.getOwner() != linalgOp.getBlock() ||
          linalgOp.getNumLoops() != linalgOp.getNumParallelLoops())
        return value;
      OpOperand *operand = linalgOp.getMatchingOpOperand(argument);
      if (!linalgOp.isDpsInput(operand))
        return value;
      if (!linalgOp.getMatchingIndexingMap(operand).isIdentity() &&
          !getSplatConstant(operand->get()))
        return value;
      value = operand->get();
    }
  }

  SmallVector<Value> lookedThrough;
};

/// Matches `value` as sigmoid(x) = 1 / (1 + exp(-x)) and returns x. This is
/// how torch-mlir, StableHLO (logistic) and TOSA lower a sigmoid, and how
/// convert-moe-to-linalg lowers the route's; the 1 may be on either side of
/// the add, and -x may be written 0 - x.
Value matchSigmoid(ElementwiseView &view, Value value) {
  auto divide = view.match<arith::DivFOp>(value);
  if (!divide || !view.isSplatConstant(divide.getLhs(), 1.0))
    return Value();
  auto add = view.match<arith::AddFOp>(divide.getRhs());
  if (!add)
    return Value();
  Value exponential = add.getRhs();
  if (!view.isSplatConstant(add.getLhs(), 1.0)) {
    if (!view.isSplatConstant(add.getRhs(), 1.0))
      return Value();
    exponential = add.getLhs();
  }
  auto exp = view.match<math::ExpOp>(exponential);
  if (!exp)
    return Value();
  if (auto negate = view.match<arith::NegFOp>(exp.getOperand()))
    return view.follow(negate.getOperand());
  auto subtract = view.match<arith::SubFOp>(exp.getOperand());
  if (subtract && view.isSplatConstant(subtract.getLhs(), 0.0))
    return view.follow(subtract.getRhs());
  return Value();
}

/// Matches `value`, an element of a T x E elementwise computation, as the
/// element e of a vector broadcast over the tokens: an input of a parallel
/// linalg op read with the map (t, e) -> (e), or a 1 x E input read with
/// (t, e) -> (0, e) (how torch-mlir broadcasts a unit dimension). Returns
/// that input.
Value matchBroadcastOverTokens(ElementwiseView &view, Value value) {
  auto argument = dyn_cast<BlockArgument>(view.follow(value));
  if (!argument)
    return Value();
  auto linalgOp =
      dyn_cast_or_null<linalg::LinalgOp>(argument.getOwner()->getParentOp());
  if (!linalgOp || argument.getOwner() != linalgOp.getBlock() ||
      linalgOp.getNumLoops() != 2)
    return Value();
  OpOperand *operand = linalgOp.getMatchingOpOperand(argument);
  if (!linalgOp.isDpsInput(operand))
    return Value();
  MLIRContext *context = linalgOp.getContext();
  AffineExpr expert = getAffineDimExpr(1, context);
  AffineMap map = linalgOp.getMatchingIndexingMap(operand);
  if (map == AffineMap::get(2, 0, {expert}, context) ||
      map == AffineMap::get(2, 0, {getAffineConstantExpr(0, context), expert},
                            context))
    return operand->get();
  return Value();
}

//===----------------------------------------------------------------------===//
// Routers
//===----------------------------------------------------------------------===//

/// The operands of a router matmul: logits = x · routerᵀ.
struct RouterMatmul {
  Value x;
  Value router;
};

/// Matches `logits` as the only result of a transposed-B linalg.matmul of a
/// T x D activation against an E x D weight into a zero-filled f32
/// accumulator. The caller checks the uses of `logits`.
FailureOr<RouterMatmul> matchRouterMatmul(Value logits) {
  if (!logits)
    return failure();
  auto matmul = logits.getDefiningOp<linalg::MatmulOp>();
  if (!matmul || !isa<linalg::MatmulTransposeBOp>(matmul.getOperation()))
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

/// A router up to its T x E scores: the matmul and the score function.
struct RouterScores {
  RouterMatmul matmul;
  ScoreFunction score;
};

/// Matches `scores` as softmax over the experts (linalg.softmax) or the
/// elementwise sigmoid of router logits. Records the logits and the
/// sigmoid's intermediates in `view`, for the caller to check their uses
/// (`scores` itself is an end of the chain).
FailureOr<RouterScores> matchRouterScores(Value scores, ElementwiseView &view) {
  auto type = dyn_cast<RankedTensorType>(scores.getType());
  if (!type || type.getRank() != 2 || !type.getElementType().isF32())
    return failure();
  if (auto softmax = scores.getDefiningOp<linalg::SoftmaxOp>()) {
    if (!isSoftmaxOverExperts(softmax))
      return failure();
    FailureOr<RouterMatmul> matmul = matchRouterMatmul(softmax.getInput());
    if (failed(matmul))
      return failure();
    view.addIntermediate(scores);
    view.addIntermediate(softmax.getInput());
    return RouterScores{*matmul, ScoreFunction::Softmax};
  }
  Value logits = matchSigmoid(view, scores);
  FailureOr<RouterMatmul> matmul = matchRouterMatmul(logits);
  if (failed(matmul))
    return failure();
  view.addIntermediate(logits);
  return RouterScores{*matmul, ScoreFunction::Sigmoid};
}

/// Matches `gathered` as gathered[t, k] = scores[t, indices[t, k]] and
/// returns scores. The form is the one torch-mlir emits for
/// `torch.gather(scores, 1, indices)`, and the one this project's lowerings
/// use for gathers (DESIGN.md: never tensor.gather): a linalg.generic over
/// T x K reading `indices` at the loop position, whose body is a
/// `tensor.extract` of scores at (linalg.index 0, index_cast(index)).
Value matchGatherAlongExperts(Value gathered, Value indices) {
  auto generic = gathered.getDefiningOp<linalg::GenericOp>();
  if (!generic || generic->getNumResults() != 1 ||
      generic.getNumDpsInputs() != 1 || generic.getDpsInputs()[0] != indices ||
      generic.getNumLoops() != 2 || !generic.isAllParallelLoops() ||
      !llvm::all_of(generic.getIndexingMapsArray(),
                    [](AffineMap map) { return map.isIdentity(); }))
    return Value();
  Block &body = generic.getRegion().front();
  auto extract =
      body.getTerminator()->getOperand(0).getDefiningOp<tensor::ExtractOp>();
  if (!extract || extract.getIndices().size() != 2)
    return Value();
  auto token = extract.getIndices()[0].getDefiningOp<linalg::IndexOp>();
  if (!token || token.getDim() != 0)
    return Value();
  Operation *expertCast = extract.getIndices()[1].getDefiningOp();
  if (!isa_and_nonnull<arith::IndexCastOp, arith::IndexCastUIOp>(expertCast) ||
      expertCast->getOperand(0) != body.getArgument(0))
    return Value();
  Value scores = extract.getTensor();
  if (generic.getRegion().isAncestor(scores.getParentRegion()))
    return Value();
  return scores;
}

/// The route's i32 indices in the element type the replaced top-k had.
Value castIndices(PatternRewriter &rewriter, Location loc, Value indices,
                  Type type) {
  if (indices.getType() == type)
    return indices;
  return arith::ExtSIOp::create(rewriter, loc, type, indices);
}

/// `value` in `type`, which differs from it at most in static dimensions.
Value castTo(PatternRewriter &rewriter, Location loc, Value value, Type type) {
  if (value.getType() == type)
    return value;
  return tensor::CastOp::create(rewriter, loc, type, value);
}

/// A new route of `router` with `bias`, taking the top `topK`.
RouteOp createRoute(PatternRewriter &rewriter, Location loc,
                    const RouterScores &router, Value bias, int64_t topK) {
  auto route = RouteOp::create(rewriter, loc, router.matmul.x,
                               router.matmul.router, bias, topK);
  route.setScore(router.score);
  return route;
}

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

/// softmax over experts or sigmoid -> moe.topk  ==>  moe.route
/// score(softmax | sigmoid): the top-k values are the weights.
struct FuseScoresThenTopK : OpRewritePattern<TopKOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(TopKOp topk,
                                PatternRewriter &rewriter) const override {
    Value scores = topk.getInput();
    ElementwiseView view;
    FailureOr<RouterScores> router = matchRouterScores(scores, view);
    if (failed(router))
      return rewriter.notifyMatchFailure(topk, "input is not a softmax over "
                                               "the experts or a sigmoid of "
                                               "router logits");
    if (!scores.hasOneUse() || !view.ownsIntermediates(scores))
      return rewriter.notifyMatchFailure(topk, "the scores or logits have "
                                               "other uses");
    auto route = createRoute(rewriter, topk.getLoc(), *router, /*bias=*/Value(),
                             topk.getKAttr().getInt());
    Value weights = castTo(rewriter, topk.getLoc(), route.getWeights(),
                           topk.getValues().getType());
    Value indices = castIndices(rewriter, topk.getLoc(), route.getIndices(),
                                topk.getIndices().getType());
    rewriter.replaceOp(topk, {weights, indices});
    return success();
  }
};

/// Selection on biased scores, weights from the unbiased ones (DeepSeek-V3's
/// `e_score_correction_bias`):
///
///   s = sigmoid(l) (or softmax(l));  sel = s + bias (bias: E, broadcast
///   over the tokens);  _, indices = moe.topk(sel);  weights = s[indices]
///
/// ==> moe.route bias(%bias) score(sigmoid | softmax). The gather is matched
/// by matchGatherAlongExperts; the top-k values (biased scores) must be
/// unused.
struct FuseBiasedSelection : OpRewritePattern<TopKOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(TopKOp topk,
                                PatternRewriter &rewriter) const override {
    if (!topk.getValues().use_empty())
      return rewriter.notifyMatchFailure(topk, "the biased top-k values are "
                                               "used");
    Value indices = topk.getIndices();
    Value gathered, scores;
    for (Operation *user : indices.getUsers()) {
      if (user->getNumResults() != 1)
        continue;
      scores = matchGatherAlongExperts(user->getResult(0), indices);
      if (scores) {
        gathered = user->getResult(0);
        break;
      }
    }
    if (!gathered)
      return rewriter.notifyMatchFailure(topk, "no gather of weights at the "
                                               "selected indices");

    // sel = scores + bias, the add written in either order.
    ElementwiseView view;
    auto add = view.match<arith::AddFOp>(topk.getInput());
    if (!add)
      return rewriter.notifyMatchFailure(topk, "the selection is not an add");
    Value scoreElement = view.follow(scores);
    Value bias;
    if (view.follow(add.getLhs()) == scoreElement)
      bias = matchBroadcastOverTokens(view, add.getRhs());
    else if (view.follow(add.getRhs()) == scoreElement)
      bias = matchBroadcastOverTokens(view, add.getLhs());
    if (!bias)
      return rewriter.notifyMatchFailure(topk, "the selection is not the "
                                               "gathered scores plus a "
                                               "per-expert bias");
    FailureOr<RouterScores> router = matchRouterScores(scores, view);
    if (failed(router))
      return rewriter.notifyMatchFailure(topk, "the gathered scores are not a "
                                               "softmax or sigmoid of router "
                                               "logits");
    // The scores feed the selection and the gather (a tensor.extract in its
    // body), nothing else.
    Value selection = topk.getInput();
    if (!selection.hasOneUse() ||
        !view.isOnlyUsedInChain(scores, gathered.getDefiningOp()) ||
        !view.ownsIntermediates({selection, scores}))
      return rewriter.notifyMatchFailure(topk, "the scores or the selection "
                                               "have other uses");
    auto biasType = dyn_cast<RankedTensorType>(bias.getType());
    if (!biasType || !biasType.getElementType().isF32())
      return rewriter.notifyMatchFailure(topk, "the bias is not f32");
    if (biasType.getRank() == 2) {
      if (biasType.getDimSize(0) != 1)
        return rewriter.notifyMatchFailure(topk, "the bias is not 1 x E");
      // The 1 x E row of `bias.unsqueeze(0)`: route the E-vector itself.
      auto expand = bias.getDefiningOp<tensor::ExpandShapeOp>();
      if (expand && expand.getSrcType().getRank() == 1)
        bias = expand.getSrc();
      else
        bias = tensor::CollapseShapeOp::create(
            rewriter, topk.getLoc(), bias,
            SmallVector<ReassociationIndices>{{0, 1}});
    }

    // At the top-k, which the bias and router operands dominate (they feed
    // the selection) and which dominates every use of the indices and of
    // the gathered weights.
    auto route = createRoute(rewriter, topk.getLoc(), *router, bias,
                             topk.getKAttr().getInt());
    Value weights =
        castTo(rewriter, topk.getLoc(), route.getWeights(), gathered.getType());
    Value routeIndices = castIndices(rewriter, topk.getLoc(),
                                     route.getIndices(), indices.getType());
    rewriter.replaceOp(gathered.getDefiningOp(), weights);
    rewriter.replaceAllUsesWith(indices, routeIndices);
    rewriter.eraseOp(topk);
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
    if (!topk.getInput().hasOneUse())
      return rewriter.notifyMatchFailure(topk, "the logits have other uses");
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
    auto route = createRoute(rewriter, topk.getLoc(),
                             {*matmul, ScoreFunction::SoftmaxTopk},
                             /*bias=*/Value(), topk.getKAttr().getInt());
    Value weights = castTo(rewriter, topk.getLoc(), route.getWeights(),
                           softmax->getResult(0).getType());
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
/// zero-sum rule (weights stay 0) only differs from the chain's 0 / 0 = NaN
/// where every selected score is exactly 0: never for softmax (the best
/// score is at least 1/E), and for sigmoid only where every selected logit
/// is below about -88, so that exp(-l) overflows.
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
    rewriter.setInsertionPoint(divide);
    Value replacement = castTo(rewriter, divide.getLoc(), weights,
                               divide->getResult(0).getType());
    rewriter.replaceOp(divide, replacement);
    rewriter.eraseOp(reduce);
    return success();
  }
};

/// moe.route -> its weights times a constant c (the routed scaling factor of
/// DeepSeek-V2/V3), elementwise in any form ElementwiseView sees  ==>
/// moe.route scale(c). Only for the route's own scale range (finite, > 0),
/// and only on an unscaled route: w * s * c and w * (s * c) round
/// differently. A normalization before the multiply has been fused by then
/// (it needs the weights' only two uses), so the route applies both in the
/// chain's order.
struct FuseRouteScale : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RouteOp route,
                                PatternRewriter &rewriter) const override {
    if (route.getScale().convertToFloat() != 1.0f)
      return rewriter.notifyMatchFailure(route, "already scaled");
    // One op (a generic may also write into the weights, as
    // convert-elementwise-to-linalg does) uses the weights: the multiply.
    Value weights = route.getWeights();
    if (weights.use_empty())
      return rewriter.notifyMatchFailure(route, "no scaling of the weights");
    Operation *user = *weights.getUsers().begin();
    if (!llvm::all_of(weights.getUsers(),
                      [&](Operation *other) { return other == user; }))
      return rewriter.notifyMatchFailure(route, "the weights have other uses");
    if (user->getNumResults() != 1)
      return rewriter.notifyMatchFailure(route, "no scaling of the weights");
    Value scaled = user->getResult(0);
    auto scaledType = dyn_cast<RankedTensorType>(scaled.getType());
    if (!scaledType || !scaledType.getElementType().isF32())
      return rewriter.notifyMatchFailure(route, "no f32 scaling of the "
                                                "weights");
    ElementwiseView view;
    auto multiply = view.match<arith::MulFOp>(scaled);
    if (!multiply)
      return rewriter.notifyMatchFailure(route, "no multiply of the weights");
    std::optional<APFloat> factor;
    if (view.follow(multiply.getLhs()) == weights)
      factor = view.getSplatConstant(multiply.getRhs());
    else if (view.follow(multiply.getRhs()) == weights)
      factor = view.getSplatConstant(multiply.getLhs());
    if (!factor || &factor->getSemantics() != &APFloat::IEEEsingle())
      return rewriter.notifyMatchFailure(route, "the weights are not "
                                                "multiplied by an f32 "
                                                "constant");
    float scale = factor->convertToFloat();
    if (!std::isfinite(scale) || scale <= 0.0f)
      return rewriter.notifyMatchFailure(route, "the factor is not finite "
                                                "and > 0");
    if (!view.ownsIntermediates(scaled))
      return rewriter.notifyMatchFailure(route, "an intermediate of the "
                                                "multiply has other uses");
    rewriter.modifyOpInPlace(
        route, [&] { route.setScaleAttr(rewriter.getF32FloatAttr(scale)); });
    rewriter.setInsertionPoint(user);
    rewriter.replaceOp(user,
                       castTo(rewriter, user->getLoc(), weights, scaledType));
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
  patterns.add<FuseScoresThenTopK, FuseBiasedSelection, FuseTopKThenSoftmax,
               FuseRouteNormalization, FuseRouteScale>(patterns.getContext());
}
