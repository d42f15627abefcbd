//===- ApplyLoopSchedules.cpp - Dynamic schedules for uneven loops --------===//
//
// The `moe-apply-loop-schedules` pass: the OpenMP loops whose location
// carries the dynamic-schedule marker (the prefill's loop over experts, whose
// iterations run experts of different row counts) get schedule(dynamic).
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/Dialect/OpenMP/OpenMPDialect.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEAPPLYLOOPSCHEDULESPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

Location mlir::moe::withDynamicScheduleMarker(Location location) {
  MLIRContext *context = location.getContext();
  return FusedLoc::get(context, {location},
                       StringAttr::get(context, kDynamicScheduleMarker));
}

static bool hasDynamicScheduleMarker(Location location) {
  auto fused = dyn_cast<FusedLoc>(location);
  if (!fused)
    return false;
  auto metadata = dyn_cast_or_null<StringAttr>(fused.getMetadata());
  return metadata && metadata.getValue() == kDynamicScheduleMarker;
}

void mlir::moe::applyLoopSchedules(Operation *root) {
  root->walk([](omp::WsloopOp loop) {
    if (hasDynamicScheduleMarker(loop.getLoc()))
      loop.setScheduleKindAttr(omp::ClauseScheduleKindAttr::get(
          loop.getContext(), omp::ClauseScheduleKind::Dynamic));
  });
}

namespace {

struct MoEApplyLoopSchedulesPass
    : public mlir::moe::impl::MoEApplyLoopSchedulesPassBase<
          MoEApplyLoopSchedulesPass> {
  void runOnOperation() override { applyLoopSchedules(getOperation()); }
};

} // namespace
