//===- Decompose.cpp - Expand moe.layer into its parts --------------------===//
//
// moe.layer -> moe.route + moe.dispatch + moe.experts + moe.combine, plus,
// for shared experts, a second moe.experts with one expert that every
// token goes to, added to the routed output.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace mlir::moe {
#define GEN_PASS_DEF_MOEDECOMPOSEPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

Value mlir::moe::buildActivation(OpBuilder &builder, Location loc,
                                 Activation activation, Value value) {
  Type type = value.getType();
  // Scalars and vectors alike (the expert kernels apply it to vectors).
  Type elementType = getElementTypeOrSelf(type);
  auto constant = [&](double number) -> Value {
    FloatAttr scalar = builder.getFloatAttr(elementType, number);
    if (auto vectorType = dyn_cast<VectorType>(type))
      return arith::ConstantOp::create(
          builder, loc, vectorType,
          DenseElementsAttr::get(vectorType, Attribute(scalar)));
    return arith::ConstantOp::create(builder, loc, type, scalar);
  };
  switch (activation) {
  case Activation::Relu:
    return arith::MaximumFOp::create(builder, loc, value, constant(0.0));
  case Activation::Silu:
  case Activation::SiluGlu: {
    // silu(v) = v * sigmoid(v) = v / (1 + exp(-v)).
    Value negated = arith::NegFOp::create(builder, loc, value);
    Value exp = math::ExpOp::create(builder, loc, negated);
    Value denominator = arith::AddFOp::create(builder, loc, constant(1.0), exp);
    return arith::DivFOp::create(builder, loc, value, denominator);
  }
  case Activation::Gelu:
  case Activation::GeluGlu: {
    // The exact GELU: 0.5 * v * (1 + erf(v / sqrt(2))).
    Value scaled =
        arith::MulFOp::create(builder, loc, value, constant(M_SQRT1_2));
    Value erf = math::ErfOp::create(builder, loc, scaled);
    Value onePlus = arith::AddFOp::create(builder, loc, constant(1.0), erf);
    Value half = arith::MulFOp::create(builder, loc, value, constant(0.5));
    return arith::MulFOp::create(builder, loc, half, onePlus);
  }
  }
  llvm_unreachable("unknown activation");
}

namespace {

/// Sizes of a T x `columns` tensor shaped like the rows of `x`.
SmallVector<OpFoldResult> rowSizes(OpBuilder &builder, Location loc, Value x,
                                   int64_t columns) {
  return {tensor::getMixedSize(builder, loc, x, 0),
          builder.getIndexAttr(columns)};
}

/// A zero-filled f32 T x `columns` accumulator.
Value zeroAccumulator(OpBuilder &builder, Location loc, Value x,
                      int64_t columns) {
  Type f32 = builder.getF32Type();
  Value empty = tensor::EmptyOp::create(
      builder, loc, rowSizes(builder, loc, x, columns), f32);
  Value zero = arith::ConstantOp::create(builder, loc, f32,
                                         builder.getF32FloatAttr(0.0f));
  return linalg::FillOp::create(builder, loc, zero, empty).getResult(0);
}

/// lhs · rhsᵀ for lhs: T x IN and rhs: OUT x IN (nn.Linear), accumulated in
/// f32.
Value linearF32(OpBuilder &builder, Location loc, Value lhs, Value rhs) {
  int64_t outFeatures = cast<ShapedType>(rhs.getType()).getDimSize(0);
  Value accumulator = zeroAccumulator(builder, loc, lhs, outFeatures);
  return linalg::MatmulTransposeBOp::create(
             builder, loc, TypeRange{accumulator.getType()},
             ValueRange{lhs, rhs}, ValueRange{accumulator})
      .getResult(0);
}

/// An elementwise linalg.generic over T x N tensors of the given inputs
/// (identity maps, or `(t, n) -> (t, 0)` for N = 1 broadcast inputs).
Value elementwise(OpBuilder &builder, Location loc, ValueRange inputs,
                  Type resultElement, Value shapeSource,
                  function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  auto shapeType = cast<ShapedType>(shapeSource.getType());
  int64_t columns = shapeType.getDimSize(1);
  Value init = tensor::EmptyOp::create(
      builder, loc, rowSizes(builder, loc, shapeSource, columns),
      resultElement);
  MLIRContext *context = builder.getContext();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(2, context);
  AffineMap broadcastColumn = AffineMap::get(
      2, 0, {getAffineDimExpr(0, context), getAffineConstantExpr(0, context)},
      context);
  SmallVector<AffineMap> maps;
  for (Value input : inputs) {
    bool isColumn =
        cast<ShapedType>(input.getType()).getDimSize(1) == 1 && columns != 1;
    maps.push_back(isColumn ? broadcastColumn : identity);
  }
  maps.push_back(identity);
  SmallVector<utils::IteratorType> iterators(2, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      builder, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value result = body(nested, nestedLoc, args.drop_back());
        linalg::YieldOp::create(nested, nestedLoc, result);
      });
  return generic.getResult(0);
}

/// Converts a float scalar to `type` (extend or truncate).
Value convertFloat(OpBuilder &builder, Location loc, Value value, Type type) {
  unsigned from = value.getType().getIntOrFloatBitWidth();
  unsigned to = type.getIntOrFloatBitWidth();
  if (value.getType() == type)
    return value;
  if (from < to)
    return arith::ExtFOp::create(builder, loc, type, value);
  return arith::TruncFOp::create(builder, loc, type, value);
}

/// The shared-expert FFN of `layer` on x (T x D, in x's element type; in f32
/// scaled by the shared-expert gate when there is one). It is a moe.experts
/// with one expert that every token goes to (segments [0, T]), its weights
/// viewed as [1, F, D] and [1, D, F]: the tiled expert kernels run it, and
/// the cores share it by F-tiles, where three plain matmuls would re-read
/// the weights for every token.
Value buildSharedExperts(OpBuilder &builder, Location loc, LayerOp layer) {
  Value x = layer.getX();
  Activation activation = layer.getActivation();
  Value gate =
      isGatedActivation(activation) ? layer.getSharedGateProj() : Value();
  Value output =
      buildOneExpertFFN(builder, loc, x, gate, layer.getSharedUpProj(),
                        layer.getSharedDownProj(), activation);
  if (Value gateWeight = layer.getSharedExpertGate()) {
    // Qwen-MoE: the shared output times sigmoid(x · w_sgᵀ), one scalar per
    // token broadcast over D.
    Value logit = linearF32(builder, loc, x, gateWeight);
    output = elementwise(
        builder, loc, {output, logit}, builder.getF32Type(), output,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value one = arith::ConstantOp::create(b, l, b.getF32Type(),
                                                b.getF32FloatAttr(1.0f));
          Value negated = arith::NegFOp::create(b, l, args[1]);
          Value exp = math::ExpOp::create(b, l, negated);
          Value denominator = arith::AddFOp::create(b, l, one, exp);
          Value sigmoid = arith::DivFOp::create(b, l, one, denominator);
          Value shared = convertFloat(b, l, args[0], b.getF32Type());
          return arith::MulFOp::create(b, l, shared, sigmoid).getResult();
        });
  }
  return output;
}

struct DecomposeLayerPattern : OpRewritePattern<LayerOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LayerOp layer,
                                PatternRewriter &rewriter) const override {
    if (failed(decomposeLayer(rewriter, layer)))
      return failure();
    return success();
  }
};

struct MoEDecomposePass
    : public mlir::moe::impl::MoEDecomposePassBase<MoEDecomposePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMoEDecomposePatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // A layer left behind (for example with a dynamic expert count) is an
    // error: later stages expect none.
    WalkResult result = getOperation()->walk([](LayerOp layer) {
      layer.emitError() << "moe-decompose could not expand this moe.layer: "
                           "it needs a static number of experts";
      return WalkResult::interrupt();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace

FailureOr<DecomposedLayer> mlir::moe::decomposeLayer(RewriterBase &rewriter,
                                                     LayerOp layer) {
  int64_t numExperts = layer.getNumExperts();
  if (ShapedType::isDynamic(numExperts))
    return rewriter.notifyMatchFailure(layer,
                                       "needs a static number of experts");
  Location loc = layer.getLoc();
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(layer);

  DecomposedLayer parts;
  auto route =
      RouteOp::create(rewriter, loc, layer.getX(), layer.getRouterWeight(),
                      layer.getBias(), layer.getTopKAttr().getInt());
  route.setScore(layer.getScore());
  route.setNormalize(layer.getNormalize());
  route.setScaleAttr(layer.getScaleAttr());
  route.setNGroupAttr(layer.getNGroupAttr());
  route.setTopkGroupAttr(layer.getTopkGroupAttr());
  route.setGroupScore(layer.getGroupScore());
  parts.route = route;

  DispatchOp dispatch;
  if (layer.getMode() == DispatchMode::Dropless) {
    dispatch = DispatchOp::create(rewriter, loc, layer.getX(),
                                  route.getIndices(), numExperts);
  } else {
    bool byScore = layer.getDropPolicy() == DropPolicy::Score;
    dispatch = DispatchOp::create(
        rewriter, loc, layer.getX(), route.getIndices(),
        byScore ? route.getWeights() : Value(), numExperts,
        layer.getCapacityFactor()->convertToDouble(),
        layer.getMinCapacityAttr().getInt(), layer.getDropPolicy());
  }
  parts.dispatch = dispatch;

  auto experts = ExpertsOp::create(rewriter, loc, dispatch.getRows(),
                                   dispatch.getSegments(), layer.getGateProj(),
                                   layer.getUpProj(), layer.getDownProj(),
                                   layer.getActivation());
  parts.experts = experts;

  auto combine = CombineOp::create(rewriter, loc, experts.getResult(),
                                   route.getWeights(), dispatch.getRowOf());
  parts.combine = combine;
  Value result = combine.getResult();

  if (layer.hasSharedExperts()) {
    Value shared = buildSharedExperts(rewriter, loc, layer);
    Type resultElement = getElementTypeOrSelf(result.getType());
    result = elementwise(
        rewriter, loc, {result, shared}, resultElement, result,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value routed = convertFloat(b, l, args[0], b.getF32Type());
          Value shared = convertFloat(b, l, args[1], b.getF32Type());
          Value sum = arith::AddFOp::create(b, l, routed, shared);
          return convertFloat(b, l, sum, resultElement);
        });
  }
  if (result.getType() != layer.getType())
    result = tensor::CastOp::create(rewriter, loc, layer.getType(), result);
  parts.result = result;
  rewriter.replaceOp(layer, result);
  return parts;
}

void mlir::moe::populateMoEDecomposePatterns(RewritePatternSet &patterns) {
  patterns.add<DecomposeLayerPattern>(patterns.getContext());
}

Value mlir::moe::buildOneExpertFFN(OpBuilder &builder, Location loc, Value x,
                                   Value gate, Value up, Value down,
                                   Activation activation) {
  auto asOneExpert = [&](Value weight) -> Value {
    if (!weight)
      return Value();
    auto type = cast<RankedTensorType>(weight.getType());
    auto expanded = RankedTensorType::get(
        {1, type.getDimSize(0), type.getDimSize(1)}, type.getElementType());
    return tensor::ExpandShapeOp::create(
        builder, loc, expanded, weight,
        SmallVector<ReassociationIndices>{{0, 1}, {2}});
  };
  Type i32 = builder.getI32Type();
  Value tokens = arith::IndexCastOp::create(
      builder, loc, i32, tensor::DimOp::create(builder, loc, x, 0));
  Value zero = arith::ConstantIntOp::create(builder, loc, i32, 0);
  Value segments = tensor::FromElementsOp::create(
      builder, loc, RankedTensorType::get({2}, i32), ValueRange{zero, tokens});
  return ExpertsOp::create(builder, loc, x, segments, asOneExpert(gate),
                           asOneExpert(up), asOneExpert(down), activation)
      .getResult();
}
