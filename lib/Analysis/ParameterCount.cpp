//===- ParameterCount.cpp - Stored and active parameters of a model -------===//
//
// Walks a function, attributes every weight read to the layer op that reads
// it, and counts stored parameters (each weight once), active parameters per
// token (routed experts K/E, PEER the selected embeddings, moe.repeat bodies
// N times), FLOPs and weight bytes per token.
//
//===----------------------------------------------------------------------===//

#include "moe/Analysis/ParameterCount.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::moe;

namespace {

double elementCount(Value value) {
  auto type = cast<ShapedType>(value.getType());
  return static_cast<double>(type.getNumElements());
}

double elementBytes(Value value) {
  Type element = cast<ShapedType>(value.getType()).getElementType();
  return static_cast<double>(element.getIntOrFloatBitWidth()) / 8.0;
}

/// The value an op forwards without computing on it (views, reshapes,
/// transposes), or null.
Value getForwardedSource(Operation *op) {
  if (auto cast = dyn_cast<tensor::CastOp>(op))
    return cast.getSource();
  if (auto expand = dyn_cast<tensor::ExpandShapeOp>(op))
    return expand.getSrc();
  if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(op))
    return collapse.getSrc();
  if (auto reshape = dyn_cast<tensor::ReshapeOp>(op))
    return reshape.getSource();
  if (auto transpose = dyn_cast<linalg::TransposeOp>(op))
    return transpose.getInput();
  if (auto view = dyn_cast<ViewLikeOpInterface>(op))
    return view.getViewSource();
  return Value();
}

/// One read of a weight by a layer.
struct WeightUse {
  Value weight;
  /// The fraction of the weight one token reads (K/E for routed experts).
  double activeFraction = 1.0;
  /// FLOPs per token this use contributes per active parameter.
  double flopsPerActiveParameter = 2.0;
  /// The fraction of the active parameters whose bytes one token reads: 1,
  /// except for a gather (an embedding lookup), which reads one row of a
  /// table that the published convention counts as wholly active.
  double bytesFraction = 1.0;
};

/// The weight uses and FLOPs of one layer op.
struct LayerUses {
  SmallVector<WeightUse> uses;
  /// FLOPs that are not proportional to the weights (set by moe ops that
  /// compute them exactly); negative means "derive from the uses".
  double exactFlops = -1;
  bool fractionUnknown = false;
};

void addUse(LayerUses &layer, Value operand, double fraction = 1.0,
            double flopsPerParameter = 2.0) {
  if (!operand)
    return;
  if (Value root = getWeightRoot(operand))
    layer.uses.push_back({root, std::min(1.0, fraction), flopsPerParameter,
                          /*bytesFraction=*/1.0});
}

/// The top-k of the dispatch that produced an experts op's segments, if it
/// can be seen.
std::optional<int64_t> findTopK(ExpertsOp experts) {
  auto dispatch = experts.getSegments().getDefiningOp<DispatchOp>();
  if (!dispatch)
    return std::nullopt;
  int64_t topK =
      cast<ShapedType>(dispatch.getIndices().getType()).getDimSize(1);
  if (ShapedType::isDynamic(topK))
    return std::nullopt;
  return topK;
}

double ffnFlopsPerRow(int64_t modelDim, int64_t width, bool gated) {
  return 2.0 * static_cast<double>(modelDim) * static_cast<double>(width) *
         (gated ? 3.0 : 2.0);
}

LayerUses collectMoEUses(Operation *op) {
  LayerUses layer;
  if (auto moeLayer = dyn_cast<LayerOp>(op)) {
    auto up = cast<ShapedType>(moeLayer.getUpProj().getType());
    double numExperts = static_cast<double>(up.getDimSize(0));
    double topK = static_cast<double>(moeLayer.getTopKAttr().getInt());
    double fraction = topK / numExperts;
    bool gated = isGatedActivation(moeLayer.getActivation());
    addUse(layer, moeLayer.getRouterWeight());
    addUse(layer, moeLayer.getBias(), 1.0, 0.0);
    addUse(layer, moeLayer.getGateProj(), fraction);
    addUse(layer, moeLayer.getUpProj(), fraction);
    addUse(layer, moeLayer.getDownProj(), fraction);
    addUse(layer, moeLayer.getSharedGateProj());
    addUse(layer, moeLayer.getSharedUpProj());
    addUse(layer, moeLayer.getSharedDownProj());
    addUse(layer, moeLayer.getSharedExpertGate());
    int64_t modelDim = up.getDimSize(2);
    double flops = 2.0 * numExperts * static_cast<double>(modelDim) +
                   topK * ffnFlopsPerRow(modelDim, up.getDimSize(1), gated);
    if (Value sharedUp = moeLayer.getSharedUpProj())
      flops += ffnFlopsPerRow(
          modelDim, cast<ShapedType>(sharedUp.getType()).getDimSize(0), gated);
    if (moeLayer.getSharedExpertGate())
      flops += 2.0 * static_cast<double>(modelDim);
    layer.exactFlops = flops;
    return layer;
  }
  if (auto route = dyn_cast<RouteOp>(op)) {
    addUse(layer, route.getRouterWeight());
    addUse(layer, route.getBias(), 1.0, 0.0);
    return layer;
  }
  if (auto experts = dyn_cast<ExpertsOp>(op)) {
    auto up = cast<ShapedType>(experts.getUpProj().getType());
    std::optional<int64_t> topK = findTopK(experts);
    double fraction = 1.0;
    if (topK)
      fraction =
          static_cast<double>(*topK) / static_cast<double>(up.getDimSize(0));
    else if (up.getDimSize(0) != 1)
      // One expert (a shared expert) is always active: fraction 1.
      layer.fractionUnknown = true;
    addUse(layer, experts.getGateProj(), fraction);
    addUse(layer, experts.getUpProj(), fraction);
    addUse(layer, experts.getDownProj(), fraction);
    if (topK)
      layer.exactFlops =
          static_cast<double>(*topK) *
          ffnFlopsPerRow(up.getDimSize(2), up.getDimSize(1),
                         isGatedActivation(experts.getActivation()));
    return layer;
  }
  if (auto peer = dyn_cast<PeerOp>(op)) {
    double heads = static_cast<double>(peer.getHeadsAttr().getInt());
    double topK = static_cast<double>(peer.getTopKAttr().getInt());
    auto embed = cast<ShapedType>(peer.getDownEmbed().getType());
    double numExperts = static_cast<double>(embed.getDimSize(0));
    double modelDim = static_cast<double>(embed.getDimSize(1));
    double selected = heads * topK / numExperts;
    addUse(layer, peer.getQueryWeight());
    addUse(layer, peer.getQueryBias(), 1.0, 0.0);
    // Every sub-key is scored against its query half for every head.
    addUse(layer, peer.getKeys(), 1.0);
    addUse(layer, peer.getDownEmbed(), selected);
    addUse(layer, peer.getUpEmbed(), selected);
    double queryRows = static_cast<double>(
        cast<ShapedType>(peer.getQueryWeight().getType()).getDimSize(0));
    double subKeys = static_cast<double>(peer.getNumSubKeys());
    double queryDim = static_cast<double>(peer.getQueryDimPerHead());
    layer.exactFlops = 2.0 * queryRows * modelDim +
                       2.0 * heads * 2.0 * subKeys * (queryDim / 2.0) +
                       heads * topK * 4.0 * modelDim;
    return layer;
  }
  return layer;
}

/// The op that a weight read is attributed to: the outermost op whose parent
/// block is the function body or a moe.repeat body.
Operation *getLayerOp(Operation *op, Operation *function) {
  while (true) {
    Operation *parent = op->getParentOp();
    if (!parent || parent == function || isa<RepeatOp>(parent))
      return op;
    op = parent;
  }
}

unsigned repeatDepth(Operation *op, Operation *function) {
  unsigned depth = 0;
  for (Operation *parent = op->getParentOp(); parent && parent != function;
       parent = parent->getParentOp())
    if (isa<RepeatOp>(parent))
      ++depth;
  return depth;
}

double repeatMultiplier(Operation *op, Operation *function) {
  double multiplier = 1.0;
  for (Operation *parent = op->getParentOp(); parent && parent != function;
       parent = parent->getParentOp())
    if (auto repeat = dyn_cast<RepeatOp>(parent))
      multiplier *= static_cast<double>(repeat.getCountAttr().getInt());
  return multiplier;
}

bool isMoELayerOp(Operation *op) {
  return isa<LayerOp, RouteOp, ExpertsOp, PeerOp>(op);
}

} // namespace

Value mlir::moe::getWeightRoot(Value value) {
  while (value) {
    if (auto arg = dyn_cast<BlockArgument>(value)) {
      Operation *owner = arg.getOwner()->getParentOp();
      auto function = dyn_cast_or_null<FunctionOpInterface>(owner);
      if (!function || arg.getOwner() != &function.getFunctionBody().front())
        return Value();
      auto type = dyn_cast<ShapedType>(arg.getType());
      if (!type || !type.hasStaticShape())
        return Value();
      if (function.getArgAttr(arg.getArgNumber(), "moe.activation"))
        return Value();
      return arg;
    }
    Operation *def = value.getDefiningOp();
    if (def->hasTrait<OpTrait::ConstantLike>()) {
      auto type = dyn_cast<ShapedType>(value.getType());
      return type && type.hasStaticShape() ? value : Value();
    }
    value = getForwardedSource(def);
  }
  return Value();
}

ModelParameters mlir::moe::countParameters(FunctionOpInterface function) {
  ModelParameters model;
  model.functionName = function.getName().str();
  Operation *functionOp = function.getOperation();

  // Layer ops in program order, each with its weight uses.
  llvm::MapVector<Operation *, LayerUses> layers;
  function.getFunctionBody().walk([&](Operation *op) {
    if (isMoELayerOp(op)) {
      layers[op] = collectMoEUses(op);
      return;
    }
    // A view, reshape or transpose of a weight reads nothing: the ops that
    // consume it do, and getWeightRoot sees through it to the weight.
    if (getForwardedSource(op))
      return;
    // Ops nested in a moe layer op have no regions today; ops nested in other
    // ops (a gather's generic body) attribute to their outermost op.
    for (Value operand : op->getOperands()) {
      Value root = getWeightRoot(operand);
      if (!root)
        continue;
      Operation *layerOp = getLayerOp(op, functionOp);
      if (isMoELayerOp(layerOp))
        continue;
      LayerUses &layer = layers[layerOp];
      // A contraction does a multiply and an add per weight; a gather
      // (tensor.extract of a captured table) computes nothing and reads one
      // row per token; anything else (a scale) touches each weight once.
      double flopsPerParameter = 1.0;
      double bytesFraction = 1.0;
      if (auto linalgOp = dyn_cast<linalg::LinalgOp>(layerOp))
        if (linalgOp.getNumReductionLoops() > 0)
          flopsPerParameter = 2.0;
      if (isa<tensor::ExtractOp>(op) && op != layerOp) {
        flopsPerParameter = 0.0;
        int64_t rows = cast<ShapedType>(root.getType()).getDimSize(0);
        bytesFraction = rows > 0 ? 1.0 / static_cast<double>(rows) : 1.0;
      }
      // Count an op reading the same weight twice once.
      if (llvm::any_of(layer.uses, [&](const WeightUse &use) {
            return use.weight == root;
          }))
        continue;
      layer.uses.push_back({root, 1.0, flopsPerParameter, bytesFraction});
    }
  });

  llvm::SetVector<Value> storedWeights;
  llvm::MapVector<Operation *, LayerParameters> repeatSummaries;
  llvm::DenseMap<Operation *, llvm::SetVector<Value>> repeatWeights;
  for (auto &[op, uses] : layers) {
    LayerParameters layer;
    layer.op = op;
    layer.depth = repeatDepth(op, functionOp);
    layer.fractionUnknown = uses.fractionUnknown;
    double multiplier = repeatMultiplier(op, functionOp);
    llvm::SetVector<Value> layerWeights;
    double proportionalFlops = 0;
    for (const WeightUse &use : uses.uses) {
      double count = elementCount(use.weight);
      if (layerWeights.insert(use.weight))
        layer.storedParameters += count;
      double active = count * use.activeFraction;
      layer.activeParameters += active * multiplier;
      layer.weightBytesPerToken +=
          active * use.bytesFraction * elementBytes(use.weight) * multiplier;
      proportionalFlops += active * use.flopsPerActiveParameter;
      storedWeights.insert(use.weight);
    }
    layer.flopsPerToken =
        (uses.exactFlops >= 0 ? uses.exactFlops : proportionalFlops) *
        multiplier;
    model.activeParameters += layer.activeParameters;
    model.flopsPerToken += layer.flopsPerToken;
    model.weightBytesPerToken += layer.weightBytesPerToken;

    // Roll the layer up into every enclosing repeat's summary.
    for (Operation *parent = op->getParentOp(); parent && parent != functionOp;
         parent = parent->getParentOp()) {
      auto repeat = dyn_cast<RepeatOp>(parent);
      if (!repeat)
        continue;
      LayerParameters &summary = repeatSummaries[repeat];
      summary.op = repeat;
      summary.isRepeatSummary = true;
      summary.depth = repeatDepth(repeat, functionOp);
      for (Value weight : layerWeights)
        if (repeatWeights[repeat].insert(weight))
          summary.storedParameters += elementCount(weight);
      // The summary counts per token of the repeat's own input: scale away
      // the repeats that enclose the repeat itself.
      double outer = repeatMultiplier(repeat, functionOp);
      summary.activeParameters += layer.activeParameters / outer;
      summary.flopsPerToken += layer.flopsPerToken / outer;
      summary.weightBytesPerToken += layer.weightBytesPerToken / outer;
    }
    model.layers.push_back(layer);
  }
  for (Value weight : storedWeights)
    model.storedParameters += elementCount(weight);

  // Put each repeat summary before the first layer of its body.
  for (auto &entry : repeatSummaries) {
    Operation *repeat = entry.first;
    auto *firstInside =
        llvm::find_if(model.layers, [&](const LayerParameters &layer) {
          return repeat->isProperAncestor(layer.op);
        });
    model.layers.insert(firstInside, entry.second);
  }
  return model;
}

double ModelParameters::rooflineSecondsPerToken(TargetAttr target) const {
  TargetAttr resolved = target.withDefaults();
  double bandwidth = static_cast<double>(resolved.getBandwidthGbps()) * 1e9;
  double peak = static_cast<double>(resolved.getPeakGflops()) * 1e9;
  return std::max(weightBytesPerToken / bandwidth, flopsPerToken / peak);
}

std::string mlir::moe::formatCount(double count) {
  if (count >= 1e9)
    return llvm::formatv("{0:F2}B", count / 1e9).str();
  if (count >= 1e6)
    return llvm::formatv("{0:F2}M", count / 1e6).str();
  if (count >= 1e3)
    return llvm::formatv("{0:F2}K", count / 1e3).str();
  return llvm::formatv("{0:F0}", count).str();
}
