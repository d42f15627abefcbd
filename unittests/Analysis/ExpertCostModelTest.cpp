//===- ExpertCostModelTest.cpp - Tiles and kernels for moe.experts --------===//
//
// chooseExpertTiling() and chooseTokenThreshold() on the layer shapes of
// BENCHMARKS.md: tile buffers that fit the budget, F-tiles that divide F,
// the token tile's bounds, the gemv/gemm crossover; and getExpertProblem()
// on a parsed dispatch + experts chain.
//
//===----------------------------------------------------------------------===//

#include "TestSupport.h"

#include "moe/Analysis/CostModel.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

class ExpertCostModelTest : public test::MoETest {};

constexpr uint64_t kMiB = 1024 * 1024;

/// An AVX-512 CPU with `l2` bytes of fast memory per core.
TargetAttr cpuTarget(MLIRContext &context, uint64_t l2) {
  return TargetAttr::get(&context, TargetKind::CPU, l2, 32 * kMiB,
                         /*vectorBits=*/512, /*computeUnits=*/2,
                         /*bandwidthGbps=*/70, /*peakGflops=*/450,
                         Bf16Dot::Avx512);
}

ExpertProblem makeProblem(int64_t model, int64_t hidden, int64_t experts,
                          int64_t topK) {
  ExpertProblem problem;
  problem.modelDim = model;
  problem.hiddenDim = hidden;
  problem.numExperts = experts;
  problem.topK = topK;
  return problem;
}

TEST_F(ExpertCostModelTest, RegisterBlockFollowsVectorWidth) {
  ExpertRegisterBlock wide = getExpertRegisterBlock(cpuTarget(context, kMiB));
  EXPECT_EQ(wide.lanes, 16);
  EXPECT_EQ(wide.tokenVectors, 2);
  EXPECT_EQ(wide.modelRows, 8);
  EXPECT_TRUE(wide.bf16Dot);
  auto avx2 = TargetAttr::get(&context, TargetKind::CPU, kMiB, 32 * kMiB, 256,
                              2, 70, 200, Bf16Dot::None);
  ExpertRegisterBlock narrow = getExpertRegisterBlock(avx2);
  EXPECT_EQ(narrow.lanes, 8);
  EXPECT_EQ(narrow.tokenVectors, 1);
  EXPECT_EQ(narrow.modelRows, 4);
  EXPECT_FALSE(narrow.bf16Dot);
  // An AVX-512 CPU without AVX512-BF16 extends bf16 to f32 instead.
  auto noBf16 = TargetAttr::get(&context, TargetKind::CPU, kMiB, 32 * kMiB, 512,
                                2, 70, 450, Bf16Dot::None);
  EXPECT_FALSE(getExpertRegisterBlock(noBf16).bf16Dot);
}

TEST_F(ExpertCostModelTest, TilesFitTheBudgetAndDivideF) {
  // Every layer case of BENCHMARKS.md at four budgets (the tile buffers are
  // f32 whatever the weight type, so the weight type does not matter).
  const int64_t shapes[][2] = {
      {2048, 1024}, {4096, 14336}, {2048, 1408}, {2048, 768}};
  for (uint64_t budget : {kMiB / 16, kMiB / 4, kMiB, 4 * kMiB})
    for (const auto &shape : shapes) {
      ExpertProblem problem = makeProblem(shape[0], shape[1], 64, 8);
      ExpertTilingChoice choice =
          chooseExpertTiling(problem, cpuTarget(context, budget));
      SCOPED_TRACE(testing::Message() << "D " << shape[0] << " F " << shape[1]
                                      << " budget " << budget);
      EXPECT_EQ(choice.kernel, ExpertKernel::Auto);
      EXPECT_EQ(shape[1] % choice.hiddenTile, 0);
      EXPECT_EQ(choice.hiddenTile % 16, 0);
      EXPECT_LE(choice.hiddenTile, 256);
      // The hidden tile buffer fits an eighth of the budget unless one
      // vector of hidden units is already too big.
      if (choice.hiddenTile > 16)
        EXPECT_LE(choice.hiddenTile * choice.tokenTile * 4,
                  static_cast<int64_t>(budget / 8));
      // The transposed rows and outputs fit the budget unless one
      // register block of tokens is already too big.
      EXPECT_EQ(choice.tokenTile % 32, 0);
      EXPECT_GE(choice.tokenTile, 32);
      EXPECT_LE(choice.tokenTile, 256);
      if (choice.tokenTile > 32)
        EXPECT_LE(2 * shape[0] * choice.tokenTile * 4,
                  static_cast<int64_t>(budget));
      // gemm from half a vector of rows.
      EXPECT_EQ(choice.gemmMinRows, 8);
    }
}

TEST_F(ExpertCostModelTest, OLMoEAtOneMiB) {
  ExpertProblem problem = makeProblem(2048, 1024, 64, 8);
  ExpertTilingChoice choice =
      chooseExpertTiling(problem, cpuTarget(context, kMiB));
  // 1 MiB / (2 x 2048 x 4 B) = 64 tokens.
  EXPECT_EQ(choice.tokenTile, 64);
  // 128 KiB / (64 x 4 B) = 512, capped at 256.
  EXPECT_EQ(choice.hiddenTile, 256);
  // 64 KiB: 8 KiB / 128 B = 64 hidden units.
  EXPECT_EQ(
      chooseExpertTiling(problem, cpuTarget(context, kMiB / 16)).hiddenTile,
      64);
}

TEST_F(ExpertCostModelTest, BudgetOverrideWins) {
  ExpertProblem problem = makeProblem(2048, 1024, 64, 8);
  ExpertTilingChoice small =
      chooseExpertTiling(problem, cpuTarget(context, 4 * kMiB), 256 * 1024);
  ExpertTilingChoice large =
      chooseExpertTiling(problem, cpuTarget(context, 256 * 1024), 4 * kMiB);
  EXPECT_EQ(small.hiddenTile, 256);
  EXPECT_EQ(small.tokenTile, 32);
  EXPECT_EQ(large.hiddenTile, 256);
  EXPECT_EQ(large.tokenTile, 256);
}

TEST_F(ExpertCostModelTest, GemmTileDividesF) {
  for (const auto &shape : {std::pair<int64_t, int64_t>{2048, 1024},
                            {4096, 14336},
                            {2048, 1408},
                            {2048, 768}}) {
    ExpertTilingChoice gemm =
        chooseExpertTiling(makeProblem(shape.first, shape.second, 64, 8),
                           cpuTarget(context, kMiB), 0, ExpertKernel::Gemm);
    EXPECT_EQ(gemm.kernel, ExpertKernel::Gemm);
    EXPECT_EQ(gemm.gemmMinRows, 0);
    EXPECT_LE(gemm.hiddenTile, 256);
    EXPECT_EQ(shape.second % gemm.hiddenTile, 0);
  }
  // 1408 = 88 x 16: the largest multiple of 16 <= 256 dividing it is 176.
  EXPECT_EQ(chooseExpertTiling(makeProblem(2048, 1408, 64, 6),
                               cpuTarget(context, kMiB), 0, ExpertKernel::Gemm)
                .hiddenTile,
            176);
}

TEST_F(ExpertCostModelTest, GemvTileIsLongForContiguousDownRows) {
  TargetAttr target = cpuTarget(context, kMiB);
  // 128 KiB / (8 rows x 4 B) = 4096 hidden units at most, and at most
  // F / cores, so that the 2 cores can share an expert: 512 of OLMoE's
  // F = 1024; for Mixtral's F = 14336 = 2^11 x 7 the largest divisor
  // <= 4096 that is a multiple of 16: 3584.
  EXPECT_EQ(chooseExpertTiling(makeProblem(2048, 1024, 64, 8), target, 0,
                               ExpertKernel::Gemv)
                .hiddenTile,
            512);
  // One core: all of F.
  TargetAttr oneCore = TargetAttr::get(
      &context, TargetKind::CPU, kMiB, 32 * kMiB,
      /*vectorBits=*/512, /*computeUnits=*/1,
      /*bandwidthGbps=*/70, /*peakGflops=*/450, Bf16Dot::Avx512);
  EXPECT_EQ(chooseExpertTiling(makeProblem(2048, 1024, 64, 8), oneCore, 0,
                               ExpertKernel::Gemv)
                .hiddenTile,
            1024);
  EXPECT_EQ(chooseExpertTiling(makeProblem(4096, 14336, 8, 2), target, 0,
                               ExpertKernel::Gemv)
                .hiddenTile,
            3584);
  EXPECT_EQ(chooseExpertTiling(makeProblem(4096, 14336, 8, 2), target, 0,
                               ExpertKernel::Gemv)
                .gemmMinRows,
            0);
}

TEST_F(ExpertCostModelTest, OddHiddenSizeIsOneTile) {
  ExpertTilingChoice choice =
      chooseExpertTiling(makeProblem(24, 40, 8, 2), cpuTarget(context, kMiB));
  EXPECT_EQ(choice.hiddenTile, 40);
  EXPECT_EQ(choice.tokenTile, 256);
}

TEST_F(ExpertCostModelTest, TokenThresholdScalesWithExpertsPerToken) {
  TargetAttr target = cpuTarget(context, kMiB);
  // 8 rows per expert on average: T = 8 E / K.
  EXPECT_EQ(chooseTokenThreshold(makeProblem(2048, 1024, 64, 8), target), 64);
  EXPECT_EQ(chooseTokenThreshold(makeProblem(4096, 14336, 8, 2), target), 32);
  EXPECT_EQ(chooseTokenThreshold(makeProblem(2048, 1408, 64, 6), target), 86);
  // K unknown: the per-expert crossover itself.
  EXPECT_EQ(chooseTokenThreshold(makeProblem(2048, 1024, 64, 0), target), 8);
}

TEST_F(ExpertCostModelTest, ProblemOfAParsedChain) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @f(%x: tensor<?x64xbf16>, %i: tensor<?x6xi32>,
                 %wu: tensor<16x96x64xbf16>, %wd: tensor<16x64x96xbf16>)
        -> tensor<?x64xbf16> {
      %rows, %offsets, %row_of = moe.dispatch %x, %i num_experts(16)
          : (tensor<?x64xbf16>, tensor<?x6xi32>)
          -> (tensor<?x64xbf16>, tensor<17xi32>, tensor<?x6xi32>)
      %y = moe.experts %rows, %offsets up_proj(%wu) down_proj(%wd)
          activation(gelu)
          : (tensor<?x64xbf16>, tensor<17xi32>, tensor<16x96x64xbf16>,
             tensor<16x64x96xbf16>) -> tensor<?x64xbf16>
      return %y : tensor<?x64xbf16>
    })mlir");
  ASSERT_TRUE(module);
  ExpertsOp experts;
  module->walk([&](ExpertsOp op) { experts = op; });
  ASSERT_TRUE(experts);
  ExpertProblem problem = getExpertProblem(experts);
  EXPECT_EQ(problem.modelDim, 64);
  EXPECT_EQ(problem.hiddenDim, 96);
  EXPECT_EQ(problem.numExperts, 16);
  EXPECT_EQ(problem.topK, 6);
}

} // namespace
