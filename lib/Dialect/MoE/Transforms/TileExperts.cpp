//===- TileExperts.cpp - Choose the tiling of each moe.experts ------------===//
//
// The `moe-tile-experts` pass: records the expert cost model's choice of
// F-tile, token tile and kernel on every moe.experts as a
// #moe.expert_tiling attribute, which the lowering reads.
//
//===----------------------------------------------------------------------===//

#include "moe/Analysis/CostModel.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOETILEEXPERTSPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

ExpertTilingAttr mlir::moe::tileExperts(ExpertsOp op, uint64_t fastMemoryBytes,
                                        ExpertKernel kernel) {
  ExpertTilingChoice choice =
      chooseExpertTiling(getExpertProblem(op), getTargetOrHostDefault(op),
                         fastMemoryBytes, kernel);
  return ExpertTilingAttr::get(op.getContext(), choice.kernel,
                               choice.hiddenTile, choice.tokenTile,
                               choice.gemmMinRows);
}

namespace {

struct MoETileExpertsPass
    : public mlir::moe::impl::MoETileExpertsPassBase<MoETileExpertsPass> {
  using MoETileExpertsPassBase::MoETileExpertsPassBase;

  void runOnOperation() override {
    getOperation()->walk([&](ExpertsOp op) {
      if (op.getTilingAttr() && !overwrite)
        return;
      op.setTilingAttr(tileExperts(op, fastMemoryBytes));
    });
  }
};

} // namespace
