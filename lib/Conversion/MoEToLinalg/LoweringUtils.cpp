//===- LoweringUtils.cpp - Builders shared by the moe lowerings -----------===//
//
// Implementation of the small tensor-level builders in LoweringUtils.h.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe::lowering;

Value mlir::moe::lowering::indexConstant(LocBuilder &b, int64_t value) {
  return arith::ConstantIndexOp::create(b, value);
}

Value mlir::moe::lowering::i32Constant(LocBuilder &b, int32_t value) {
  return arith::ConstantIntOp::create(b, value, 32);
}

Value mlir::moe::lowering::i64Constant(LocBuilder &b, int64_t value) {
  return arith::ConstantIntOp::create(b, value, 64);
}

Value mlir::moe::lowering::f32Constant(LocBuilder &b, double value) {
  return floatConstant(b, b.getF32Type(), value);
}

Value mlir::moe::lowering::floatConstant(LocBuilder &b, Type type,
                                         double value) {
  return arith::ConstantOp::create(b, type, b.getFloatAttr(type, value));
}

Value mlir::moe::lowering::convertFloat(LocBuilder &b, Value value, Type type) {
  Type from = value.getType();
  if (from == type)
    return value;
  if (from.getIntOrFloatBitWidth() < type.getIntOrFloatBitWidth())
    return arith::ExtFOp::create(b, type, value);
  if (from.getIntOrFloatBitWidth() > type.getIntOrFloatBitWidth())
    return arith::TruncFOp::create(b, type, value);
  // bf16 <-> f16: through f32.
  Value wide = arith::ExtFOp::create(b, b.getF32Type(), value);
  return arith::TruncFOp::create(b, type, wide);
}

Value mlir::moe::lowering::toIndex(LocBuilder &b, Value value) {
  if (value.getType().isIndex())
    return value;
  return arith::IndexCastOp::create(b, b.getIndexType(), value);
}

Value mlir::moe::lowering::fromIndex(LocBuilder &b, Value value, Type type) {
  if (value.getType() == type)
    return value;
  return arith::IndexCastOp::create(b, type, value);
}

Value mlir::moe::lowering::dimSize(LocBuilder &b, Value tensor, int64_t dim) {
  return getValueOrCreateConstantIndexOp(
      b, b.getLoc(), tensor::getMixedSize(b, b.getLoc(), tensor, dim));
}

SmallVector<OpFoldResult> mlir::moe::lowering::mixedSizes(LocBuilder &b,
                                                          Value tensor) {
  return tensor::getMixedSizes(b, b.getLoc(), tensor);
}

Value mlir::moe::lowering::emptyTensor(LocBuilder &b,
                                       ArrayRef<OpFoldResult> sizes,
                                       Type elementType) {
  return tensor::EmptyOp::create(b, sizes, elementType);
}

Value mlir::moe::lowering::filledTensor(LocBuilder &b,
                                        ArrayRef<OpFoldResult> sizes,
                                        Value value) {
  Value empty = emptyTensor(b, sizes, value.getType());
  return linalg::FillOp::create(b, value, empty).getResult(0);
}

Value mlir::moe::lowering::extractRow(LocBuilder &b, Value tensor,
                                      ValueRange leading) {
  auto type = cast<RankedTensorType>(tensor.getType());
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> offsets(leading.begin(), leading.end());
  offsets.push_back(b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes(rank - 1, b.getIndexAttr(1));
  sizes.push_back(tensor::getMixedSize(b, b.getLoc(), tensor, rank - 1));
  SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
  auto rowType =
      RankedTensorType::get({type.getShape().back()}, type.getElementType());
  return tensor::ExtractSliceOp::create(b, rowType, tensor, offsets, sizes,
                                        strides);
}

Value mlir::moe::lowering::extractRange(LocBuilder &b, Value vector,
                                        OpFoldResult offset,
                                        OpFoldResult size) {
  return tensor::ExtractSliceOp::create(b, vector, {offset}, {size},
                                        {b.getIndexAttr(1)});
}

Value mlir::moe::lowering::extractMatrix(LocBuilder &b, Value tensor,
                                         ValueRange leading,
                                         OpFoldResult rowOffset,
                                         OpFoldResult rowCount) {
  auto type = cast<RankedTensorType>(tensor.getType());
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> offsets(leading.begin(), leading.end());
  offsets.push_back(rowOffset);
  offsets.push_back(b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes(rank - 2, b.getIndexAttr(1));
  sizes.push_back(rowCount);
  sizes.push_back(tensor::getMixedSize(b, b.getLoc(), tensor, rank - 1));
  SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
  std::optional<int64_t> staticRows = getConstantIntValue(rowCount);
  auto matrixType = RankedTensorType::get(
      {staticRows ? *staticRows : ShapedType::kDynamic, type.getShape().back()},
      type.getElementType());
  return tensor::ExtractSliceOp::create(b, matrixType, tensor, offsets, sizes,
                                        strides);
}

SmallVector<Value> mlir::moe::lowering::buildLoop(LocBuilder &b, Value lower,
                                                  Value upper, ValueRange inits,
                                                  LoopBody body) {
  return buildSteppedLoop(b, lower, upper, indexConstant(b, 1), inits, body);
}

SmallVector<Value>
mlir::moe::lowering::buildSteppedLoop(LocBuilder &b, Value lower, Value upper,
                                      Value step, ValueRange inits,
                                      LoopBody body) {
  auto loop = scf::ForOp::create(
      b, lower, upper, step, inits,
      [&](OpBuilder &nested, Location loc, Value iv, ValueRange args) {
        LocBuilder inner(loc, nested);
        SmallVector<Value> results = body(inner, iv, args);
        scf::YieldOp::create(inner, results);
      });
  return SmallVector<Value>(loop.getResults());
}

Value mlir::moe::lowering::mulIndex(LocBuilder &b, Value value,
                                    int64_t factor) {
  return arith::MulIOp::create(b, value, indexConstant(b, factor));
}

Value mlir::moe::lowering::addIndex(LocBuilder &b, Value lhs, Value rhs) {
  return arith::AddIOp::create(b, lhs, rhs);
}

Value mlir::moe::lowering::addIndex(LocBuilder &b, Value lhs, int64_t rhs) {
  if (rhs == 0)
    return lhs;
  return arith::AddIOp::create(b, lhs, indexConstant(b, rhs));
}

SmallVector<Value> mlir::moe::lowering::forRowBlocks(LocBuilder &b,
                                                     int64_t total,
                                                     int64_t rowsPerBlock,
                                                     ValueRange inits,
                                                     RowBlockBody body) {
  int64_t fullBlocks = total / rowsPerBlock;
  SmallVector<Value> values(inits);
  if (fullBlocks > 0)
    values = buildLoop(
        b, indexConstant(b, 0), indexConstant(b, fullBlocks), values,
        [&](LocBuilder &l, Value block, ValueRange args) {
          return body(l, mulIndex(l, block, rowsPerBlock), rowsPerBlock, args);
        });
  int64_t rest = total % rowsPerBlock;
  if (rest > 0)
    values = body(b, indexConstant(b, fullBlocks * rowsPerBlock), rest, values);
  return values;
}

SmallVector<Value> mlir::moe::lowering::buildIf(
    LocBuilder &b, Value condition, TypeRange types,
    function_ref<SmallVector<Value>(LocBuilder &)> thenBody,
    function_ref<SmallVector<Value>(LocBuilder &)> elseBody) {
  auto ifOp = scf::IfOp::create(
      b, condition,
      [&](OpBuilder &nested, Location loc) {
        LocBuilder inner(loc, nested);
        scf::YieldOp::create(inner, thenBody(inner));
      },
      [&](OpBuilder &nested, Location loc) {
        LocBuilder inner(loc, nested);
        scf::YieldOp::create(inner, elseBody(inner));
      });
  (void)types;
  return SmallVector<Value>(ifOp.getResults());
}

SmallVector<Value>
mlir::moe::lowering::buildForall(LocBuilder &b, ArrayRef<OpFoldResult> upper,
                                 ValueRange outputs, ForallBody body) {
  auto forall =
      scf::ForallOp::create(b, upper, outputs, /*mapping=*/std::nullopt);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(forall.getTerminator());
  SmallVector<ParallelInsert> inserts =
      body(b, forall.getInductionVars(), forall.getRegionIterArgs());
  b.setInsertionPointToEnd(forall.getTerminator().getBody());
  for (const ParallelInsert &insert : inserts) {
    SmallVector<OpFoldResult> strides(insert.offsets.size(), b.getIndexAttr(1));
    tensor::ParallelInsertSliceOp::create(
        b, insert.tile, forall.getRegionIterArgs()[insert.output],
        insert.offsets, insert.sizes, strides);
  }
  return SmallVector<Value>(forall.getResults());
}

Value mlir::moe::lowering::mapElements(
    LocBuilder &b, ValueRange inputs, Type resultElementType,
    function_ref<Value(LocBuilder &, ValueRange)> body) {
  Value init =
      emptyTensor(b, {tensor::getMixedSize(b, b.getLoc(), inputs[0], 0)},
                  resultElementType);
  AffineMap identity = b.getMultiDimIdentityMap(1);
  SmallVector<AffineMap> maps(inputs.size() + 1, identity);
  auto generic = linalg::GenericOp::create(
      b, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
      {utils::IteratorType::parallel},
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        LocBuilder inner(loc, nested);
        linalg::YieldOp::create(inner, body(inner, args.drop_back()));
      });
  return generic.getResult(0);
}

Value mlir::moe::lowering::updateElements(
    LocBuilder &b, Value into, ValueRange inputs,
    function_ref<Value(LocBuilder &, Value, ValueRange)> body) {
  AffineMap identity = b.getMultiDimIdentityMap(1);
  SmallVector<AffineMap> maps(inputs.size() + 1, identity);
  auto generic = linalg::GenericOp::create(
      b, TypeRange{into.getType()}, inputs, ValueRange{into}, maps,
      {utils::IteratorType::parallel},
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        LocBuilder inner(loc, nested);
        linalg::YieldOp::create(inner,
                                body(inner, args.back(), args.drop_back()));
      });
  return generic.getResult(0);
}

Value mlir::moe::lowering::matvecF32(LocBuilder &b, Value vector,
                                     Value matrix) {
  Value zero = f32Constant(b, 0.0);
  Value init =
      filledTensor(b, {tensor::getMixedSize(b, b.getLoc(), matrix, 0)}, zero);
  MLIRContext *context = b.getContext();
  AffineExpr r = getAffineDimExpr(0, context);
  AffineExpr d = getAffineDimExpr(1, context);
  SmallVector<AffineMap> maps = {AffineMap::get(2, 0, {d}, context),
                                 AffineMap::get(2, 0, {r, d}, context),
                                 AffineMap::get(2, 0, {r}, context)};
  auto generic = linalg::GenericOp::create(
      b, TypeRange{init.getType()}, ValueRange{vector, matrix},
      ValueRange{init}, maps,
      {utils::IteratorType::parallel, utils::IteratorType::reduction},
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        LocBuilder inner(loc, nested);
        Type f32 = inner.getF32Type();
        Value product =
            arith::MulFOp::create(inner, convertFloat(inner, args[0], f32),
                                  convertFloat(inner, args[1], f32));
        linalg::YieldOp::create(
            inner, ValueRange{arith::AddFOp::create(inner, args[2], product)});
      });
  return generic.getResult(0);
}

Value mlir::moe::lowering::dotF32(LocBuilder &b, Value lhs, Value rhs) {
  Value zero = f32Constant(b, 0.0);
  Value init = filledTensor(b, {}, zero);
  MLIRContext *context = b.getContext();
  AffineExpr d = getAffineDimExpr(0, context);
  SmallVector<AffineMap> maps = {AffineMap::get(1, 0, {d}, context),
                                 AffineMap::get(1, 0, {d}, context),
                                 AffineMap::get(1, 0, {}, context)};
  auto generic = linalg::GenericOp::create(
      b, TypeRange{init.getType()}, ValueRange{lhs, rhs}, ValueRange{init},
      maps, {utils::IteratorType::reduction},
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        LocBuilder inner(loc, nested);
        Type f32 = inner.getF32Type();
        Value product =
            arith::MulFOp::create(inner, convertFloat(inner, args[0], f32),
                                  convertFloat(inner, args[1], f32));
        linalg::YieldOp::create(
            inner, ValueRange{arith::AddFOp::create(inner, args[2], product)});
      });
  return tensor::ExtractOp::create(b, generic.getResult(0), ValueRange{});
}

Value mlir::moe::lowering::rankingKey(LocBuilder &b, Value value,
                                      Type keyType) {
  Value wide = convertFloat(b, value, keyType);
  Value isNan = arith::CmpFOp::create(b, arith::CmpFPredicate::UNO, wide, wide);
  Value negInf =
      floatConstant(b, keyType, -std::numeric_limits<double>::infinity());
  return arith::SelectOp::create(b, isNan, negInf, wide);
}
