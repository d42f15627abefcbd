//===- BuildersTest.cpp - The inference builders of the moe ops -----------===//
//
// Builds each moe op from C++ with the builders that infer result types, and
// checks the inferred types (static and dynamic token counts, the capacity
// C = min(T, max(min_capacity, ceil(cf * T * K / E)))), that the result
// verifies, and that a wrongly built op fails verification with a message.
//
//===----------------------------------------------------------------------===//

#include "TestSupport.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

constexpr int64_t kDynamic = ShapedType::kDynamic;

class BuildersTest : public test::MoETest {
protected:
  BuildersTest()
      : builder(&context), loc(UnknownLoc::get(&context)),
        module(ModuleOp::create(loc)) {}

  RankedTensorType tensor(ArrayRef<int64_t> shape, Type element) {
    return RankedTensorType::get(shape, element);
  }
  RankedTensorType f32Tensor(ArrayRef<int64_t> shape) {
    return tensor(shape, builder.getF32Type());
  }
  RankedTensorType i32Tensor(ArrayRef<int64_t> shape) {
    return tensor(shape, builder.getI32Type());
  }

  /// Adds `func.func @name(argTypes)` to the module and sets the insertion
  /// point to its entry block.
  func::FuncOp beginFunction(StringRef name, TypeRange argTypes) {
    builder.setInsertionPointToEnd(module->getBody());
    auto function = func::FuncOp::create(builder, loc, name,
                                         builder.getFunctionType(argTypes, {}));
    Block *entry = function.addEntryBlock();
    builder.setInsertionPointToStart(entry);
    return function;
  }

  /// Ends `function` with a func.return of `results` and fixes its type.
  void endFunction(func::FuncOp function, ValueRange results) {
    func::ReturnOp::create(builder, loc, results);
    function.setFunctionType(builder.getFunctionType(
        function.getArgumentTypes(), TypeRange(results)));
  }

  OpBuilder builder;
  Location loc;
  OwningOpRef<ModuleOp> module;
};

TEST_F(BuildersTest, TopKInfersValuesAndIndices) {
  auto function =
      beginFunction("topk", {f32Tensor({kDynamic, 8}),
                             tensor({4, 16, 8}, builder.getF16Type())});
  auto dynamicTopK = TopKOp::create(builder, loc, function.getArgument(0), 2);
  EXPECT_EQ(dynamicTopK.getValues().getType(), f32Tensor({kDynamic, 2}));
  EXPECT_EQ(dynamicTopK.getIndices().getType(), i32Tensor({kDynamic, 2}));
  EXPECT_EQ(dynamicTopK.getK(), 2u);

  // Rank 3, f16 values and i64 indices on request.
  auto staticTopK = TopKOp::create(builder, loc, function.getArgument(1), 3,
                                   builder.getI64Type());
  EXPECT_EQ(staticTopK.getValues().getType(),
            tensor({4, 16, 3}, builder.getF16Type()));
  EXPECT_EQ(staticTopK.getIndices().getType(),
            tensor({4, 16, 3}, builder.getI64Type()));
  endFunction(function, {dynamicTopK.getValues(), staticTopK.getIndices()});
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(BuildersTest, RouteInfersWeightsIndicesAndScores) {
  Type bf16 = builder.getBF16Type();
  auto function = beginFunction(
      "route", {tensor({kDynamic, 64}, bf16), tensor({8, 64}, bf16),
                f32Tensor({8}), f32Tensor({16, 64}), f32Tensor({8, 64})});
  Value x = function.getArgument(0);
  Value router = function.getArgument(1);
  Value bias = function.getArgument(2);

  auto withScores = RouteOp::create(builder, loc, x, router, bias, 2,
                                    /*withScores=*/true);
  EXPECT_EQ(withScores.getWeights().getType(), f32Tensor({kDynamic, 2}));
  EXPECT_EQ(withScores.getIndices().getType(), i32Tensor({kDynamic, 2}));
  ASSERT_TRUE(withScores.getScores());
  EXPECT_EQ(withScores.getScores().getType(), f32Tensor({kDynamic, 8}));
  EXPECT_EQ(withScores.getBias(), bias);
  // The builder leaves the routing attributes at their defaults.
  EXPECT_EQ(withScores.getTopK(), 2u);
  EXPECT_EQ(withScores.getScore(), ScoreFunction::Softmax);
  EXPECT_FALSE(withScores.getNormalize());
  EXPECT_EQ(withScores.getScale().convertToFloat(), 1.0f);
  EXPECT_EQ(withScores.getNGroup(), 1u);
  EXPECT_EQ(withScores.getTopkGroup(), 1u);

  auto staticRoute = RouteOp::create(builder, loc, function.getArgument(3),
                                     function.getArgument(4), Value(), 4);
  EXPECT_EQ(staticRoute->getNumResults(), 2u);
  EXPECT_FALSE(staticRoute.getScores());
  EXPECT_FALSE(staticRoute.getBias());
  EXPECT_EQ(staticRoute.getWeights().getType(), f32Tensor({16, 4}));
  EXPECT_EQ(staticRoute.getIndices().getType(), i32Tensor({16, 4}));
  endFunction(function, {withScores.getWeights(), staticRoute.getIndices()});
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(BuildersTest, DroplessDispatchInfersRowsOffsetsAndRowOf) {
  auto function = beginFunction(
      "dispatch", {f32Tensor({kDynamic, 64}), i32Tensor({kDynamic, 2}),
                   f32Tensor({16, 64}), i32Tensor({16, 2})});
  auto dynamicDispatch = DispatchOp::create(
      builder, loc, function.getArgument(0), function.getArgument(1), 8);
  EXPECT_EQ(dynamicDispatch.getRows().getType(), f32Tensor({kDynamic, 64}));
  EXPECT_EQ(dynamicDispatch.getSegments().getType(), i32Tensor({9}));
  EXPECT_EQ(dynamicDispatch.getRowOf().getType(), i32Tensor({kDynamic, 2}));
  EXPECT_EQ(dynamicDispatch.getMode(), DispatchMode::Dropless);
  EXPECT_FALSE(dynamicDispatch.getCapacityFactor());
  EXPECT_FALSE(dynamicDispatch.getWeights());

  auto staticDispatch = DispatchOp::create(
      builder, loc, function.getArgument(2), function.getArgument(3), 8);
  // T * K = 32 rows.
  EXPECT_EQ(staticDispatch.getRows().getType(), f32Tensor({32, 64}));
  EXPECT_EQ(staticDispatch.getSegments().getType(), i32Tensor({9}));
  EXPECT_EQ(staticDispatch.getRowOf().getType(), i32Tensor({16, 2}));
  endFunction(function, {dynamicDispatch.getRows(), staticDispatch.getRows()});
  EXPECT_TRUE(succeeded(verify(*module)));
}

struct CapacityCase {
  int64_t numTokens;
  int64_t topK;
  int64_t numExperts;
  double capacityFactor;
  int64_t minCapacity;
  int64_t expectedCapacity;
};

TEST_F(BuildersTest, CapacityDispatchInfersCapacity) {
  const CapacityCase cases[] = {
      // ceil(1.25 * 64 * 2 / 8) = 20.
      {64, 2, 8, 1.25, 0, 20},
      // ceil(1.0 * 10 * 1 / 4) = ceil(2.5) = 3.
      {10, 1, 4, 1.0, 0, 3},
      // ceil(1.0 * 4 * 2 / 8) = 1, raised to min_capacity 3.
      {4, 2, 8, 1.0, 3, 3},
      // min_capacity 10 is capped at T = 4.
      {4, 2, 8, 1.0, 10, 4},
      // ceil(2.0 * 64 * 2 / 8) = 32.
      {64, 2, 8, 2.0, 0, 32},
      // A factor that makes C exceed T is capped at T: ceil(8 * 6 * 2 / 2).
      {6, 2, 2, 8.0, 0, 6},
      // Dynamic T: dynamic C.
      {kDynamic, 2, 8, 1.25, 4, kDynamic},
  };
  int index = 0;
  SmallVector<DispatchOp> dispatches;
  for (const CapacityCase &c : cases) {
    auto function = beginFunction(
        "capacity" + std::to_string(index++),
        {f32Tensor({c.numTokens, 32}), i32Tensor({c.numTokens, c.topK})});
    auto dispatch = DispatchOp::create(
        builder, loc, function.getArgument(0), function.getArgument(1),
        /*weights=*/Value(), c.numExperts, c.capacityFactor, c.minCapacity,
        DropPolicy::Position);
    SCOPED_TRACE("T=" + std::to_string(c.numTokens) + " K=" +
                 std::to_string(c.topK) + " E=" + std::to_string(c.numExperts) +
                 " cf=" + std::to_string(c.capacityFactor) +
                 " min=" + std::to_string(c.minCapacity));
    EXPECT_EQ(dispatch.getRows().getType(),
              f32Tensor({c.numExperts, c.expectedCapacity, 32}));
    EXPECT_EQ(dispatch.getSegments().getType(), i32Tensor({c.numExperts}));
    EXPECT_EQ(dispatch.getRowOf().getType(), i32Tensor({c.numTokens, c.topK}));
    EXPECT_EQ(dispatch.getMode(), DispatchMode::Capacity);
    ASSERT_TRUE(dispatch.getCapacityFactor());
    EXPECT_EQ(dispatch.getCapacityFactor()->convertToDouble(),
              c.capacityFactor);
    EXPECT_EQ(dispatch.getMinCapacity(), static_cast<uint64_t>(c.minCapacity));
    EXPECT_EQ(dispatch.getCapacityFor(c.numTokens), c.expectedCapacity);
    endFunction(function, {dispatch.getRows()});
    dispatches.push_back(dispatch);
  }
  // The capacity for another token count, from the first op's attributes.
  EXPECT_EQ(dispatches.front().getCapacityFor(128), 40);
  EXPECT_EQ(dispatches.front().getCapacityFor(kDynamic), kDynamic);
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(BuildersTest, CapacityDispatchWithScoreDropPolicy) {
  auto function =
      beginFunction("score_policy", {f32Tensor({64, 64}), i32Tensor({64, 2}),
                                     f32Tensor({64, 2})});
  auto dispatch = DispatchOp::create(
      builder, loc, function.getArgument(0), function.getArgument(1),
      function.getArgument(2), 8, 1.25, 0, DropPolicy::Score);
  EXPECT_EQ(dispatch.getDropPolicy(), DropPolicy::Score);
  EXPECT_EQ(dispatch.getWeights(), function.getArgument(2));
  EXPECT_EQ(dispatch.getRows().getType(), f32Tensor({8, 20, 64}));
  endFunction(function, {dispatch.getRows()});
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(BuildersTest, DroplessPipelineFromBuilders) {
  auto function = beginFunction(
      "dropless_layer",
      {f32Tensor({kDynamic, 64}), f32Tensor({8, 64}), f32Tensor({8, 128, 64}),
       f32Tensor({8, 128, 64}), f32Tensor({8, 64, 128})});
  Value x = function.getArgument(0);
  auto route =
      RouteOp::create(builder, loc, x, function.getArgument(1), Value(), 2);
  route.setNormalize(true);
  auto dispatch = DispatchOp::create(builder, loc, x, route.getIndices(), 8);
  auto experts = ExpertsOp::create(
      builder, loc, dispatch.getRows(), dispatch.getSegments(),
      function.getArgument(2), function.getArgument(3), function.getArgument(4),
      Activation::SiluGlu);
  EXPECT_EQ(experts.getResult().getType(), dispatch.getRows().getType());
  EXPECT_FALSE(experts.isCapacityLayout());
  EXPECT_EQ(experts.getActivation(), Activation::SiluGlu);
  auto combine = CombineOp::create(builder, loc, experts.getResult(),
                                   route.getWeights(), dispatch.getRowOf());
  EXPECT_EQ(combine.getResult().getType(), f32Tensor({kDynamic, 64}));
  endFunction(function, {combine.getResult()});
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(BuildersTest, CapacityPipelineFromBuilders) {
  Type f16 = builder.getF16Type();
  auto function = beginFunction(
      "capacity_layer", {tensor({64, 32}, f16), f32Tensor({8, 32}),
                         tensor({8, 48, 32}, f16), tensor({8, 32, 48}, f16)});
  Value x = function.getArgument(0);
  auto route =
      RouteOp::create(builder, loc, x, function.getArgument(1), Value(), 2);
  auto dispatch =
      DispatchOp::create(builder, loc, x, route.getIndices(),
                         route.getWeights(), 8, 1.25, 0, DropPolicy::Score);
  EXPECT_EQ(dispatch.getRows().getType(), tensor({8, 20, 32}, f16));
  auto experts = ExpertsOp::create(
      builder, loc, dispatch.getRows(), dispatch.getSegments(),
      /*gateProj=*/Value(), function.getArgument(2), function.getArgument(3),
      Activation::Gelu);
  EXPECT_TRUE(experts.isCapacityLayout());
  EXPECT_EQ(experts.getResult().getType(), tensor({8, 20, 32}, f16));
  auto combine = CombineOp::create(builder, loc, experts.getResult(),
                                   route.getWeights(), dispatch.getRowOf());
  // T x D in the element type of the rows.
  EXPECT_EQ(combine.getResult().getType(), tensor({64, 32}, f16));
  endFunction(function, {combine.getResult()});
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(BuildersTest, RepeatWithBodyAndYield) {
  RankedTensorType hidden = f32Tensor({kDynamic, 64});
  auto function = beginFunction("repeat", {hidden, hidden});
  auto repeat = RepeatOp::create(
      builder, loc, 3,
      ValueRange{function.getArgument(0), function.getArgument(1)},
      RepeatSchedule::Resident);
  EXPECT_EQ(repeat.getCount(), 3u);
  EXPECT_EQ(repeat.getSchedule(), RepeatSchedule::Resident);
  ASSERT_EQ(repeat.getRegionIterArgs().size(), 2u);
  EXPECT_EQ(repeat->getResultTypes(), repeat.getInits().getTypes());
  {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(&repeat.getBodyBlock());
    Value first = repeat.getRegionIterArgs()[0];
    Value second = repeat.getRegionIterArgs()[1];
    Value sum = arith::AddFOp::create(builder, loc, first, second);
    YieldOp::create(builder, loc, ValueRange{sum, first});
  }
  endFunction(function, repeat.getResults());
  ASSERT_TRUE(succeeded(verify(*module)));

  // The custom assembly round-trips.
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os);
  EXPECT_NE(text.find("moe.repeat 3 schedule(resident) iter_args("),
            std::string::npos)
      << text;
  OwningOpRef<ModuleOp> reparsed = parse(text);
  ASSERT_TRUE(reparsed);
  RepeatOp reparsedRepeat;
  reparsed->walk([&](RepeatOp op) { reparsedRepeat = op; });
  ASSERT_TRUE(reparsedRepeat);
  EXPECT_EQ(reparsedRepeat.getCount(), 3u);
  EXPECT_EQ(reparsedRepeat.getSchedule(), RepeatSchedule::Resident);
  EXPECT_EQ(reparsedRepeat->getNumResults(), 2u);
}

TEST_F(BuildersTest, RepeatYieldingTooFewValuesFailsVerification) {
  RankedTensorType hidden = f32Tensor({4, 64});
  auto function = beginFunction("bad_repeat", {hidden, hidden});
  auto repeat = RepeatOp::create(
      builder, loc, 2,
      ValueRange{function.getArgument(0), function.getArgument(1)});
  {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(&repeat.getBodyBlock());
    YieldOp::create(builder, loc, ValueRange{repeat.getRegionIterArgs()[0]});
  }
  endFunction(function, repeat.getResults());
  test::DiagnosticCollector diagnostics(context);
  EXPECT_TRUE(failed(verify(*module)));
  EXPECT_TRUE(diagnostics.contains(
      "expects 2 yielded values (one per iter_arg), but found 1"))
      << diagnostics.str();
}

TEST_F(BuildersTest, TopKLargerThanExpertsFailsVerification) {
  auto function = beginFunction(
      "bad_route", {f32Tensor({kDynamic, 64}), f32Tensor({8, 64})});
  auto route = RouteOp::create(builder, loc, function.getArgument(0),
                               function.getArgument(1), Value(), 9);
  // The builder still infers types from the requested top-k.
  EXPECT_EQ(route.getWeights().getType(), f32Tensor({kDynamic, 9}));
  endFunction(function, {route.getWeights()});

  test::DiagnosticCollector diagnostics(context);
  EXPECT_TRUE(failed(verify(*module)));
  EXPECT_TRUE(diagnostics.contains("'moe.route' op expects top_k (9) <= "
                                   "num_experts (8)"))
      << diagnostics.str();
}

TEST_F(BuildersTest, TopKLargerThanLastDimFailsVerification) {
  auto function = beginFunction("bad_topk", {f32Tensor({4, 8})});
  auto topK = TopKOp::create(builder, loc, function.getArgument(0), 9);
  endFunction(function, {topK.getValues()});
  test::DiagnosticCollector diagnostics(context);
  EXPECT_TRUE(failed(verify(*module)));
  EXPECT_TRUE(diagnostics.contains(
      "expects k (9) <= the size of the last dimension (8)"))
      << diagnostics.str();
}

TEST_F(BuildersTest, GatedExpertsWithoutGateProjFailVerification) {
  auto function = beginFunction(
      "bad_experts", {f32Tensor({kDynamic, 64}), i32Tensor({9}),
                      f32Tensor({8, 128, 64}), f32Tensor({8, 64, 128})});
  auto experts = ExpertsOp::create(
      builder, loc, function.getArgument(0), function.getArgument(1),
      /*gateProj=*/Value(), function.getArgument(2), function.getArgument(3),
      Activation::SiluGlu);
  endFunction(function, {experts.getResult()});
  test::DiagnosticCollector diagnostics(context);
  EXPECT_TRUE(failed(verify(*module)));
  EXPECT_TRUE(diagnostics.contains(
      "expects a gate_proj operand for the gated activation silu_glu"))
      << diagnostics.str();
}

TEST_F(BuildersTest, DispatchWithTooFewOffsetsFailsVerification) {
  // Experts over 8 experts fed the offsets of a 4-expert dispatch.
  auto function = beginFunction(
      "bad_offsets", {f32Tensor({kDynamic, 64}), i32Tensor({kDynamic, 2}),
                      f32Tensor({8, 128, 64}), f32Tensor({8, 64, 128})});
  auto dispatch = DispatchOp::create(builder, loc, function.getArgument(0),
                                     function.getArgument(1), 4);
  auto experts = ExpertsOp::create(
      builder, loc, dispatch.getRows(), dispatch.getSegments(), Value(),
      function.getArgument(2), function.getArgument(3), Activation::Relu);
  endFunction(function, {experts.getResult()});
  test::DiagnosticCollector diagnostics(context);
  EXPECT_TRUE(failed(verify(*module)));
  EXPECT_TRUE(diagnostics.contains("expects up_proj dim 0 (experts) (8) to "
                                   "match the number of offsets in segments "
                                   "minus 1 (4)"))
      << diagnostics.str();
}

} // namespace
