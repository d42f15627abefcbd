//===- RepeatCostModel.cpp - Unroll, loop or resident for moe.repeat ------===//
//
// The repeat half of the cost model (the expert half is in CostModel.cpp):
// what moe-schedule-repeats measures of a moe.repeat (its shared-weight
// bytes, count and body size) and the decision it takes from them. A body
// whose weights fit the cache is kept as a loop and marked resident, so that
// iterations after the first read the weights from cache instead of DRAM; a
// small body with a low count is unrolled; anything else stays a plain loop.
//
//===----------------------------------------------------------------------===//

#include "moe/Analysis/CostModel.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::moe;

/// Bytes of `value` if it holds data of a size known at compile time: a
/// statically shaped tensor or memref of integers, floats or indices that is
/// not a tensor.empty (which holds no data); 0 otherwise.
static int64_t getStaticDataBytes(Value value) {
  auto type = dyn_cast<ShapedType>(value.getType());
  if (!type || !isa<TensorType, BaseMemRefType>(type) || !type.hasRank() ||
      !type.hasStaticShape())
    return 0;
  if (value.getDefiningOp<tensor::EmptyOp>())
    return 0;
  Type elementType = type.getElementType();
  int64_t bits = elementType.isIntOrFloat()
                     ? static_cast<int64_t>(elementType.getIntOrFloatBitWidth())
                 : elementType.isIndex() ? 64
                                         : 0;
  return type.getNumElements() *
         static_cast<int64_t>(llvm::divideCeil(bits, 8));
}

RepeatProblem mlir::moe::getRepeatProblem(RepeatOp op) {
  RepeatProblem problem;
  problem.count = op.getCountAttr().getInt();

  // The values the body reads from above, however many times and from
  // however deep a nested region: each is one weight, stored once.
  llvm::SetVector<Value> captured;
  getUsedValuesDefinedAbove(op.getBody(), captured);
  for (Value value : captured)
    problem.bodyWeightBytes += getStaticDataBytes(value);

  Operation *terminator = op.getBodyBlock().getTerminator();
  op.getBody().walk([&](Operation *inner) {
    if (inner != terminator)
      ++problem.bodyOps;
  });
  return problem;
}

RepeatSchedule mlir::moe::chooseRepeatSchedule(const RepeatProblem &problem,
                                               uint64_t cacheBytes,
                                               int64_t maxUnrollCount) {
  // One iteration reuses nothing, and inlining its body adds no code.
  if (problem.count <= 1)
    return maxUnrollCount >= 1 ? RepeatSchedule::Unroll : RepeatSchedule::Auto;

  // Every iteration reads all the body's weights. If they fit the cache,
  // iterations 2..N read them from there: N iterations then cost about
  // 1 + (N - 1) * bw / cache_bw DRAM passes instead of N.
  if (problem.bodyWeightBytes > 0 &&
      static_cast<uint64_t>(problem.bodyWeightBytes) <= cacheBytes)
    return RepeatSchedule::Resident;

  // Otherwise a loop gains nothing from being a loop; unrolling a small body
  // a few times lets later passes fuse across iterations, at a bounded cost
  // in code size (compared by division: count * bodyOps may overflow).
  if (problem.count <= maxUnrollCount &&
      problem.bodyOps <= kMaxUnrolledRepeatOps / problem.count)
    return RepeatSchedule::Unroll;
  return RepeatSchedule::Auto;
}
