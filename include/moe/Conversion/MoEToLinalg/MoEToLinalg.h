//===- MoEToLinalg.h - Lower moe ops to linalg, tensor and scf --*- C++ -*-===//
//
// The patterns behind `convert-moe-to-linalg`, and the building blocks they
// share (top-k selection over a row), for reuse by other lowerings.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_MOETOLINALG_MOETOLINALG_H
#define MOE_CONVERSION_MOETOLINALG_MOETOLINALG_H

#include "moe/Dialect/MoE/IR/MoEDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moe {

/// The k best entries of a rank-1 float tensor `row` (any float type),
/// in the order of DESIGN.md 3.1: value descending, then index ascending;
/// NaN ranks below every number; -0.0 == +0.0. Built as k arg-max passes
/// (O(k * N)). Returns the values (in the row's element type) and the
/// indices (as `indexType`, i32 or i64) as rank-1 tensors of size k.
std::pair<Value, Value> buildTopKSelection(OpBuilder &builder, Location loc,
                                           Value row, int64_t k,
                                           Type indexType);

/// Adds the patterns that lower every moe op (but moe.layer, which is
/// decomposed first) to linalg, tensor, scf, arith and math. `codeFor` picks
/// the form of moe.experts: vectorized per-expert kernels for CPUs, or the
/// row-parallel form that GPU pipelines map onto threads.
void populateMoEToLinalgConversionPatterns(
    RewritePatternSet &patterns, TargetKind codeFor = TargetKind::CPU);

} // namespace mlir::moe

#endif // MOE_CONVERSION_MOETOLINALG_MOETOLINALG_H
