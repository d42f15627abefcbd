//===- DecomposeTest.cpp - decomposeLayer and buildActivation -------------===//
//
// decomposeLayer() expands a moe.layer into route, dispatch, experts and
// combine with the layer's attributes carried over (and a dense shared-expert
// FFN when there is one); the result verifies and keeps the parameter counts.
// buildActivation() builds verifying scalar code for every activation.
//
//===----------------------------------------------------------------------===//

#include "TestSupport.h"

#include "moe/Analysis/ParameterCount.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

class DecomposeTest : public test::MoETest {
protected:
  /// Parses `source` into `module`, finds its only moe.layer and decomposes
  /// it. Returns failure when any step fails.
  FailureOr<DecomposedLayer> decompose(StringRef source) {
    module = parse(source);
    if (!module)
      return failure();
    LayerOp layer;
    int numLayers = 0;
    module->walk([&](LayerOp op) {
      layer = op;
      ++numLayers;
    });
    EXPECT_EQ(numLayers, 1);
    if (!layer)
      return failure();
    IRRewriter rewriter(&context);
    return decomposeLayer(rewriter, layer);
  }

  template <typename OpT> int countOps() {
    int count = 0;
    module->walk([&](OpT) { ++count; });
    return count;
  }

  /// The value that the function @name returns.
  Value returnedValue(StringRef name) {
    auto function = module->lookupSymbol<func::FuncOp>(name);
    auto ret = cast<func::ReturnOp>(function.getBody().front().getTerminator());
    return ret.getOperand(0);
  }

  OwningOpRef<ModuleOp> module;
};

// Qwen/DeepSeek-style: sigmoid scores with a selection bias, group-limited
// routing, capacity dispatch dropping by score, gated shared experts and a
// shared-expert gate. T = 64, D = 64, E = 8, F = 128, S*F_s = 256.
constexpr const char *kFullLayer = R"mlir(
  func.func @full(%x: tensor<64x64xf32> {moe.activation},
                  %wr: tensor<8x64xf32>, %bias: tensor<8xf32>,
                  %wg: tensor<8x128x64xf32>, %wu: tensor<8x128x64xf32>,
                  %wd: tensor<8x64x128xf32>, %sg: tensor<256x64xf32>,
                  %su: tensor<256x64xf32>, %sd: tensor<64x256xf32>,
                  %gate: tensor<1x64xf32>) -> tensor<64x64xf32> {
    %y = moe.layer %x router(%wr) bias(%bias) gate_proj(%wg) up_proj(%wu)
        down_proj(%wd) shared_gate_proj(%sg) shared_up_proj(%su)
        shared_down_proj(%sd) shared_expert_gate(%gate)
        top_k(2) score(sigmoid) normalize scale(2.5) n_group(4)
        topk_group(2) group_score(max) mode(capacity) capacity_factor(1.25)
        min_capacity(4) drop_policy(score) activation(silu_glu)
        : (tensor<64x64xf32>, tensor<8x64xf32>, tensor<8xf32>,
           tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>,
           tensor<256x64xf32>, tensor<256x64xf32>, tensor<64x256xf32>,
           tensor<1x64xf32>) -> tensor<64x64xf32>
    return %y : tensor<64x64xf32>
  }
)mlir";

TEST_F(DecomposeTest, CarriesRoutingAndCapacityAttributes) {
  FailureOr<DecomposedLayer> parts = decompose(kFullLayer);
  ASSERT_TRUE(succeeded(parts));
  auto function = module->lookupSymbol<func::FuncOp>("full");
  auto arg = [&](unsigned index) { return function.getArgument(index); };

  auto route = dyn_cast_or_null<RouteOp>(parts->route);
  ASSERT_TRUE(route);
  EXPECT_EQ(route.getX(), arg(0));
  EXPECT_EQ(route.getRouterWeight(), arg(1));
  EXPECT_EQ(route.getBias(), arg(2));
  EXPECT_EQ(route.getTopK(), 2u);
  EXPECT_EQ(route.getScore(), ScoreFunction::Sigmoid);
  EXPECT_TRUE(route.getNormalize());
  EXPECT_EQ(route.getScale().convertToFloat(), 2.5f);
  EXPECT_EQ(route.getNGroup(), 4u);
  EXPECT_EQ(route.getTopkGroup(), 2u);
  EXPECT_EQ(route.getGroupScore(), GroupScore::Max);
  EXPECT_FALSE(route.getScores());

  auto dispatch = dyn_cast_or_null<DispatchOp>(parts->dispatch);
  ASSERT_TRUE(dispatch);
  EXPECT_EQ(dispatch.getX(), arg(0));
  EXPECT_EQ(dispatch.getIndices(), route.getIndices());
  EXPECT_EQ(dispatch.getWeights(), route.getWeights());
  EXPECT_EQ(dispatch.getNumExperts(), 8u);
  EXPECT_EQ(dispatch.getMode(), DispatchMode::Capacity);
  ASSERT_TRUE(dispatch.getCapacityFactor());
  EXPECT_EQ(dispatch.getCapacityFactor()->convertToDouble(), 1.25);
  EXPECT_EQ(dispatch.getMinCapacity(), 4u);
  EXPECT_EQ(dispatch.getDropPolicy(), DropPolicy::Score);
  // C = min(64, max(4, ceil(1.25 * 64 * 2 / 8))) = 20.
  EXPECT_EQ(dispatch.getRows().getType(),
            RankedTensorType::get({8, 20, 64}, Float32Type::get(&context)));

  auto experts = dyn_cast_or_null<ExpertsOp>(parts->experts);
  ASSERT_TRUE(experts);
  EXPECT_EQ(experts.getRows(), dispatch.getRows());
  EXPECT_EQ(experts.getSegments(), dispatch.getSegments());
  EXPECT_EQ(experts.getGateProj(), arg(3));
  EXPECT_EQ(experts.getUpProj(), arg(4));
  EXPECT_EQ(experts.getDownProj(), arg(5));
  EXPECT_EQ(experts.getActivation(), Activation::SiluGlu);
  EXPECT_TRUE(experts.isCapacityLayout());

  auto combine = dyn_cast_or_null<CombineOp>(parts->combine);
  ASSERT_TRUE(combine);
  EXPECT_EQ(combine.getRows(), experts.getResult());
  EXPECT_EQ(combine.getWeights(), route.getWeights());
  EXPECT_EQ(combine.getRowOf(), dispatch.getRowOf());

  // With shared experts the result is the add of the shared FFN, not the
  // combine, and it replaced the layer.
  ASSERT_TRUE(parts->result);
  EXPECT_NE(parts->result, combine.getResult());
  EXPECT_TRUE(
      isa_and_nonnull<linalg::GenericOp>(parts->result.getDefiningOp()));
  EXPECT_EQ(returnedValue("full"), parts->result);
  EXPECT_EQ(countOps<LayerOp>(), 0);
  // The shared experts are a second moe.experts (one expert, every
  // token); the shared-expert gate stays a matmul.
  EXPECT_EQ(countOps<ExpertsOp>(), 2);
  EXPECT_EQ(countOps<linalg::MatmulTransposeBOp>(), 1);
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(DecomposeTest, DroplessLayerWithoutSharedExperts) {
  FailureOr<DecomposedLayer> parts = decompose(R"mlir(
    func.func @plain(%x: tensor<?x32xbf16>, %wr: tensor<4x32xbf16>,
                     %wu: tensor<4x96x32xbf16>, %wd: tensor<4x32x96xbf16>)
        -> tensor<?x32xbf16> {
      %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(1)
          activation(relu)
          : (tensor<?x32xbf16>, tensor<4x32xbf16>, tensor<4x96x32xbf16>,
             tensor<4x32x96xbf16>) -> tensor<?x32xbf16>
      return %y : tensor<?x32xbf16>
    }
  )mlir");
  ASSERT_TRUE(succeeded(parts));
  auto route = dyn_cast_or_null<RouteOp>(parts->route);
  ASSERT_TRUE(route);
  EXPECT_EQ(route.getTopK(), 1u);
  EXPECT_EQ(route.getScore(), ScoreFunction::Softmax);
  EXPECT_FALSE(route.getNormalize());
  EXPECT_EQ(route.getScale().convertToFloat(), 1.0f);
  EXPECT_EQ(route.getNGroup(), 1u);
  EXPECT_FALSE(route.getBias());

  auto dispatch = dyn_cast_or_null<DispatchOp>(parts->dispatch);
  ASSERT_TRUE(dispatch);
  EXPECT_EQ(dispatch.getMode(), DispatchMode::Dropless);
  EXPECT_FALSE(dispatch.getCapacityFactor());
  EXPECT_FALSE(dispatch.getWeights());
  EXPECT_EQ(dispatch.getNumExperts(), 4u);

  auto experts = dyn_cast_or_null<ExpertsOp>(parts->experts);
  ASSERT_TRUE(experts);
  EXPECT_FALSE(experts.getGateProj());
  EXPECT_EQ(experts.getActivation(), Activation::Relu);
  EXPECT_FALSE(experts.isCapacityLayout());

  auto combine = dyn_cast_or_null<CombineOp>(parts->combine);
  ASSERT_TRUE(combine);
  // No shared experts: the combine is the layer's result.
  EXPECT_EQ(parts->result, combine.getResult());
  EXPECT_EQ(returnedValue("plain"), combine.getResult());
  EXPECT_EQ(countOps<LayerOp>(), 0);
  EXPECT_EQ(countOps<linalg::MatmulTransposeBOp>(), 0);
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(DecomposeTest, BF16SharedExpertsWithPlainActivation) {
  FailureOr<DecomposedLayer> parts = decompose(R"mlir(
    func.func @bf16(%x: tensor<?x32xbf16>, %wr: tensor<4x32xbf16>,
                    %wu: tensor<4x96x32xbf16>, %wd: tensor<4x32x96xbf16>,
                    %su: tensor<64x32xbf16>, %sd: tensor<32x64xbf16>)
        -> tensor<?x32xbf16> {
      %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd)
          shared_up_proj(%su) shared_down_proj(%sd) top_k(2)
          activation(gelu)
          : (tensor<?x32xbf16>, tensor<4x32xbf16>, tensor<4x96x32xbf16>,
             tensor<4x32x96xbf16>, tensor<64x32xbf16>, tensor<32x64xbf16>)
          -> tensor<?x32xbf16>
      return %y : tensor<?x32xbf16>
    }
  )mlir");
  ASSERT_TRUE(succeeded(parts));
  ASSERT_TRUE(parts->result);
  EXPECT_EQ(parts->result.getType(),
            RankedTensorType::get({ShapedType::kDynamic, 32},
                                  BFloat16Type::get(&context)));
  EXPECT_EQ(returnedValue("bf16"), parts->result);
  // Routed and shared experts, both with the plain gelu activation.
  EXPECT_EQ(countOps<ExpertsOp>(), 2);
  module->walk([&](ExpertsOp op) {
    EXPECT_EQ(op.getActivation(), Activation::Gelu);
    EXPECT_FALSE(op.getGateProj());
  });
  EXPECT_EQ(countOps<LayerOp>(), 0);
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(DecomposeTest, DynamicExpertCountFails) {
  FailureOr<DecomposedLayer> parts = decompose(R"mlir(
    func.func @dynamic(%x: tensor<?x32xf32>, %wr: tensor<?x32xf32>,
                       %wu: tensor<?x96x32xf32>, %wd: tensor<?x32x96xf32>)
        -> tensor<?x32xf32> {
      %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(2)
          activation(silu)
          : (tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x96x32xf32>,
             tensor<?x32x96xf32>) -> tensor<?x32xf32>
      return %y : tensor<?x32xf32>
    }
  )mlir");
  EXPECT_TRUE(failed(parts));
  ASSERT_TRUE(module);
  // The layer is left untouched and nothing was created.
  EXPECT_EQ(countOps<LayerOp>(), 1);
  EXPECT_EQ(countOps<RouteOp>(), 0);
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(DecomposeTest, KeepsParameterCounts) {
  module = parse(kFullLayer);
  ASSERT_TRUE(module);
  auto function = module->lookupSymbol<func::FuncOp>("full");
  ModelParameters before = countParameters(function);

  RewritePatternSet patterns(&context);
  populateMoEDecomposePatterns(patterns);
  ASSERT_TRUE(succeeded(applyPatternsGreedily(*module, std::move(patterns))));
  ASSERT_EQ(countOps<LayerOp>(), 0);
  ASSERT_TRUE(succeeded(verify(*module)));
  ModelParameters after = countParameters(function);

  EXPECT_DOUBLE_EQ(after.storedParameters, before.storedParameters);
  EXPECT_DOUBLE_EQ(after.activeParameters, before.activeParameters);
  EXPECT_DOUBLE_EQ(after.flopsPerToken, before.flopsPerToken);
  EXPECT_DOUBLE_EQ(after.weightBytesPerToken, before.weightBytesPerToken);
  for (const LayerParameters &layer : after.layers)
    EXPECT_FALSE(layer.fractionUnknown)
        << layer.op->getName().getStringRef().str();
  // Router + bias, routed experts, shared experts (a moe.experts) and the
  // shared-expert gate matmul.
  EXPECT_EQ(after.layers.size(), 4u);
}

class BuildActivationTest : public test::MoETest {};

TEST_F(BuildActivationTest, EveryActivationVerifies) {
  const Activation activations[] = {Activation::SiluGlu, Activation::GeluGlu,
                                    Activation::Relu, Activation::Gelu,
                                    Activation::Silu};
  OpBuilder builder(&context);
  Location loc = UnknownLoc::get(&context);
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  const Type types[] = {builder.getF32Type(), builder.getBF16Type(),
                        builder.getF16Type(), builder.getF64Type()};
  int index = 0;
  for (Type type : types) {
    for (Activation activation : activations) {
      SCOPED_TRACE(stringifyActivation(activation).str() + " on " +
                   std::to_string(index));
      builder.setInsertionPointToEnd(module->getBody());
      auto function = func::FuncOp::create(
          builder, loc, "activation" + std::to_string(index++),
          builder.getFunctionType({type}, {type}));
      Block *entry = function.addEntryBlock();
      builder.setInsertionPointToStart(entry);
      Value result =
          buildActivation(builder, loc, activation, function.getArgument(0));
      ASSERT_TRUE(result);
      EXPECT_EQ(result.getType(), type);
      func::ReturnOp::create(builder, loc, result);

      int erfs = 0, exps = 0, maxes = 0;
      function.walk([&](Operation *op) {
        erfs += isa<math::ErfOp>(op);
        exps += isa<math::ExpOp>(op);
        maxes += isa<arith::MaximumFOp>(op);
      });
      Operation *last = result.getDefiningOp();
      switch (activation) {
      case Activation::Relu:
        EXPECT_TRUE(isa<arith::MaximumFOp>(last));
        EXPECT_EQ(maxes, 1);
        EXPECT_EQ(exps + erfs, 0);
        break;
      case Activation::Silu:
      case Activation::SiluGlu:
        // v / (1 + exp(-v)).
        EXPECT_TRUE(isa<arith::DivFOp>(last));
        EXPECT_EQ(last->getOperand(0), function.getArgument(0));
        EXPECT_EQ(exps, 1);
        EXPECT_EQ(erfs, 0);
        break;
      case Activation::Gelu:
      case Activation::GeluGlu:
        // 0.5 * v * (1 + erf(v / sqrt(2))).
        EXPECT_TRUE(isa<arith::MulFOp>(last));
        EXPECT_EQ(erfs, 1);
        EXPECT_EQ(exps, 0);
        break;
      }
    }
  }
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(BuildActivationTest, GatedActivations) {
  EXPECT_TRUE(isGatedActivation(Activation::SiluGlu));
  EXPECT_TRUE(isGatedActivation(Activation::GeluGlu));
  EXPECT_FALSE(isGatedActivation(Activation::Relu));
  EXPECT_FALSE(isGatedActivation(Activation::Gelu));
  EXPECT_FALSE(isGatedActivation(Activation::Silu));
}

} // namespace
