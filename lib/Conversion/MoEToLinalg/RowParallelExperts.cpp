//===- RowParallelExperts.cpp - moe.experts as independent elements
//--------===//
//
// The form of moe.experts that the GPU pipeline maps onto threads: every
// (row, hidden unit) and every (row, output feature) is an independent
// element of a linalg.generic, and the expert of a row is looked up, not
// iterated over. There is no loop over experts and no count of the experts
// that have rows, so nothing the host computes depends on the routing: the
// launches are sized by the row count alone and the host never waits for
// the device to learn how much work there is.
//
// Two generics, f32 throughout:
//   hidden[r, f] = act(rows[r] . gate[e(r), f]) * (rows[r] . up[e(r), f])
//   out[r, d]    = hidden[r] . down[e(r), d]
// Rows outside every segment (or past an expert's count in the capacity
// layout) are zero, as in the CPU form.
//
//===----------------------------------------------------------------------===//

#include "ExpertKernels.h"

#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

Value extractF32(LocBuilder &b, Value tensor, ValueRange indices) {
  return convertFloat(b, tensor::ExtractOp::create(b, tensor, indices),
                      b.getF32Type());
}

Value segmentBound(LocBuilder &b, Value segments, Value index, Value limit) {
  Value raw = tensor::ExtractOp::create(b, segments, ValueRange{index});
  Value zero = indexConstant(b, 0);
  return arith::MinSIOp::create(
      b, arith::MaxSIOp::create(b, toIndex(b, raw), zero), limit);
}

/// The expert that owns each of the R rows (offsets layout): the last e with
/// clamp(seg[e]) <= r < clamp(seg[e + 1]), or E when no segment holds r.
Value buildRowExperts(LocBuilder &b, Value segments, Value rowCount,
                      int64_t numExperts) {
  Value init = emptyTensor(b, {OpFoldResult(rowCount)}, b.getIndexType());
  AffineMap identity = b.getMultiDimIdentityMap(1);
  auto generic = linalg::GenericOp::create(
      b, TypeRange{init.getType()}, ValueRange{}, ValueRange{init},
      ArrayRef<AffineMap>{identity}, {utils::IteratorType::parallel},
      [&](OpBuilder &nested, Location loc, ValueRange) {
        LocBuilder l(loc, nested);
        Value row = linalg::IndexOp::create(l, 0);
        Value none = indexConstant(l, numExperts);
        SmallVector<Value> owner = buildLoop(
            l, indexConstant(l, 0), indexConstant(l, numExperts), {none},
            [&](LocBuilder &s, Value expert, ValueRange args) {
              Value next =
                  arith::AddIOp::create(s, expert, indexConstant(s, 1));
              Value start = segmentBound(s, segments, expert, rowCount);
              Value end = segmentBound(s, segments, next, rowCount);
              Value inside = arith::AndIOp::create(
                  s,
                  arith::CmpIOp::create(s, arith::CmpIPredicate::sle, start,
                                        row),
                  arith::CmpIOp::create(s, arith::CmpIPredicate::slt, row,
                                        end));
              return SmallVector<Value>{
                  arith::SelectOp::create(s, inside, expert, args[0])};
            });
        linalg::YieldOp::create(l, owner[0]);
      });
  return generic.getResult(0);
}

/// sum over k < length of lhs(k) * rhs(k), in f32.
Value buildDot(
    LocBuilder &b, int64_t length,
    function_ref<std::pair<Value, Value>(LocBuilder &, Value)> operands) {
  return buildLoop(
      b, indexConstant(b, 0), indexConstant(b, length), {f32Constant(b, 0.0)},
      [&](LocBuilder &s, Value k, ValueRange args) {
        Value lhs, rhs;
        std::tie(lhs, rhs) = operands(s, k);
        Value product = arith::MulFOp::create(s, lhs, rhs);
        return SmallVector<Value>{arith::AddFOp::create(s, args[0], product)};
      })[0];
}

} // namespace

Value mlir::moe::lowering::buildRowParallelExperts(LocBuilder &b,
                                                   ExpertsOp op) {
  Value rows = op.getRows();
  auto rowsType = cast<RankedTensorType>(rows.getType());
  Type elementType = rowsType.getElementType();
  Value segments = op.getSegments();
  Value gate = op.getGateProj();
  Value up = op.getUpProj();
  Value down = op.getDownProj();
  Activation activation = op.getActivation();
  auto upType = op.getUpProj().getType();
  int64_t numExperts = upType.getDimSize(0);
  int64_t hidden = upType.getDimSize(1);
  int64_t model = upType.getDimSize(2);
  bool capacity = op.isCapacityLayout();
  Type f32 = b.getF32Type();

  // The leading dims of a row ([R] or [E, C]) and the expert lookup.
  SmallVector<OpFoldResult> leading;
  Value rowExperts;
  // Static sizes stay static (tensor.getMixedSize), so that the results
  // keep the rows' type.
  if (capacity) {
    leading = {b.getIndexAttr(numExperts),
               tensor::getMixedSize(b, b.getLoc(), rows, 1)};
  } else {
    Value rowCount = dimSize(b, rows, 0);
    leading = {tensor::getMixedSize(b, b.getLoc(), rows, 0)};
    rowExperts = buildRowExperts(b, segments, rowCount, numExperts);
  }
  int64_t rank = leading.size();

  // Row `leadingIndices` and its expert, or a false `valid` when no expert
  // owns it.
  auto locate = [&](LocBuilder &l, ValueRange leadingIndices) {
    Value expert, valid;
    if (capacity) {
      expert = leadingIndices[0];
      Value count = segmentBound(l, segments, expert, dimSize(l, rows, 1));
      valid = arith::CmpIOp::create(l, arith::CmpIPredicate::slt,
                                    leadingIndices[1], count);
    } else {
      expert = tensor::ExtractOp::create(l, rowExperts, leadingIndices);
      valid = arith::CmpIOp::create(l, arith::CmpIPredicate::slt, expert,
                                    indexConstant(l, numExperts));
    }
    return std::make_pair(expert, valid);
  };

  // A generic over the leading dims and one more of size `inner`, whose
  // element is `element(leading indices, expert, inner index)` for owned
  // rows and 0 for the others.
  // The unit dimension is the outermost loop and the rows the innermost, so
  // that once the loops are threads, neighbouring threads take neighbouring
  // rows of the same unit: rows of one expert (adjacent after dispatch) then
  // load each weight element once per warp, as a broadcast, instead of each
  // thread streaming its own weight row. The result is still [rows..., unit].
  auto buildRowGeneric =
      [&](int64_t inner, Type resultElement,
          function_ref<Value(LocBuilder &, ValueRange, Value, Value)> element) {
        SmallVector<OpFoldResult> sizes = leading;
        sizes.push_back(b.getIndexAttr(inner));
        Value init = emptyTensor(b, sizes, resultElement);
        MLIRContext *context = b.getContext();
        SmallVector<AffineExpr> resultDims;
        for (int64_t dim = 1; dim <= rank; ++dim)
          resultDims.push_back(getAffineDimExpr(dim, context));
        resultDims.push_back(getAffineDimExpr(0, context));
        AffineMap unitOutermost =
            AffineMap::get(rank + 1, 0, resultDims, context);
        SmallVector<utils::IteratorType> iterators(
            rank + 1, utils::IteratorType::parallel);
        auto generic = linalg::GenericOp::create(
            b, TypeRange{init.getType()}, ValueRange{}, ValueRange{init},
            ArrayRef<AffineMap>{unitOutermost}, iterators,
            [&](OpBuilder &nested, Location loc, ValueRange) {
              LocBuilder l(loc, nested);
              Value unit = linalg::IndexOp::create(l, 0);
              SmallVector<Value> leadingIndices;
              for (int64_t dim = 1; dim <= rank; ++dim)
                leadingIndices.push_back(linalg::IndexOp::create(l, dim));
              Value expert, valid;
              std::tie(expert, valid) = locate(l, leadingIndices);
              Value value = buildIf(
                  l, valid, {resultElement},
                  [&](LocBuilder &then) {
                    return SmallVector<Value>{convertFloat(
                        then, element(then, leadingIndices, expert, unit),
                        resultElement)};
                  },
                  [&](LocBuilder &otherwise) {
                    return SmallVector<Value>{
                        floatConstant(otherwise, resultElement, 0.0)};
                  })[0];
              linalg::YieldOp::create(l, value);
            });
        return generic.getResult(0);
      };

  auto rowElement = [&](LocBuilder &l, ValueRange leadingIndices, Value k) {
    SmallVector<Value> indices(leadingIndices);
    indices.push_back(k);
    return extractF32(l, rows, indices);
  };

  // Gate and up share one pass over the row: each element of it is read
  // once for both dot products.
  Value hiddenValues = buildRowGeneric(
      hidden, f32,
      [&](LocBuilder &l, ValueRange leadingIndices, Value expert, Value f) {
        SmallVector<Value> init(gate ? 2 : 1, f32Constant(l, 0.0));
        SmallVector<Value> sums = buildLoop(
            l, indexConstant(l, 0), indexConstant(l, model), init,
            [&](LocBuilder &s, Value k, ValueRange args) {
              Value x = rowElement(s, leadingIndices, k);
              SmallVector<Value> next;
              for (auto [weights, sum] :
                   llvm::zip(gate ? SmallVector<Value>{up, gate}
                                  : SmallVector<Value>{up},
                             args)) {
                Value product = arith::MulFOp::create(
                    s, x, extractF32(s, weights, {expert, f, k}));
                next.push_back(arith::AddFOp::create(s, sum, product));
              }
              return next;
            });
        if (!gate)
          return buildActivation(l, l.getLoc(), activation, sums[0]);
        Value activated = buildActivation(l, l.getLoc(), activation, sums[1]);
        return arith::MulFOp::create(l, activated, sums[0]).getResult();
      });

  return buildRowGeneric(
      model, elementType,
      [&](LocBuilder &l, ValueRange leadingIndices, Value expert, Value d) {
        return buildDot(l, hidden, [&](LocBuilder &s, Value f) {
          SmallVector<Value> indices(leadingIndices);
          indices.push_back(f);
          return std::make_pair(
              tensor::ExtractOp::create(s, hiddenValues, indices).getResult(),
              extractF32(s, down, {expert, d, f}));
        });
      });
}
