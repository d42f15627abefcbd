//===- RaiseDenseFFN.cpp - Dense SwiGLU FFNs as one-expert moe.experts
//-----===//
//
// The `moe-raise-dense-ffn` pass: a dense SwiGLU FFN written as linalg ops
//
//   g = h · Wgᵀ, u = h · Wuᵀ     (transposed-B linalg.matmul, zero-filled)
//   a = silu(g) · u              (one elementwise linalg.generic)
//   y = a · Wdᵀ                  (transposed-B linalg.matmul, zero-filled)
//
// becomes a moe.experts with one expert that every token goes to, the
// weights viewed as [1, F, D] and [1, D, F] (as moe-decompose does with a
// layer's shared experts). The tiled expert kernels then run it: decode
// streams each weight once with the cores sharing F, prefill runs the
// register-blocked gemm, and in a moe.repeat each core reads the same
// F-tiles in every iteration, so a block whose weights fit the cache is read
// from there after the first. As plain linalg loops the FFN ran a scalar
// dot product per output element.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOERAISEDENSEFFNPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The operands of a projection y = x · Wᵀ.
struct Projection {
  Value input;
  Value weight;
};

/// Matches `value` as the result of a transposed-B linalg.matmul of a rank-2
/// float input against a static rank-2 float weight into a zero-filled
/// accumulator of `value`'s type.
FailureOr<Projection> matchProjection(Value value) {
  auto matmul = value.getDefiningOp<linalg::MatmulOp>();
  if (!matmul || !isa<linalg::MatmulTransposeBOp>(matmul.getOperation()))
    return failure();
  auto fill = matmul.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
  if (!fill || !matchPattern(fill.getInputs()[0], m_AnyZeroFloat()))
    return failure();
  Value input = matmul.getDpsInputs()[0];
  Value weight = matmul.getDpsInputs()[1];
  auto inputType = dyn_cast<RankedTensorType>(input.getType());
  auto weightType = dyn_cast<RankedTensorType>(weight.getType());
  if (!inputType || !weightType || inputType.getRank() != 2 ||
      weightType.getRank() != 2 || !weightType.hasStaticShape() ||
      !isa<FloatType>(inputType.getElementType()) ||
      !isa<FloatType>(weightType.getElementType()))
    return failure();
  return Projection{input, weight};
}

/// Whether `value` (in the body of `block`) is silu of the block argument
/// `x`: x / (1 + exp(-x)) or x · (1 / (1 + exp(-x))), the 1 on either side
/// of the add and -x as negf or 0 - x.
bool isSilu(Value value, BlockArgument x) {
  auto isOne = [](Value v) { return matchPattern(v, m_OneFloat()); };
  auto isExpOfMinusX = [&](Value v) {
    auto exp = v.getDefiningOp<math::ExpOp>();
    if (!exp)
      return false;
    Value argument = exp.getOperand();
    if (auto negate = argument.getDefiningOp<arith::NegFOp>())
      return negate.getOperand() == x;
    auto subtract = argument.getDefiningOp<arith::SubFOp>();
    return subtract && matchPattern(subtract.getLhs(), m_AnyZeroFloat()) &&
           subtract.getRhs() == x;
  };
  auto isOnePlusExp = [&](Value v) {
    auto add = v.getDefiningOp<arith::AddFOp>();
    return add && ((isOne(add.getLhs()) && isExpOfMinusX(add.getRhs())) ||
                   (isOne(add.getRhs()) && isExpOfMinusX(add.getLhs())));
  };
  if (auto divide = value.getDefiningOp<arith::DivFOp>())
    return divide.getLhs() == x && isOnePlusExp(divide.getRhs());
  auto multiply = value.getDefiningOp<arith::MulFOp>();
  if (!multiply)
    return false;
  auto isSigmoid = [&](Value v) {
    auto divide = v.getDefiningOp<arith::DivFOp>();
    return divide && isOne(divide.getLhs()) && isOnePlusExp(divide.getRhs());
  };
  return (multiply.getLhs() == x && isSigmoid(multiply.getRhs())) ||
         (multiply.getRhs() == x && isSigmoid(multiply.getLhs()));
}

/// Matches `activated` as one elementwise linalg.generic computing
/// silu(gate) · up of two same-shaped inputs (identity maps, all parallel);
/// returns {gate, up}.
FailureOr<std::pair<Value, Value>> matchSwiGLU(Value activated) {
  auto generic = activated.getDefiningOp<linalg::GenericOp>();
  if (!generic || generic.getNumDpsInputs() != 2 ||
      generic.getNumDpsInits() != 1 ||
      generic.getNumLoops() != generic.getNumParallelLoops() ||
      !llvm::all_of(generic.getIndexingMapsArray(),
                    [](AffineMap map) { return map.isIdentity(); }))
    return failure();
  Block &body = *generic.getBlock();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto product = yield.getValues()[0].getDefiningOp<arith::MulFOp>();
  if (!product)
    return failure();
  BlockArgument gate = body.getArgument(0), up = body.getArgument(1);
  // silu(gate) · up, the factors in either order.
  if (!((isSilu(product.getLhs(), gate) && product.getRhs() == up) ||
        (isSilu(product.getRhs(), gate) && product.getLhs() == up)))
    return failure();
  return std::make_pair(generic.getDpsInputs()[0], generic.getDpsInputs()[1]);
}

/// y = (silu(h · Wgᵀ) · (h · Wuᵀ)) · Wdᵀ -> moe.experts with one expert.
struct RaiseSwiGLU : OpRewritePattern<linalg::MatmulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::MatmulOp down,
                                PatternRewriter &rewriter) const override {
    if (down->getNumResults() != 1)
      return failure();
    Value output = down->getResult(0);
    FailureOr<Projection> downProjection = matchProjection(output);
    if (failed(downProjection))
      return rewriter.notifyMatchFailure(down, "not a projection");
    Value activated = downProjection->input;
    FailureOr<std::pair<Value, Value>> swiglu = matchSwiGLU(activated);
    if (failed(swiglu))
      return rewriter.notifyMatchFailure(down, "input is not silu(g) * u");
    FailureOr<Projection> gate = matchProjection(swiglu->first);
    FailureOr<Projection> up = matchProjection(swiglu->second);
    if (failed(gate) || failed(up) || gate->input != up->input)
      return rewriter.notifyMatchFailure(
          down, "gate and up are not projections of one input");
    // The intermediates go away: they must have no other use.
    if (!activated.hasOneUse() || !swiglu->first.hasOneUse() ||
        !swiglu->second.hasOneUse() || swiglu->first == swiglu->second)
      return rewriter.notifyMatchFailure(down,
                                         "an intermediate has other uses");

    Value rows = gate->input;
    auto rowsType = cast<RankedTensorType>(rows.getType());
    auto outputType = cast<RankedTensorType>(output.getType());
    auto gateType = cast<RankedTensorType>(gate->weight.getType());
    auto upType = cast<RankedTensorType>(up->weight.getType());
    auto downType = cast<RankedTensorType>(downProjection->weight.getType());
    int64_t model = gateType.getDimSize(1), hidden = gateType.getDimSize(0);
    // moe.experts returns its rows' type: [T, D] in, [T, D] out.
    if (outputType != rowsType || rowsType.getDimSize(1) != model ||
        upType.getShape() != gateType.getShape() ||
        downType.getDimSize(0) != model || downType.getDimSize(1) != hidden ||
        !llvm::all_equal({gateType.getElementType(), upType.getElementType(),
                          downType.getElementType()}))
      return rewriter.notifyMatchFailure(down, "shapes or types differ");
    auto activatedType = cast<RankedTensorType>(activated.getType());
    if (!activatedType.getElementType().isF32())
      return rewriter.notifyMatchFailure(down, "activation not in f32");

    Value experts = buildOneExpertFFN(
        rewriter, down.getLoc(), rows, gate->weight, up->weight,
        downProjection->weight, Activation::SiluGlu);
    rewriter.replaceOp(down, experts);
    return success();
  }
};

struct MoERaiseDenseFFNPass
    : public mlir::moe::impl::MoERaiseDenseFFNPassBase<MoERaiseDenseFFNPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMoERaiseDenseFFNPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace

void mlir::moe::populateMoERaiseDenseFFNPatterns(RewritePatternSet &patterns) {
  patterns.add<RaiseSwiGLU>(patterns.getContext());
}
