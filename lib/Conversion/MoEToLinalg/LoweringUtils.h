//===- LoweringUtils.h - Builders shared by the moe lowerings ---*- C++ -*-===//
//
// Small builders for the tensor-level code the moe lowerings emit: constants,
// float conversions, rows of matrices, loops with iter_args, scf.forall with
// parallel inserts, elementwise maps and dot products accumulated in f32.
// Private to lib/Conversion.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETOLINALG_LOWERINGUTILS_H
#define MOE_LIB_CONVERSION_MOETOLINALG_LOWERINGUTILS_H

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/OpDefinition.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace mlir::moe::lowering {

using LocBuilder = ImplicitLocOpBuilder;

Value indexConstant(LocBuilder &b, int64_t value);
Value i32Constant(LocBuilder &b, int32_t value);
Value i64Constant(LocBuilder &b, int64_t value);
Value f32Constant(LocBuilder &b, double value);
/// A float constant of `type` (f16, bf16, f32, f64).
Value floatConstant(LocBuilder &b, Type type, double value);

/// Extends or truncates a float scalar to `type`.
Value convertFloat(LocBuilder &b, Value value, Type type);
/// Converts an integer scalar (any width) or index to index.
Value toIndex(LocBuilder &b, Value value);
/// Converts an index to an integer of `type`.
Value fromIndex(LocBuilder &b, Value value, Type type);

/// The size of dimension `dim` of a ranked tensor, as an index value.
Value dimSize(LocBuilder &b, Value tensor, int64_t dim);
/// The sizes of all dimensions of a ranked tensor.
SmallVector<OpFoldResult> mixedSizes(LocBuilder &b, Value tensor);

/// A tensor.empty of the given sizes and element type.
Value emptyTensor(LocBuilder &b, ArrayRef<OpFoldResult> sizes,
                  Type elementType);
/// A tensor of the given sizes filled with `value` (of its element type).
Value filledTensor(LocBuilder &b, ArrayRef<OpFoldResult> sizes, Value value);

/// The rank-1 slice of the last dimension of `tensor` at the leading
/// indices `leading` (tensor.extract_slice, rank-reduced).
Value extractRow(LocBuilder &b, Value tensor, ValueRange leading);
/// The rank-1 slice [offset, offset + size) of a rank-1 tensor.
Value extractRange(LocBuilder &b, Value vector, OpFoldResult offset,
                   OpFoldResult size);
/// The rank-2 slice of `tensor` (rank >= 2) with the given leading indices,
/// rows [rowOffset, rowOffset + rowCount) of the two trailing dimensions.
Value extractMatrix(LocBuilder &b, Value tensor, ValueRange leading,
                    OpFoldResult rowOffset, OpFoldResult rowCount);

/// The body of a loop: gets the induction variable and the iter_args,
/// returns the values to yield.
using LoopBody =
    function_ref<SmallVector<Value>(LocBuilder &, Value, ValueRange)>;
/// scf.for iv in [lower, upper) step 1 with iter_args `inits`.
SmallVector<Value> buildLoop(LocBuilder &b, Value lower, Value upper,
                             ValueRange inits, LoopBody body);
/// scf.for iv in [lower, upper) by `step` with iter_args `inits`.
SmallVector<Value> buildSteppedLoop(LocBuilder &b, Value lower, Value upper,
                                    Value step, ValueRange inits,
                                    LoopBody body);

/// value · factor, lhs + rhs and lhs + a constant, on indices.
Value mulIndex(LocBuilder &b, Value value, int64_t factor);
Value addIndex(LocBuilder &b, Value lhs, Value rhs);
Value addIndex(LocBuilder &b, Value lhs, int64_t rhs);

/// The body of a block of rows: gets the first row (an index) and the
/// (static) number of rows of this block, returns the updated iter_args.
using RowBlockBody = function_ref<SmallVector<Value>(
    LocBuilder &, Value first, int64_t rows, ValueRange args)>;
/// Runs `body` over [0, total) in blocks of `rowsPerBlock` rows (a loop),
/// then once over the remaining total % rowsPerBlock rows, threading
/// `inits` through.
SmallVector<Value> forRowBlocks(LocBuilder &b, int64_t total,
                                int64_t rowsPerBlock, ValueRange inits,
                                RowBlockBody body);

/// scf.if with results: each branch returns the values to yield.
SmallVector<Value>
buildIf(LocBuilder &b, Value condition, TypeRange types,
        function_ref<SmallVector<Value>(LocBuilder &)> thenBody,
        function_ref<SmallVector<Value>(LocBuilder &)> elseBody);

/// One tile that an scf.forall iteration inserts into one of its outputs.
struct ParallelInsert {
  Value tile;
  unsigned output;
  SmallVector<OpFoldResult> offsets;
  SmallVector<OpFoldResult> sizes;
};
using ForallBody = function_ref<SmallVector<ParallelInsert>(
    LocBuilder &, ValueRange inductionVars, ValueRange sharedOutputs)>;
/// scf.forall over [0, upper[i]) with `outputs`; the body computes its tiles
/// and returns them; they are inserted with tensor.parallel_insert_slice.
SmallVector<Value> buildForall(LocBuilder &b, ArrayRef<OpFoldResult> upper,
                               ValueRange outputs, ForallBody body);

/// An elementwise linalg.generic over rank-1 tensors of equal size.
Value mapElements(LocBuilder &b, ValueRange inputs, Type resultElementType,
                  function_ref<Value(LocBuilder &, ValueRange)> body);

/// An elementwise linalg.generic over rank-1 tensors that updates `into` in
/// place (it is the generic's init): element i becomes
/// body(into[i], inputs[i]...). Loop-carried accumulators use this so that
/// bufferization keeps one buffer for them.
Value updateElements(LocBuilder &b, Value into, ValueRange inputs,
                     function_ref<Value(LocBuilder &, Value, ValueRange)> body);

/// [R] f32: row r is Σ_d vector[d] · matrix[r, d], accumulated in f32
/// (a matrix-vector product against an [out, in] weight).
Value matvecF32(LocBuilder &b, Value vector, Value matrix);
/// Σ_d lhs[d] · rhs[d] in f32, as a scalar.
Value dotF32(LocBuilder &b, Value lhs, Value rhs);
/// The ranking key of a float scalar for top-k: itself converted to
/// `keyType` (f32 or f64), or -inf for NaN (NaN ranks below every number).
Value rankingKey(LocBuilder &b, Value value, Type keyType);

} // namespace mlir::moe::lowering

#endif // MOE_LIB_CONVERSION_MOETOLINALG_LOWERINGUTILS_H
