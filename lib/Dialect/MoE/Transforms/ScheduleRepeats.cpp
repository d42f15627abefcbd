//===- ScheduleRepeats.cpp - Unroll, loop or resident for moe.repeat ------===//
//
// The `moe-schedule-repeats` pass and its C++ API: every moe.repeat gets the
// schedule that the repeat cost model picks (or keeps its explicit one), and
// the pass carries it out: an unrolled repeat is replaced by copies of its
// body; a resident one stays a loop whose loop-invariant code (a transposed
// or converted weight, an index computation) is hoisted before it, so that
// each iteration only reads the shared weights again, from cache.
//
//===----------------------------------------------------------------------===//

#include "moe/Analysis/CostModel.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/LoopInvariantCodeMotionUtils.h"

#include <algorithm>
#include <limits>

namespace mlir::moe {
#define GEN_PASS_DEF_MOESCHEDULEREPEATSPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

RepeatSchedule mlir::moe::selectRepeatSchedule(RepeatOp op, uint64_t cacheBytes,
                                               int64_t maxUnrollCount) {
  if (op.getSchedule() != RepeatSchedule::Auto)
    return op.getSchedule();
  if (cacheBytes == 0)
    cacheBytes = getTargetOrHostDefault(op).getSharedCacheBytes();
  return chooseRepeatSchedule(getRepeatProblem(op), cacheBytes, maxUnrollCount);
}

void mlir::moe::unrollRepeat(RewriterBase &rewriter, RepeatOp op) {
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(op);
  Block &body = op.getBodyBlock();
  auto yield = cast<YieldOp>(body.getTerminator());
  SmallVector<Value> carried(op.getInits());

  // Copies 1 .. N-1 are clones; the last copy is the body itself, moved.
  int64_t count = op.getCountAttr().getInt();
  for (int64_t iteration = 1; iteration < count; ++iteration) {
    IRMapping mapping;
    mapping.map(body.getArguments(), carried);
    for (Operation &inner : body.without_terminator())
      rewriter.clone(inner, mapping);
    carried = llvm::map_to_vector(yield.getValues(), [&](Value value) {
      return mapping.lookupOrDefault(value);
    });
  }
  rewriter.inlineBlockBefore(&body, op, carried);
  SmallVector<Value> results(yield.getValues());
  rewriter.eraseOp(yield);
  rewriter.replaceOp(op, results);
}

/// True for ops that only produce a destination for other ops to write
/// into: hoisting one alone gains nothing, and a destination shared by all
/// iterations must be copied by bufferization before each one writes it.
static bool isInitialization(Operation *op) {
  return isa<tensor::EmptyOp, linalg::FillOp>(op);
}

size_t mlir::moe::hoistRepeatInvariantCode(RewriterBase &rewriter,
                                           RepeatOp op) {
  OpBuilder::InsertionGuard guard(rewriter);
  // moe.repeat is not a LoopLikeOpInterface (its count is an attribute, not
  // an induction variable), so use the region form of upstream LICM. The
  // body runs at least once (the verifier wants count >= 1): hoisting needs
  // no speculation, only freedom from memory effects.
  SmallVector<Operation *> hoisted;
  moveLoopInvariantCode(
      {&op.getBody()},
      [](Value value, Region *body) {
        return value.getParentRegion()->isProperAncestor(body);
      },
      [](Operation *inner, Region *) { return isMemoryEffectFree(inner); },
      [&](Operation *inner, Region *) {
        rewriter.moveOpBefore(inner, op);
        hoisted.push_back(inner);
      });

  // Copy the initializations that the body still uses back into it, users
  // before the ops they use (so that a fill's empty follows its fill in).
  Block &body = op.getBodyBlock();
  size_t kept = hoisted.size();
  for (Operation *init : llvm::reverse(hoisted)) {
    if (!isInitialization(init))
      continue;
    SmallVector<OpOperand *> inside;
    Operation *firstUser = nullptr;
    for (OpOperand &use : init->getUses()) {
      if (!op->isProperAncestor(use.getOwner()))
        continue;
      inside.push_back(&use);
      Operation *user = body.findAncestorOpInBlock(*use.getOwner());
      if (!firstUser || user->isBeforeInBlock(firstUser))
        firstUser = user;
    }
    if (inside.empty())
      continue;
    rewriter.setInsertionPoint(firstUser);
    Operation *copy = rewriter.clone(*init);
    for (OpOperand *use : inside) {
      unsigned resultNumber = cast<OpResult>(use->get()).getResultNumber();
      rewriter.modifyOpInPlace(
          use->getOwner(), [&] { use->set(copy->getResult(resultNumber)); });
    }
    if (init->use_empty()) {
      rewriter.eraseOp(init);
      --kept;
    }
  }
  return kept;
}

void mlir::moe::scheduleRepeat(RewriterBase &rewriter, RepeatOp op,
                               uint64_t cacheBytes, int64_t maxUnrollCount) {
  switch (selectRepeatSchedule(op, cacheBytes, maxUnrollCount)) {
  case RepeatSchedule::Unroll:
    unrollRepeat(rewriter, op);
    return;
  case RepeatSchedule::Resident:
    if (op.getSchedule() != RepeatSchedule::Resident)
      rewriter.modifyOpInPlace(
          op, [&] { op.setSchedule(RepeatSchedule::Resident); });
    hoistRepeatInvariantCode(rewriter, op);
    return;
  case RepeatSchedule::Auto:
    return;
  }
}

namespace {

struct MoEScheduleRepeatsPass
    : public mlir::moe::impl::MoEScheduleRepeatsPassBase<
          MoEScheduleRepeatsPass> {
  using MoEScheduleRepeatsPassBase::MoEScheduleRepeatsPassBase;

  void runOnOperation() override {
    // Post-order: an inner repeat is scheduled before the one around it, so
    // the outer one sees the inner one's hoisted code and unrolled copies.
    // Scheduling one repeat never erases another one not yet visited.
    SmallVector<RepeatOp> repeats;
    getOperation()->walk([&](RepeatOp op) { repeats.push_back(op); });
    int64_t unrollLimit = static_cast<int64_t>(std::min<uint64_t>(
        maxUnrollCount, std::numeric_limits<int64_t>::max()));
    IRRewriter rewriter(&getContext());
    for (RepeatOp op : repeats)
      scheduleRepeat(rewriter, op, cacheBytes, unrollLimit);
  }
};

} // namespace
