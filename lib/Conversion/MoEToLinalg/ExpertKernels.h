//===- ExpertKernels.h - Tiled, vectorized expert FFN kernels ---*- C++ -*-===//
//
// The loop nests that run one expert's FFN on its rows, in the two forms
// that #moe.expert_tiling selects between. Private to lib/Conversion.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETOLINALG_EXPERTKERNELS_H
#define MOE_LIB_CONVERSION_MOETOLINALG_EXPERTKERNELS_H

#include "LoweringUtils.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

namespace mlir::moe::lowering {

/// Expert `expert`'s FFN of `op` on `rows` ([n, D], n dynamic, in the
/// activation type), tiled as `tiling` says: returns [n, D] in f32.
Value buildTiledExpertFFN(LocBuilder &b, ExpertsOp op, Value expert, Value rows,
                          ExpertTilingAttr tiling);

/// All of `op` in the row-parallel form the GPU pipeline maps onto threads
/// (RowParallelExperts.cpp): one element per (row, hidden unit) and per
/// (row, output feature), the expert of each row looked up. Returns the
/// result in the rows' type and layout.
Value buildRowParallelExperts(LocBuilder &b, ExpertsOp op);

} // namespace mlir::moe::lowering

#endif // MOE_LIB_CONVERSION_MOETOLINALG_EXPERTKERNELS_H
