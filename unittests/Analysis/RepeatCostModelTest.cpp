//===- RepeatCostModelTest.cpp - Unroll, loop or resident for moe.repeat --===//
//
// chooseRepeatSchedule() on each of its decisions and their boundaries (a
// count of 1 is inlined, weights that fit are resident, small bodies with low
// counts are unrolled, the rest stay loops), and getRepeatProblem() on
// parsed repeats: which captured values are weights, and how ops are
// counted.
//
//===----------------------------------------------------------------------===//

#include "TestSupport.h"

#include "moe/Analysis/CostModel.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;

namespace {

constexpr int64_t kMiB = 1024 * 1024;
/// A SwiGLU block of D = 576, F = 1536 in f32: 10.6 MB of weights.
constexpr int64_t kSwiGLUBytes = 3 * 576 * 1536 * 4;
constexpr uint64_t kL3 = 32 * kMiB;

RepeatProblem makeProblem(int64_t weightBytes, int64_t count, int64_t ops) {
  RepeatProblem problem;
  problem.bodyWeightBytes = weightBytes;
  problem.count = count;
  problem.bodyOps = ops;
  return problem;
}

TEST(RepeatScheduleTest, CountOneIsInlined) {
  // Nothing to reuse, whatever the weights: the body is inlined.
  EXPECT_EQ(chooseRepeatSchedule(makeProblem(kSwiGLUBytes, 1, 20), kL3, 4),
            RepeatSchedule::Unroll);
  EXPECT_EQ(chooseRepeatSchedule(makeProblem(kSwiGLUBytes, 1, 1000), 0, 4),
            RepeatSchedule::Unroll);
  // Unless unrolling is switched off.
  EXPECT_EQ(chooseRepeatSchedule(makeProblem(kSwiGLUBytes, 1, 20), kL3, 0),
            RepeatSchedule::Auto);
}

TEST(RepeatScheduleTest, WeightsThatFitAreResident) {
  EXPECT_EQ(chooseRepeatSchedule(makeProblem(kSwiGLUBytes, 2, 20), kL3, 4),
            RepeatSchedule::Resident);
  // Resident wins over unrolling, and does not depend on the count.
  EXPECT_EQ(chooseRepeatSchedule(makeProblem(kSwiGLUBytes, 1000, 2000), kL3, 4),
            RepeatSchedule::Resident);
  // The boundary: weights exactly the size of the cache fit.
  EXPECT_EQ(chooseRepeatSchedule(makeProblem(kL3, 8, 1000), kL3, 4),
            RepeatSchedule::Resident);
  EXPECT_EQ(chooseRepeatSchedule(makeProblem(kL3 + 1, 8, 1000), kL3, 4),
            RepeatSchedule::Auto);
}

TEST(RepeatScheduleTest, NoWeightsIsNeverResident) {
  // Nothing to keep in cache: a small body is unrolled, a large one kept.
  EXPECT_EQ(chooseRepeatSchedule(makeProblem(0, 2, 10), kL3, 4),
            RepeatSchedule::Unroll);
  EXPECT_EQ(chooseRepeatSchedule(makeProblem(0, 8, 10), kL3, 4),
            RepeatSchedule::Auto);
}

TEST(RepeatScheduleTest, SmallBodyWithLowCountIsUnrolled) {
  // Weights too big for the budget; count x body ops within the limit.
  int64_t ops = kMaxUnrolledRepeatOps / 4;
  EXPECT_EQ(chooseRepeatSchedule(makeProblem(kSwiGLUBytes, 4, ops), kMiB, 4),
            RepeatSchedule::Unroll);
  EXPECT_EQ(
      chooseRepeatSchedule(makeProblem(kSwiGLUBytes, 2, 2 * ops), kMiB, 4),
      RepeatSchedule::Unroll);
  // One op more than the limit allows.
  EXPECT_EQ(
      chooseRepeatSchedule(makeProblem(kSwiGLUBytes, 4, ops + 1), kMiB, 4),
      RepeatSchedule::Auto);
}

TEST(RepeatScheduleTest, CountAboveMaxUnrollCountStaysALoop) {
  EXPECT_EQ(chooseRepeatSchedule(makeProblem(kSwiGLUBytes, 5, 10), kMiB, 4),
            RepeatSchedule::Auto);
  // A higher limit lets it unroll.
  EXPECT_EQ(chooseRepeatSchedule(makeProblem(kSwiGLUBytes, 5, 10), kMiB, 8),
            RepeatSchedule::Unroll);
  // count x body ops beyond int64_t does not overflow into "small".
  constexpr int64_t kHuge = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(chooseRepeatSchedule(makeProblem(kSwiGLUBytes, kHuge, kHuge), kMiB,
                                 kHuge),
            RepeatSchedule::Auto);
}

class RepeatProblemTest : public test::MoETest {
protected:
  /// Parses `source` and measures its first (outermost) moe.repeat.
  RepeatProblem measure(StringRef source) {
    module = parse(source);
    if (!module)
      return {};
    RepeatOp repeat;
    module->walk<WalkOrder::PreOrder>([&](RepeatOp op) {
      if (!repeat)
        repeat = op;
    });
    EXPECT_TRUE(repeat) << "no moe.repeat";
    if (!repeat)
      return {};
    return getRepeatProblem(repeat);
  }

  OwningOpRef<ModuleOp> module;
};

TEST_F(RepeatProblemTest, CountsEachStaticWeightOnce) {
  // %w is read twice and %b only inside the generic's payload; %e holds no
  // data, %dyn has no static size, %s and %t are scalars.
  RepeatProblem problem = measure(R"mlir(
    func.func @f(%x: tensor<4x64xf32>, %w: tensor<64x64xf32>,
                 %b: tensor<64xbf16>, %dyn: tensor<?x64xf32>, %s: f32)
        -> tensor<4x64xf32> {
      %c0 = arith.constant 0 : index
      %t = tensor.dim %dyn, %c0 : tensor<?x64xf32>
      %e = tensor.empty() : tensor<4x64xf32>
      %y = moe.repeat 3 iter_args(%h = %x) : tensor<4x64xf32> {
        %m = linalg.matmul ins(%h, %w : tensor<4x64xf32>, tensor<64x64xf32>)
            outs(%e : tensor<4x64xf32>) -> tensor<4x64xf32>
        %m2 = linalg.matmul ins(%m, %w : tensor<4x64xf32>, tensor<64x64xf32>)
            outs(%e : tensor<4x64xf32>) -> tensor<4x64xf32>
        %g = linalg.generic {
            indexing_maps = [affine_map<(i, j) -> (i, j)>,
                             affine_map<(i, j) -> (i, j)>],
            iterator_types = ["parallel", "parallel"]}
            ins(%m2 : tensor<4x64xf32>) outs(%e : tensor<4x64xf32>) {
        ^bb0(%a: f32, %o: f32):
          %j = linalg.index 1 : index
          %bias = tensor.extract %b[%j] : tensor<64xbf16>
          %wide = arith.extf %bias : bf16 to f32
          %sum = arith.addf %a, %wide : f32
          %scaled = arith.mulf %sum, %s : f32
          linalg.yield %scaled : f32
        } -> tensor<4x64xf32>
        %d = tensor.extract_slice %dyn[0, 0] [%t, 64] [1, 1]
            : tensor<?x64xf32> to tensor<?x64xf32>
        moe.yield %g : tensor<4x64xf32>
      }
      return %y : tensor<4x64xf32>
    }
  )mlir");
  EXPECT_EQ(problem.count, 3);
  EXPECT_EQ(problem.bodyWeightBytes, 64 * 64 * 4 + 64 * 2);
}

TEST_F(RepeatProblemTest, CountsNestedOpsButNotTheTerminator) {
  // Two ops at the top level, a generic with a payload of three (the
  // linalg.yield included), and the nested repeat with its own body of
  // one op and its terminator: 2 + 4 + 3 = 9.
  RepeatProblem problem = measure(R"mlir(
    func.func @f(%x: tensor<4xf32>, %w: tensor<4xf32>) -> tensor<4xf32> {
      %y = moe.repeat 2 iter_args(%h = %x) : tensor<4xf32> {
        %a = arith.addf %h, %w : tensor<4xf32>
        %m = arith.mulf %a, %a : tensor<4xf32>
        %g = linalg.generic {
            indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
            iterator_types = ["parallel"]}
            ins(%m : tensor<4xf32>) outs(%a : tensor<4xf32>) {
        ^bb0(%v: f32, %o: f32):
          %n = arith.negf %v : f32
          %p = arith.addf %n, %o : f32
          linalg.yield %p : f32
        } -> tensor<4xf32>
        %inner = moe.repeat 5 iter_args(%k = %g) : tensor<4xf32> {
          %q = arith.mulf %k, %w : tensor<4xf32>
          moe.yield %q : tensor<4xf32>
        }
        moe.yield %inner : tensor<4xf32>
      }
      return %y : tensor<4xf32>
    }
  )mlir");
  EXPECT_EQ(problem.count, 2);
  EXPECT_EQ(problem.bodyOps, 9);
  // %w, read at both levels, counts once.
  EXPECT_EQ(problem.bodyWeightBytes, 16);
}

} // namespace
