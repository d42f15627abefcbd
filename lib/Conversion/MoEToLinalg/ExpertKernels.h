//===- ExpertKernels.h - Tiled, vectorized expert FFN kernels ---*- C++ -*-===//
//
// The loop nests that run one expert's FFN on its rows, in the two forms
// that #moe.expert_tiling selects between, and the vector building blocks
// the CPU lowering of the router and PEER share with them (dot products,
// top-k). Private to lib/Conversion.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETOLINALG_EXPERTKERNELS_H
#define MOE_LIB_CONVERSION_MOETOLINALG_EXPERTKERNELS_H

#include "LoweringUtils.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

namespace mlir::moe::lowering {

/// The number of F-tiles the kernels of `op` run under `tiling` (the F-tile
/// is the tiling's, adjusted to divide F).
int64_t countHiddenTiles(ExpertsOp op, ExpertTilingAttr tiling);

/// Expert `expert`'s FFN of `op` on `rows` ([n, D], n dynamic, in the
/// activation type), tiled as `tiling` says: returns [n, D] in f32. With
/// `splits` > 1, the F-tiles are dealt into `splits` nearly equal runs and
/// only run number `split` (an index) is computed: the result is that
/// run's share of the down projection, and the shares of all runs sum to
/// the FFN (so that several threads can share one expert).
Value buildTiledExpertFFN(LocBuilder &b, ExpertsOp op, Value expert, Value rows,
                          ExpertTilingAttr tiling, Value split = Value(),
                          int64_t splits = 1);

/// matrix · vector in f32: `vector` [D], `matrix` [E, D] (static), both
/// float; returns [E]. The gemv kernel's dot products: gemvRows rows at a
/// time, vectors of the target's width (or vdpbf16ps pairs where the target
/// has AVX512-BF16 and both are bf16).
Value buildVectorMatvec(LocBuilder &b, Value vector, Value matrix,
                        TargetAttr target);

/// The same for several vectors at once: `vectors` rank-1 [D] tensors,
/// returns [vectors, E] f32, row j being matrix · vectors[j]. Each loaded
/// weight vector serves all of them.
Value buildBatchedMatvec(LocBuilder &b, ArrayRef<Value> vectors, Value matrix,
                         TargetAttr target);

/// Σ_d matrix[rows[i], d] · vector[d] in f32 for each row index rows[i]
/// (index values) of a static [N, D] `matrix`: the gemv kernel's dot
/// products over gathered rows, all of them in one pass over D, so that the
/// first reads of the rows (on the cold rows of a large table, a TLB miss
/// and a DRAM access each) are issued together rather than one row after
/// another. Returns f32 scalars, one per row.
SmallVector<Value> buildGatheredRowDots(LocBuilder &b, Value vector,
                                        Value matrix, ArrayRef<Value> rows,
                                        TargetAttr target);

/// accumulator[d] + Σ_i coefficients[i] · matrix[rows[i], d] for all d:
/// `accumulator` [D] f32, `matrix` a static [N, D] float tensor, the
/// coefficients f32 scalars. One pass over D reads all the gathered rows
/// (see buildGatheredRowDots); each element adds the rows in order.
Value buildGatheredRowCombination(LocBuilder &b, Value accumulator,
                                  Value matrix, ArrayRef<Value> rows,
                                  ArrayRef<Value> coefficients,
                                  TargetAttr target);

/// The k best entries of a rank-1 float tensor `row` (static length, f32 or
/// narrower) in the order of moe.topk (value descending, then index
/// ascending; NaN as -inf; -0.0 == +0.0), computed with vectors of the
/// target's width: the values as order-preserving i32 keys, then k vector
/// arg-max scans. Requires k <= the row's length < 2^31 (positions are
/// i32). Returns the values (in
/// the row's type) and the indices (as `indexType`: index, i32 or i64).
std::pair<Value, Value> buildVectorTopK(LocBuilder &b, Value row, int64_t k,
                                        Type indexType, TargetAttr target);

/// All of `op` in the row-parallel form the GPU pipeline maps onto threads
/// (RowParallelExperts.cpp): one element per (row, hidden unit) and per
/// (row, output feature), the expert of each row looked up. Returns the
/// result in the rows' type and layout.
Value buildRowParallelExperts(LocBuilder &b, ExpertsOp op);

} // namespace mlir::moe::lowering

#endif // MOE_LIB_CONVERSION_MOETOLINALG_EXPERTKERNELS_H
