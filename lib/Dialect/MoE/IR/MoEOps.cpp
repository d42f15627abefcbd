//===- MoEOps.cpp - Operations of the moe dialect -------------------------===//
//
// Verifiers, builders and the custom assembly of moe.repeat. Verifiers check
// attributes, types and static dimensions only: a dynamic dimension (`?`) is
// compatible with anything, and no verifier looks at the ops that define its
// operands. Every message says what was expected and what was found.
//
//===----------------------------------------------------------------------===//

// The generated op definitions need these before MoEOps.cpp.inc.
#include "mlir/IR/Builders.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>

using namespace mlir;
using namespace mlir::moe;

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

namespace {

/// Two dimensions agree when either is dynamic or they are equal.
bool dimsAgree(int64_t lhs, int64_t rhs) {
  return ShapedType::isDynamic(lhs) || ShapedType::isDynamic(rhs) || lhs == rhs;
}

std::string formatDim(int64_t dim) {
  return ShapedType::isDynamic(dim) ? std::string("?") : std::to_string(dim);
}

std::string formatShape(ArrayRef<int64_t> shape) {
  std::string text = "[";
  llvm::interleave(
      shape, [&](int64_t dim) { text += formatDim(dim); },
      [&] { text += ", "; });
  return text + "]";
}

/// The product of two dimensions, dynamic when either is.
int64_t mulDims(int64_t lhs, int64_t rhs) {
  if (ShapedType::isDynamic(lhs) || ShapedType::isDynamic(rhs))
    return ShapedType::kDynamic;
  return lhs * rhs;
}

bool shapesAgree(ArrayRef<int64_t> actual, ArrayRef<int64_t> expected) {
  if (actual.size() != expected.size())
    return false;
  for (auto [lhs, rhs] : llvm::zip_equal(actual, expected))
    if (!dimsAgree(lhs, rhs))
      return false;
  return true;
}

/// Checks that `value`'s ranked tensor type has rank `rank`.
LogicalResult verifyRank(Operation *op, Value value, StringRef name,
                         int64_t rank, StringRef meaning) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getRank() == rank)
    return success();
  return op->emitOpError() << "expects " << name << " to be " << meaning
                           << " (rank " << rank << "), but found rank "
                           << type.getRank();
}

/// Checks that `value` has the `expected` shape (dynamic dims agree with
/// anything).
LogicalResult verifyShape(Operation *op, Value value, StringRef name,
                          ArrayRef<int64_t> expected) {
  auto type = cast<ShapedType>(value.getType());
  if (shapesAgree(type.getShape(), expected))
    return success();
  return op->emitOpError() << "expects " << name << " of shape "
                           << formatShape(expected) << ", but found "
                           << formatShape(type.getShape());
}

/// Checks that a dimension of one value agrees with one of another.
LogicalResult verifyDimsAgree(Operation *op, int64_t lhs, StringRef lhsName,
                              int64_t rhs, StringRef rhsName) {
  if (dimsAgree(lhs, rhs))
    return success();
  return op->emitOpError() << "expects " << lhsName << " (" << lhs
                           << ") to match " << rhsName << " (" << rhs << ")";
}

ArrayRef<int64_t> shapeOf(Value value) {
  return cast<ShapedType>(value.getType()).getShape();
}

Type elementTypeOf(Value value) {
  return cast<ShapedType>(value.getType()).getElementType();
}

/// The routing attributes shared by moe.route and moe.layer.
struct RoutingConfig {
  int64_t topK;
  ScoreFunction score;
  float scale;
  int64_t numGroups;
  int64_t topkGroups;
  GroupScore groupScore;
};

/// Verifies the router operands (x: T x D, router_weight: E x D, bias: E)
/// and the routing attributes. Shared by moe.route and moe.layer.
LogicalResult verifyRouting(Operation *op, Value x, Value routerWeight,
                            Value bias, const RoutingConfig &config) {
  if (failed(verifyRank(op, x, "x", 2, "a T x D matrix")) ||
      failed(
          verifyRank(op, routerWeight, "router_weight", 2, "an E x D matrix")))
    return failure();
  int64_t modelDim = shapeOf(x)[1];
  int64_t numExperts = shapeOf(routerWeight)[0];
  if (failed(verifyDimsAgree(op, shapeOf(routerWeight)[1],
                             "router_weight dim 1", modelDim, "x dim 1")))
    return failure();
  if (config.topK < 1)
    return op->emitOpError() << "expects top_k >= 1, but found " << config.topK;
  if (!ShapedType::isDynamic(numExperts) && config.topK > numExperts)
    return op->emitOpError() << "expects top_k (" << config.topK
                             << ") <= num_experts (" << numExperts << ")";
  if (bias) {
    if (failed(verifyRank(op, bias, "bias", 1, "a vector of E scores")) ||
        failed(verifyDimsAgree(op, shapeOf(bias)[0], "bias size", numExperts,
                               "num_experts")))
      return failure();
  }
  if (!std::isfinite(config.scale) || config.scale <= 0.0f)
    return op->emitOpError()
           << "expects a finite scale > 0, but found " << config.scale;
  if (config.numGroups < 1)
    return op->emitOpError()
           << "expects n_group >= 1, but found " << config.numGroups;
  if (config.topkGroups < 1 || config.topkGroups > config.numGroups)
    return op->emitOpError()
           << "expects 1 <= topk_group <= n_group (" << config.numGroups
           << "), but found " << config.topkGroups;
  if (config.numGroups > 1 && !ShapedType::isDynamic(numExperts)) {
    if (numExperts % config.numGroups != 0)
      return op->emitOpError()
             << "expects num_experts (" << numExperts
             << ") to be divisible by n_group (" << config.numGroups << ")";
    int64_t groupSize = numExperts / config.numGroups;
    if (config.groupScore == GroupScore::Top2Sum && groupSize < 2)
      return op->emitOpError() << "expects groups of at least 2 experts for "
                                  "group_score(top2_sum), but found groups of "
                               << groupSize;
    if (config.topK > config.topkGroups * groupSize)
      return op->emitOpError()
             << "expects top_k (" << config.topK
             << ") <= the experts in the kept groups (topk_group "
             << config.topkGroups << " x group size " << groupSize << " = "
             << config.topkGroups * groupSize << ")";
  }
  return success();
}

/// Verifies expert weights gate/up: E x F x D and down: E x D x F against
/// the activation, the expected expert count and model width. Shared by
/// moe.experts and moe.layer.
LogicalResult verifyExpertWeights(Operation *op, Value gateProj, Value upProj,
                                  Value downProj, Activation activation,
                                  int64_t numExperts, int64_t modelDim,
                                  StringRef numExpertsSource) {
  bool gated = isGatedActivation(activation);
  if (gated && !gateProj)
    return op->emitOpError() << "expects a gate_proj operand for the gated "
                                "activation "
                             << stringifyActivation(activation);
  if (!gated && gateProj)
    return op->emitOpError() << "expects no gate_proj operand for the "
                                "non-gated activation "
                             << stringifyActivation(activation);
  if (failed(verifyRank(op, upProj, "up_proj", 3, "an E x F x D tensor")) ||
      failed(verifyRank(op, downProj, "down_proj", 3, "an E x D x F tensor")))
    return failure();
  ArrayRef<int64_t> up = shapeOf(upProj);
  if (!ShapedType::isDynamic(up[0]) && up[0] < 1)
    return op->emitOpError()
           << "expects at least one expert (up_proj dim 0 >= 1), but found "
           << up[0];
  if (gateProj) {
    if (failed(
            verifyRank(op, gateProj, "gate_proj", 3, "an E x F x D tensor")) ||
        failed(
            verifyShape(op, gateProj, "gate_proj (the shape of up_proj)", up)))
      return failure();
  }
  if (failed(verifyDimsAgree(op, up[0], "up_proj dim 0 (experts)", numExperts,
                             numExpertsSource)) ||
      failed(verifyDimsAgree(op, up[2], "up_proj dim 2 (model width)", modelDim,
                             "the model width")) ||
      failed(verifyShape(op, downProj, "down_proj", {up[0], up[2], up[1]})))
    return failure();
  if (elementTypeOf(downProj) != elementTypeOf(upProj) ||
      (gateProj && elementTypeOf(gateProj) != elementTypeOf(upProj)))
    return op->emitOpError()
           << "expects gate_proj, up_proj and down_proj to share one element "
              "type, but found "
           << (gateProj ? elementTypeOf(gateProj) : elementTypeOf(upProj))
           << ", " << elementTypeOf(upProj) << " and "
           << elementTypeOf(downProj);
  return success();
}

/// The dispatch attributes shared by moe.dispatch and moe.layer.
struct DispatchConfig {
  DispatchMode mode;
  std::optional<double> capacityFactor;
  int64_t minCapacity;
  DropPolicy dropPolicy;
};

LogicalResult verifyDispatchConfig(Operation *op,
                                   const DispatchConfig &config) {
  if (config.mode == DispatchMode::Dropless) {
    if (config.capacityFactor)
      return op->emitOpError()
             << "expects no capacity_factor in mode(dropless); it is only "
                "meaningful in mode(capacity)";
    if (config.minCapacity != 0)
      return op->emitOpError()
             << "expects no min_capacity in mode(dropless), but found "
             << config.minCapacity;
    if (config.dropPolicy != DropPolicy::Position)
      return op->emitOpError() << "expects no drop_policy in mode(dropless), "
                                  "but found drop_policy("
                               << stringifyDropPolicy(config.dropPolicy) << ")";
    return success();
  }
  if (!config.capacityFactor)
    return op->emitOpError() << "expects a capacity_factor in mode(capacity)";
  if (!std::isfinite(*config.capacityFactor) || *config.capacityFactor <= 0.0)
    return op->emitOpError()
           << "expects a finite capacity_factor > 0, but found "
           << *config.capacityFactor;
  if (config.minCapacity < 0)
    return op->emitOpError()
           << "expects min_capacity >= 0, but found " << config.minCapacity;
  return success();
}

/// C = min(T, max(min_capacity, ceil(capacity_factor * T * K / E))).
int64_t computeCapacity(int64_t numTokens, int64_t topK, int64_t numExperts,
                        double capacityFactor, int64_t minCapacity) {
  if (ShapedType::isDynamic(numTokens) || ShapedType::isDynamic(topK) ||
      ShapedType::isDynamic(numExperts))
    return ShapedType::kDynamic;
  double perExpert = capacityFactor * static_cast<double>(numTokens) *
                     static_cast<double>(topK) /
                     static_cast<double>(numExperts);
  // Clamp to T while still a double: a large capacity_factor must not
  // overflow the conversion to int64_t.
  double perExpertRows =
      std::min(std::ceil(perExpert), static_cast<double>(numTokens));
  int64_t capacity =
      std::max<int64_t>(minCapacity, static_cast<int64_t>(perExpertRows));
  return std::min(numTokens, capacity);
}

} // namespace

//===----------------------------------------------------------------------===//
// Enum keywords in op assembly: `score(softmax)`, not `score( softmax)`
//===----------------------------------------------------------------------===//

template <typename EnumAttrT>
static void printEnumKeyword(OpAsmPrinter &printer, Operation *,
                             EnumAttrT attr) {
  printer << stringifyEnum(attr.getValue());
}

template <typename EnumAttrT>
static ParseResult parseEnumKeyword(OpAsmParser &parser, EnumAttrT &attr) {
  using EnumT = decltype(std::declval<EnumAttrT>().getValue());
  SMLoc loc = parser.getCurrentLocation();
  StringRef keyword;
  if (parser.parseKeyword(&keyword))
    return failure();
  std::optional<EnumT> value = symbolizeEnum<EnumT>(keyword);
  if (!value)
    return parser.emitError(loc)
           << "unknown " << EnumAttrT::getMnemonic() << " '" << keyword << "'";
  attr = EnumAttrT::get(parser.getContext(), *value);
  return success();
}

//===----------------------------------------------------------------------===//
// moe.topk
//===----------------------------------------------------------------------===//

void TopKOp::build(OpBuilder &builder, OperationState &state, Value input,
                   int64_t k, Type indexElementType) {
  auto inputType = cast<RankedTensorType>(input.getType());
  SmallVector<int64_t> shape(inputType.getShape());
  shape.back() = k;
  if (!indexElementType)
    indexElementType = builder.getI32Type();
  build(builder, state,
        RankedTensorType::get(shape, inputType.getElementType()),
        RankedTensorType::get(shape, indexElementType), input,
        builder.getI64IntegerAttr(k));
}

LogicalResult TopKOp::verify() {
  auto inputType = getInput().getType();
  if (inputType.getRank() < 1)
    return emitOpError() << "expects an input of rank >= 1, but found a "
                            "rank-0 tensor";
  int64_t k = getKAttr().getInt();
  if (k < 1)
    return emitOpError() << "expects k >= 1, but found " << k;
  int64_t lastDim = inputType.getShape().back();
  if (!ShapedType::isDynamic(lastDim) && k > lastDim)
    return emitOpError() << "expects k (" << k
                         << ") <= the size of the last dimension (" << lastDim
                         << ")";
  if (getValues().getType().getElementType() != inputType.getElementType())
    return emitOpError() << "expects values of the input element type "
                         << inputType.getElementType() << ", but found "
                         << getValues().getType().getElementType();
  SmallVector<int64_t> expected(inputType.getShape());
  expected.back() = k;
  if (failed(verifyShape(*this, getValues(), "values", expected)) ||
      failed(verifyShape(*this, getIndices(), "indices", expected)))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// moe.route
//===----------------------------------------------------------------------===//

void RouteOp::build(OpBuilder &builder, OperationState &state, Value x,
                    Value routerWeight, Value bias, int64_t topK,
                    bool withScores) {
  int64_t numTokens = shapeOf(x)[0];
  int64_t numExperts = shapeOf(routerWeight)[0];
  Type f32 = builder.getF32Type();
  Type weightsType = RankedTensorType::get({numTokens, topK}, f32);
  Type indicesType =
      RankedTensorType::get({numTokens, topK}, builder.getI32Type());
  Type scoresType =
      withScores ? RankedTensorType::get({numTokens, numExperts}, f32) : Type();
  build(builder, state, weightsType, indicesType, scoresType, x, routerWeight,
        bias, static_cast<uint64_t>(topK), ScoreFunction::Softmax,
        /*normalize=*/false, llvm::APFloat(1.0f));
}

LogicalResult RouteOp::verify() {
  RoutingConfig config{getTopKAttr().getInt(),      getScore(),
                       getScale().convertToFloat(), getNGroupAttr().getInt(),
                       getTopkGroupAttr().getInt(), getGroupScore()};
  if (failed(
          verifyRouting(*this, getX(), getRouterWeight(), getBias(), config)))
    return failure();
  int64_t numTokens = shapeOf(getX())[0];
  int64_t numExperts = shapeOf(getRouterWeight())[0];
  if (failed(verifyShape(*this, getWeights(), "weights",
                         {numTokens, config.topK})) ||
      failed(verifyShape(*this, getIndices(), "indices",
                         {numTokens, config.topK})))
    return failure();
  if (getScores() && failed(verifyShape(*this, getScores(), "scores",
                                        {numTokens, numExperts})))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// moe.dispatch
//===----------------------------------------------------------------------===//

void DispatchOp::build(OpBuilder &builder, OperationState &state, Value x,
                       Value indices, int64_t numExperts) {
  int64_t numTokens = shapeOf(x)[0];
  int64_t topK = shapeOf(indices)[1];
  Type i32 = builder.getI32Type();
  Type rowsType = RankedTensorType::get(
      {mulDims(numTokens, topK), shapeOf(x)[1]}, elementTypeOf(x));
  Type offsetsType = RankedTensorType::get({numExperts + 1}, i32);
  Type rowOfType = RankedTensorType::get({numTokens, topK}, i32);
  build(builder, state, rowsType, offsetsType, rowOfType, x, indices,
        /*weights=*/Value(), static_cast<uint64_t>(numExperts),
        DispatchMode::Dropless, /*capacity_factor=*/FloatAttr());
}

void DispatchOp::build(OpBuilder &builder, OperationState &state, Value x,
                       Value indices, Value weights, int64_t numExperts,
                       double capacityFactor, int64_t minCapacity,
                       DropPolicy dropPolicy) {
  int64_t numTokens = shapeOf(x)[0];
  int64_t topK = shapeOf(indices)[1];
  int64_t capacity =
      computeCapacity(numTokens, topK, numExperts, capacityFactor, minCapacity);
  Type i32 = builder.getI32Type();
  Type rowsType = RankedTensorType::get({numExperts, capacity, shapeOf(x)[1]},
                                        elementTypeOf(x));
  Type countsType = RankedTensorType::get({numExperts}, i32);
  Type rowOfType = RankedTensorType::get({numTokens, topK}, i32);
  build(builder, state, rowsType, countsType, rowOfType, x, indices, weights,
        static_cast<uint64_t>(numExperts), DispatchMode::Capacity,
        builder.getF64FloatAttr(capacityFactor),
        static_cast<uint64_t>(minCapacity), dropPolicy);
}

int64_t DispatchOp::getCapacityFor(int64_t numTokens) {
  std::optional<llvm::APFloat> factor = getCapacityFactor();
  if (!factor)
    return ShapedType::kDynamic;
  return computeCapacity(
      numTokens, shapeOf(getIndices())[1], getNumExpertsAttr().getInt(),
      factor->convertToDouble(), getMinCapacityAttr().getInt());
}

LogicalResult DispatchOp::verify() {
  if (failed(verifyRank(*this, getX(), "x", 2, "a T x D matrix")) ||
      failed(verifyRank(*this, getIndices(), "indices", 2, "a T x K matrix")))
    return failure();
  int64_t numTokens = shapeOf(getX())[0];
  int64_t modelDim = shapeOf(getX())[1];
  int64_t topK = shapeOf(getIndices())[1];
  if (failed(verifyDimsAgree(*this, shapeOf(getIndices())[0],
                             "indices dim 0 (tokens)", numTokens,
                             "x dim 0 (tokens)")))
    return failure();
  int64_t numExperts = getNumExpertsAttr().getInt();
  if (numExperts < 1)
    return emitOpError() << "expects num_experts >= 1, but found "
                         << numExperts;
  if (!ShapedType::isDynamic(topK) && topK > numExperts)
    return emitOpError() << "expects indices dim 1 (top_k = " << topK
                         << ") <= num_experts (" << numExperts << ")";
  std::optional<double> factor;
  if (std::optional<llvm::APFloat> value = getCapacityFactor())
    factor = value->convertToDouble();
  DispatchConfig config{getMode(), factor, getMinCapacityAttr().getInt(),
                        getDropPolicy()};
  if (failed(verifyDispatchConfig(*this, config)))
    return failure();

  bool byScore = getMode() == DispatchMode::Capacity &&
                 getDropPolicy() == DropPolicy::Score;
  if (byScore && !getWeights())
    return emitOpError() << "expects a weights operand for drop_policy(score)";
  if (!byScore && getWeights())
    return emitOpError() << "expects no weights operand: only "
                            "drop_policy(score) in mode(capacity) reads it";
  if (getWeights() &&
      failed(verifyShape(*this, getWeights(), "weights", {numTokens, topK})))
    return failure();

  if (elementTypeOf(getRows()) != elementTypeOf(getX()))
    return emitOpError() << "expects rows of the element type of x ("
                         << elementTypeOf(getX()) << "), but found "
                         << elementTypeOf(getRows());
  if (failed(verifyShape(*this, getRowOf(), "row_of", {numTokens, topK})))
    return failure();
  if (getMode() == DispatchMode::Dropless) {
    if (failed(verifyShape(*this, getRows(), "rows",
                           {mulDims(numTokens, topK), modelDim})) ||
        failed(verifyShape(*this, getSegments(), "segments (the E+1 offsets)",
                           {numExperts + 1})))
      return failure();
    return success();
  }
  int64_t capacity =
      computeCapacity(numTokens, topK, numExperts, *factor, config.minCapacity);
  if (failed(verifyShape(*this, getRows(), "rows",
                         {numExperts, capacity, modelDim})) ||
      failed(verifyShape(*this, getSegments(), "segments (the E counts)",
                         {numExperts})))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// moe.experts
//===----------------------------------------------------------------------===//

void ExpertsOp::build(OpBuilder &builder, OperationState &state, Value rows,
                      Value segments, Value gateProj, Value upProj,
                      Value downProj, Activation activation) {
  build(builder, state, rows.getType(), rows, segments, gateProj, upProj,
        downProj, activation, /*tiling=*/nullptr);
}

LogicalResult ExpertsOp::verify() {
  auto rowsType = getRows().getType();
  if (rowsType.getRank() != 2 && rowsType.getRank() != 3)
    return emitOpError() << "expects rows to be R x D (dropless) or E x C x D "
                            "(capacity), but found rank "
                         << rowsType.getRank();
  if (failed(verifyRank(*this, getSegments(), "segments", 1,
                        "a vector of offsets or counts")))
    return failure();
  int64_t numExperts = shapeOf(getUpProj()).empty() ? ShapedType::kDynamic
                                                    : shapeOf(getUpProj())[0];
  bool capacity = isCapacityLayout();
  int64_t segmentsExperts = shapeOf(getSegments())[0];
  if (!capacity && !ShapedType::isDynamic(segmentsExperts))
    segmentsExperts -= 1;
  if (!ShapedType::isDynamic(segmentsExperts) && segmentsExperts < 1)
    return emitOpError() << "expects segments to hold at least "
                         << (capacity ? "1 count" : "2 offsets")
                         << " (one expert), but found "
                         << shapeOf(getSegments())[0];
  if (failed(verifyExpertWeights(
          *this, getGateProj(), getUpProj(), getDownProj(), getActivation(),
          segmentsExperts, rowsType.getShape().back(),
          capacity ? "the number of counts in segments"
                   : "the number of offsets in segments minus 1")))
    return failure();
  if (capacity && failed(verifyDimsAgree(*this, rowsType.getDimSize(0),
                                         "rows dim 0 (experts)", numExperts,
                                         "up_proj dim 0 (experts)")))
    return failure();
  if (getResult().getType().getElementType() != rowsType.getElementType())
    return emitOpError() << "expects a result of the element type of rows ("
                         << rowsType.getElementType() << "), but found "
                         << getResult().getType().getElementType();
  return verifyShape(*this, getResult(), "result (the shape of rows)",
                     rowsType.getShape());
}

//===----------------------------------------------------------------------===//
// moe.combine
//===----------------------------------------------------------------------===//

void CombineOp::build(OpBuilder &builder, OperationState &state, Value rows,
                      Value weights, Value rowOf) {
  Type resultType = RankedTensorType::get(
      {shapeOf(weights)[0], shapeOf(rows).back()}, elementTypeOf(rows));
  build(builder, state, resultType, rows, weights, rowOf);
}

LogicalResult CombineOp::verify() {
  auto rowsType = getRows().getType();
  if (rowsType.getRank() != 2 && rowsType.getRank() != 3)
    return emitOpError() << "expects rows to be R x D (dropless) or E x C x D "
                            "(capacity), but found rank "
                         << rowsType.getRank();
  if (failed(verifyRank(*this, getWeights(), "weights", 2, "a T x K matrix")) ||
      failed(verifyShape(*this, getRowOf(), "row_of (the shape of weights)",
                         shapeOf(getWeights()))))
    return failure();
  if (getResult().getType().getElementType() != rowsType.getElementType())
    return emitOpError() << "expects a result of the element type of rows ("
                         << rowsType.getElementType() << "), but found "
                         << getResult().getType().getElementType();
  return verifyShape(*this, getResult(), "result",
                     {shapeOf(getWeights())[0], rowsType.getShape().back()});
}

//===----------------------------------------------------------------------===//
// moe.layer
//===----------------------------------------------------------------------===//

LogicalResult LayerOp::verify() {
  RoutingConfig routing{getTopKAttr().getInt(),      getScore(),
                        getScale().convertToFloat(), getNGroupAttr().getInt(),
                        getTopkGroupAttr().getInt(), getGroupScore()};
  if (failed(
          verifyRouting(*this, getX(), getRouterWeight(), getBias(), routing)))
    return failure();
  int64_t modelDim = shapeOf(getX())[1];
  int64_t numExperts = shapeOf(getRouterWeight())[0];
  if (failed(verifyExpertWeights(*this, getGateProj(), getUpProj(),
                                 getDownProj(), getActivation(), numExperts,
                                 modelDim, "router_weight dim 0 (experts)")))
    return failure();

  std::optional<double> factor;
  if (std::optional<llvm::APFloat> value = getCapacityFactor())
    factor = value->convertToDouble();
  DispatchConfig dispatch{getMode(), factor, getMinCapacityAttr().getInt(),
                          getDropPolicy()};
  if (failed(verifyDispatchConfig(*this, dispatch)))
    return failure();

  // Shared experts: up and down together, gate exactly when gated.
  Value sharedGate = getSharedGateProj();
  Value sharedUp = getSharedUpProj();
  Value sharedDown = getSharedDownProj();
  if (static_cast<bool>(sharedUp) != static_cast<bool>(sharedDown))
    return emitOpError() << "expects shared_up_proj and shared_down_proj "
                            "together, but found only "
                         << (sharedUp ? "shared_up_proj" : "shared_down_proj");
  if (!sharedUp && sharedGate)
    return emitOpError() << "expects shared_gate_proj only with "
                            "shared_up_proj and shared_down_proj";
  if (!sharedUp && getSharedExpertGate())
    return emitOpError() << "expects shared_expert_gate only with shared "
                            "experts (shared_up_proj, shared_down_proj)";
  if (sharedUp) {
    bool gated = isGatedActivation(getActivation());
    if (gated && !sharedGate)
      return emitOpError() << "expects a shared_gate_proj for the gated "
                              "activation "
                           << stringifyActivation(getActivation());
    if (!gated && sharedGate)
      return emitOpError() << "expects no shared_gate_proj for the non-gated "
                              "activation "
                           << stringifyActivation(getActivation());
    if (failed(verifyRank(*this, sharedUp, "shared_up_proj", 2,
                          "an F_s x D matrix")) ||
        failed(verifyDimsAgree(*this, shapeOf(sharedUp)[1],
                               "shared_up_proj dim 1", modelDim, "x dim 1")))
      return failure();
    int64_t sharedWidth = shapeOf(sharedUp)[0];
    if ((sharedGate &&
         (failed(verifyRank(*this, sharedGate, "shared_gate_proj", 2,
                            "an F_s x D matrix")) ||
          failed(verifyShape(*this, sharedGate, "shared_gate_proj",
                             shapeOf(sharedUp))))) ||
        failed(verifyRank(*this, sharedDown, "shared_down_proj", 2,
                          "a D x F_s matrix")) ||
        failed(verifyShape(*this, sharedDown, "shared_down_proj",
                           {modelDim, sharedWidth})))
      return failure();
    if (Value gate = getSharedExpertGate()) {
      if (failed(verifyRank(*this, gate, "shared_expert_gate", 2,
                            "a 1 x D matrix")) ||
          failed(verifyShape(*this, gate, "shared_expert_gate", {1, modelDim})))
        return failure();
    }
  }
  if (getResult().getType().getElementType() != elementTypeOf(getX()))
    return emitOpError() << "expects a result of the element type of x ("
                         << elementTypeOf(getX()) << "), but found "
                         << getResult().getType().getElementType();
  return verifyShape(*this, getResult(), "result (the shape of x)",
                     shapeOf(getX()));
}

//===----------------------------------------------------------------------===//
// moe.repeat
//===----------------------------------------------------------------------===//

void RepeatOp::build(OpBuilder &builder, OperationState &state, int64_t count,
                     ValueRange inits, RepeatSchedule schedule) {
  state.addOperands(inits);
  state.getOrAddProperties<Properties>().count =
      builder.getI64IntegerAttr(count);
  state.getOrAddProperties<Properties>().schedule =
      RepeatScheduleAttr::get(builder.getContext(), schedule);
  state.addTypes(inits.getTypes());
  Region *body = state.addRegion();
  Block *block = new Block();
  body->push_back(block);
  for (Value init : inits)
    block->addArgument(init.getType(), init.getLoc());
}

/// Syntax:
///   moe.repeat 4 (schedule(resident))? iter_args(%h = %x, ...) : types
///       attributes {..} { body }
ParseResult RepeatOp::parse(OpAsmParser &parser, OperationState &result) {
  Builder &builder = parser.getBuilder();
  int64_t count;
  SMLoc countLoc = parser.getCurrentLocation();
  if (parser.parseInteger(count))
    return failure();
  (void)countLoc;
  auto &props = result.getOrAddProperties<Properties>();
  props.count = builder.getI64IntegerAttr(count);

  if (succeeded(parser.parseOptionalKeyword("schedule"))) {
    StringRef keyword;
    SMLoc keywordLoc = parser.getCurrentLocation();
    if (parser.parseLParen() || parser.parseKeyword(&keyword) ||
        parser.parseRParen())
      return failure();
    std::optional<RepeatSchedule> schedule = symbolizeRepeatSchedule(keyword);
    if (!schedule)
      return parser.emitError(keywordLoc)
             << "expected schedule auto, unroll or resident, but found '"
             << keyword << "'";
    props.schedule = RepeatScheduleAttr::get(builder.getContext(), *schedule);
  }

  SmallVector<OpAsmParser::Argument> regionArgs;
  SmallVector<OpAsmParser::UnresolvedOperand> inits;
  if (parser.parseKeyword("iter_args") ||
      parser.parseAssignmentList(regionArgs, inits))
    return failure();
  SmallVector<Type> types;
  if (parser.parseColonTypeList(types))
    return failure();
  if (types.size() != inits.size())
    return parser.emitError(parser.getCurrentLocation())
           << "expected " << inits.size() << " iter_args types, but found "
           << types.size();
  for (auto [arg, type] : llvm::zip_equal(regionArgs, types))
    arg.type = type;
  if (parser.resolveOperands(inits, types, parser.getNameLoc(),
                             result.operands))
    return failure();
  result.addTypes(types);
  if (parser.parseOptionalAttrDictWithKeyword(result.attributes))
    return failure();
  Region *body = result.addRegion();
  if (parser.parseRegion(*body, regionArgs))
    return failure();
  return success();
}

void RepeatOp::print(OpAsmPrinter &printer) {
  printer << ' ' << getCountAttr().getInt();
  if (getSchedule() != RepeatSchedule::Auto)
    printer << " schedule(" << stringifyRepeatSchedule(getSchedule()) << ")";
  printer << " iter_args(";
  llvm::interleaveComma(llvm::zip_equal(getRegionIterArgs(), getInits()),
                        printer, [&](auto pair) {
                          printer << std::get<0>(pair) << " = "
                                  << std::get<1>(pair);
                        });
  printer << ") : ";
  llvm::interleaveComma(getInits().getTypes(), printer);
  printer.printOptionalAttrDictWithKeyword((*this)->getAttrs(),
                                           {"count", "schedule"});
  printer << ' ';
  printer.printRegion(getBody(), /*printEntryBlockArgs=*/false,
                      /*printBlockTerminators=*/true);
}

void RepeatOp::getAsmBlockArgumentNames(Region &region,
                                        OpAsmSetValueNameFn setNameFn) {
  for (BlockArgument arg : region.getArguments())
    setNameFn(arg, "iter");
}

LogicalResult RepeatOp::verify() {
  int64_t count = getCountAttr().getInt();
  if (count < 1)
    return emitOpError() << "expects a repeat count >= 1, but found " << count;
  if (getInits().empty())
    return emitOpError() << "expects at least one iter_arg: a repeat with no "
                            "loop-carried value computes nothing";
  if (getResults().getTypes() != getInits().getTypes())
    return emitOpError() << "expects result types to match the iter_args "
                            "types";
  return success();
}

LogicalResult RepeatOp::verifyRegions() {
  Block &body = getBodyBlock();
  if (body.getNumArguments() != getInits().size())
    return emitOpError() << "expects the body to take " << getInits().size()
                         << " block arguments (one per iter_arg), but found "
                         << body.getNumArguments();
  for (auto [index, pair] : llvm::enumerate(
           llvm::zip_equal(body.getArgumentTypes(), getInits().getTypes()))) {
    auto [argType, initType] = pair;
    if (argType != initType)
      return emitOpError() << "expects body argument #" << index << " of type "
                           << initType << ", but found " << argType;
  }
  auto yield = dyn_cast<YieldOp>(body.getTerminator());
  if (!yield)
    return emitOpError() << "expects the body to end in moe.yield";
  if (yield.getValues().size() != getInits().size())
    return yield.emitOpError()
           << "expects " << getInits().size()
           << " yielded values (one per iter_arg), but found "
           << yield.getValues().size();
  for (auto [index, pair] : llvm::enumerate(llvm::zip_equal(
           yield.getValues().getTypes(), getInits().getTypes()))) {
    auto [yieldType, initType] = pair;
    if (yieldType != initType)
      return yield.emitOpError()
             << "expects yielded value #" << index << " of type " << initType
             << ", but found " << yieldType;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// moe.peer
//===----------------------------------------------------------------------===//

LogicalResult PeerOp::verify() {
  if (failed(verifyRank(*this, getX(), "x", 2, "a T x D matrix")))
    return failure();
  int64_t modelDim = shapeOf(getX())[1];
  int64_t heads = getHeadsAttr().getInt();
  int64_t topK = getTopKAttr().getInt();
  if (heads < 1)
    return emitOpError() << "expects heads >= 1, but found " << heads;
  if (topK < 1)
    return emitOpError() << "expects top_k >= 1, but found " << topK;
  if (getActivation() != Activation::Relu &&
      getActivation() != Activation::Gelu)
    return emitOpError() << "expects activation relu or gelu, but found "
                         << stringifyActivation(getActivation());

  auto keysType = getKeys().getType();
  ArrayRef<int64_t> keys = keysType.getShape();
  if (keysType.getRank() == 4) {
    if (failed(verifyDimsAgree(*this, keys[0], "keys dim 0 (heads)", heads,
                               "heads")))
      return failure();
  } else if (keysType.getRank() != 3) {
    return emitOpError() << "expects keys of shape H x 2 x n x Dk/2 (or "
                            "2 x n x Dk/2 shared by all heads), but found rank "
                         << keysType.getRank();
  }
  int64_t halves = keys[keys.size() - 3];
  if (!ShapedType::isDynamic(halves) && halves != 2)
    return emitOpError() << "expects 2 sub-key sets (one per query half) in "
                            "keys, but found "
                         << halves;
  int64_t numSubKeys = keys[keys.size() - 2];
  int64_t halfKeyDim = keys.back();

  if (failed(verifyRank(*this, getQueryWeight(), "query_weight", 2,
                        "an (H*Dk) x D matrix")) ||
      failed(verifyDimsAgree(*this, shapeOf(getQueryWeight())[1],
                             "query_weight dim 1", modelDim, "x dim 1")))
    return failure();
  int64_t queryRows = shapeOf(getQueryWeight())[0];
  if (!ShapedType::isDynamic(queryRows)) {
    if (queryRows % heads != 0)
      return emitOpError() << "expects query_weight dim 0 (" << queryRows
                           << ") to be divisible by heads (" << heads << ")";
    int64_t queryDim = queryRows / heads;
    if (queryDim % 2 != 0)
      return emitOpError() << "expects an even query width per head Dk, but "
                              "found "
                           << queryDim;
    if (!ShapedType::isDynamic(halfKeyDim) && queryDim != 2 * halfKeyDim)
      return emitOpError() << "expects keys dim " << keysType.getRank() - 1
                           << " (" << halfKeyDim
                           << ") to be half the query width per head ("
                           << queryDim << ")";
  }
  if (Value bias = getQueryBias()) {
    if (failed(verifyRank(*this, bias, "query_bias", 1, "a vector")) ||
        failed(verifyDimsAgree(*this, shapeOf(bias)[0], "query_bias size",
                               queryRows, "query_weight dim 0")))
      return failure();
  }
  if (!ShapedType::isDynamic(numSubKeys) && topK > numSubKeys)
    return emitOpError() << "expects top_k (" << topK
                         << ") <= the number of sub-keys n (" << numSubKeys
                         << ")";

  if (failed(verifyRank(*this, getDownEmbed(), "down_embed", 2,
                        "an N x D matrix")) ||
      failed(verifyRank(*this, getUpEmbed(), "up_embed", 2, "an N x D matrix")))
    return failure();
  int64_t numExperts = shapeOf(getDownEmbed())[0];
  if (!ShapedType::isDynamic(numExperts)) {
    auto root = static_cast<int64_t>(
        std::llround(std::sqrt(static_cast<double>(numExperts))));
    if (root * root != numExperts)
      return emitOpError() << "expects a perfect square number of experts "
                              "N = n * n, but found "
                           << numExperts;
    if (!ShapedType::isDynamic(numSubKeys) && root != numSubKeys)
      return emitOpError() << "expects N (" << numExperts
                           << ") to be the square of the number of sub-keys ("
                           << numSubKeys << ")";
  }
  if (failed(verifyDimsAgree(*this, shapeOf(getDownEmbed())[1],
                             "down_embed dim 1", modelDim, "x dim 1")) ||
      failed(verifyShape(*this, getUpEmbed(),
                         "up_embed (the shape of "
                         "down_embed)",
                         shapeOf(getDownEmbed()))))
    return failure();
  if (getResult().getType().getElementType() != elementTypeOf(getX()))
    return emitOpError() << "expects a result of the element type of x ("
                         << elementTypeOf(getX()) << "), but found "
                         << getResult().getType().getElementType();
  return verifyShape(*this, getResult(), "result (the shape of x)",
                     shapeOf(getX()));
}

//===----------------------------------------------------------------------===//
// Auxiliary losses
//===----------------------------------------------------------------------===//

LogicalResult LoadBalancingLossOp::verify() {
  if (failed(verifyRank(*this, getScores(), "scores", 2, "a T x E matrix")) ||
      failed(verifyRank(*this, getIndices(), "indices", 2, "a T x K matrix")))
    return failure();
  ArrayRef<int64_t> scores = shapeOf(getScores());
  ArrayRef<int64_t> indices = shapeOf(getIndices());
  if (failed(verifyDimsAgree(*this, indices[0], "indices dim 0 (tokens)",
                             scores[0], "scores dim 0 (tokens)")))
    return failure();
  if (!ShapedType::isDynamic(indices[1]) && !ShapedType::isDynamic(scores[1]) &&
      indices[1] > scores[1])
    return emitOpError() << "expects indices dim 1 (top_k = " << indices[1]
                         << ") <= scores dim 1 (num_experts = " << scores[1]
                         << ")";
  return success();
}

LogicalResult RouterZLossOp::verify() {
  return verifyRank(*this, getLogits(), "logits", 2, "a T x E matrix");
}

#define GET_OP_CLASSES
#include "moe/Dialect/MoE/IR/MoEOps.cpp.inc"
