//===- MoEToLinalg.cpp - Lower moe ops to linalg, tensor and scf ----------===//
//
// The patterns of `convert-moe-to-linalg`. Every lowering stays on tensors
// (value semantics) for one-shot bufferization:
//
// * per-token work (route, combine, topk rows, peer, losses) is an
//   scf.forall over tokens whose iterations insert their rows with
//   tensor.parallel_insert_slice;
// * data-dependent grouping (dispatch) is a sequential counting sort over the
//   T x K assignments with tensor.insert / tensor.insert_slice;
// * the expert FFN is an scf.forall over experts that runs linalg.matmul on
//   each expert's own rows only, so the work grows with K, not E.
//
// Gathers are tensor.extract / tensor.extract_slice at computed offsets, and
// scatters tensor.insert_slice / parallel_insert_slice: no tensor.gather or
// tensor.scatter. Router math is f32; matmuls accumulate in f32.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToLinalg/MoEToLinalg.h"

#include "ExpertKernels.h"
#include "LoweringUtils.h"

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOETOLINALGPASS
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

Value andI1(LocBuilder &b, Value lhs, Value rhs) {
  return arith::AndIOp::create(b, lhs, rhs);
}
Value orI1(LocBuilder &b, Value lhs, Value rhs) {
  return arith::OrIOp::create(b, lhs, rhs);
}
Value cmpF(LocBuilder &b, arith::CmpFPredicate predicate, Value lhs,
           Value rhs) {
  return arith::CmpFOp::create(b, predicate, lhs, rhs);
}
Value cmpI(LocBuilder &b, arith::CmpIPredicate predicate, Value lhs,
           Value rhs) {
  return arith::CmpIOp::create(b, predicate, lhs, rhs);
}
Value select(LocBuilder &b, Value condition, Value lhs, Value rhs) {
  return arith::SelectOp::create(b, condition, lhs, rhs);
}
Value extract(LocBuilder &b, Value tensor, ValueRange indices) {
  return tensor::ExtractOp::create(b, tensor, indices);
}
Value insert(LocBuilder &b, Value scalar, Value tensor, ValueRange indices) {
  return tensor::InsertOp::create(b, scalar, tensor, indices);
}

/// (lhsKey, lhsIndex) ranks strictly above (rhsKey, rhsIndex) in the top-k
/// order: a larger key, or an equal key and a smaller index. Keys are never
/// NaN (see rankingKey); -0.0 and +0.0 compare equal.
Value ranksAbove(LocBuilder &b, Value lhsKey, Value lhsIndex, Value rhsKey,
                 Value rhsIndex) {
  Value greater = cmpF(b, arith::CmpFPredicate::OGT, lhsKey, rhsKey);
  Value equal = cmpF(b, arith::CmpFPredicate::OEQ, lhsKey, rhsKey);
  Value earlier = cmpI(b, arith::CmpIPredicate::slt, lhsIndex, rhsIndex);
  return orI1(b, greater, andI1(b, equal, earlier));
}

/// The top-k selection of a rank-1 `row`: on CPUs, for a static row of f32
/// or narrower floats, k vector arg-max scans (buildVectorTopK); otherwise
/// the scalar passes of buildTopKSelection, which GPU threads run as they
/// are.
std::pair<Value, Value> selectTopK(LocBuilder &b, Value row, int64_t k,
                                   Type indexType, TargetKind codeFor,
                                   Operation *op) {
  auto rowType = cast<RankedTensorType>(row.getType());
  // The vector form counts positions in i32.
  if (codeFor == TargetKind::CPU && rowType.hasStaticShape() &&
      rowType.getElementType().getIntOrFloatBitWidth() <= 32 &&
      k <= rowType.getDimSize(0) &&
      rowType.getDimSize(0) <= std::numeric_limits<int32_t>::max())
    return buildVectorTopK(b, row, k, indexType, getTargetOrHostDefault(op));
  return buildTopKSelection(b, b.getLoc(), row, k, indexType);
}

/// expf(x) for an f32 scalar.
Value exp(LocBuilder &b, Value value) { return math::ExpOp::create(b, value); }

/// 1 / (1 + exp(-x)).
Value sigmoid(LocBuilder &b, Value value) {
  Value one = f32Constant(b, 1.0);
  Value negated = arith::NegFOp::create(b, value);
  return arith::DivFOp::create(b, one,
                               arith::AddFOp::create(b, one, exp(b, negated)));
}

/// The maximum of a rank-1 f32 tensor (NaN propagates, as in the reference).
Value reduceMax(LocBuilder &b, Value vector) {
  Value n = dimSize(b, vector, 0);
  Value negInf = f32Constant(b, -kInfinity);
  return buildLoop(b, indexConstant(b, 0), n, {negInf},
                   [&](LocBuilder &l, Value i, ValueRange args) {
                     Value element = extract(l, vector, {i});
                     return SmallVector<Value>{
                         arith::MaximumFOp::create(l, args[0], element)};
                   })[0];
}

/// The sum of a rank-1 f32 tensor, in order.
Value reduceSum(LocBuilder &b, Value vector) {
  Value n = dimSize(b, vector, 0);
  return buildLoop(b, indexConstant(b, 0), n, {f32Constant(b, 0.0)},
                   [&](LocBuilder &l, Value i, ValueRange args) {
                     Value element = extract(l, vector, {i});
                     return SmallVector<Value>{
                         arith::AddFOp::create(l, args[0], element)};
                   })[0];
}

/// softmax of a rank-1 f32 tensor: exp(v - max) / Σ exp(v - max).
Value softmax(LocBuilder &b, Value vector) {
  Value maximum = reduceMax(b, vector);
  Value exps = mapElements(
      b, {vector}, b.getF32Type(), [&](LocBuilder &e, ValueRange args) {
        return exp(e, arith::SubFOp::create(e, args[0], maximum));
      });
  Value sum = reduceSum(b, exps);
  return mapElements(
      b, {exps}, b.getF32Type(), [&](LocBuilder &e, ValueRange args) {
        return arith::DivFOp::create(e, args[0], sum).getResult();
      });
}

/// Converts a tensor of f32 to `elementType` (rank 1 or 2).
Value tensorFromF32(LocBuilder &b, Value tensor, Type elementType) {
  auto type = cast<RankedTensorType>(tensor.getType());
  if (type.getElementType() == elementType)
    return tensor;
  Value init = emptyTensor(b, mixedSizes(b, tensor), elementType);
  AffineMap identity = b.getMultiDimIdentityMap(type.getRank());
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, TypeRange{init.getType()}, ValueRange{tensor}, ValueRange{init},
             SmallVector<AffineMap>{identity, identity}, iterators,
             [&](OpBuilder &nested, Location loc, ValueRange args) {
               LocBuilder inner(loc, nested);
               linalg::YieldOp::create(
                   inner,
                   ValueRange{convertFloat(inner, args[0], elementType)});
             })
      .getResult(0);
}

/// Replaces `op` by `values`, casting each to the op's result type where the
/// lowering inferred a more (or less) static shape.
void replaceWithCasts(PatternRewriter &rewriter, LocBuilder &b, Operation *op,
                      ArrayRef<Value> values) {
  SmallVector<Value> replacements;
  for (auto [value, original] : llvm::zip_equal(values, op->getResults()))
    replacements.push_back(
        value.getType() == original.getType()
            ? value
            : tensor::CastOp::create(b, original.getType(), value).getResult());
  rewriter.replaceOp(op, replacements);
}

/// accumulator += scale * row, in place, for an f32 accumulator and a row of
/// any float type (a weighted expert row in combine and PEER).
Value accumulateScaledRow(LocBuilder &b, Value accumulator, Value scale,
                          Value row) {
  return updateElements(
      b, accumulator, {row}, [&](LocBuilder &e, Value current, ValueRange in) {
        Value product = arith::MulFOp::create(
            e, scale, convertFloat(e, in[0], e.getF32Type()));
        return arith::AddFOp::create(e, current, product).getResult();
      });
}

/// A T x D tensor of `elementType` whose row t is `computeRow(t)` (an f32
/// [D] accumulator) converted: an scf.forall over tokens, each inserting
/// its own row.
Value buildTokenRows(LocBuilder &b, OpFoldResult tokens, OpFoldResult model,
                     Type elementType,
                     function_ref<Value(LocBuilder &, Value)> computeRow) {
  Value init = emptyTensor(b, {tokens, model}, elementType);
  return buildForall(
      b, {tokens}, {init}, [&](LocBuilder &t, ValueRange ivs, ValueRange) {
        Value token = ivs[0];
        Value output = tensorFromF32(t, computeRow(t, token), elementType);
        return SmallVector<ParallelInsert>{{output,
                                            0,
                                            {token, t.getIndexAttr(0)},
                                            {t.getIndexAttr(1), model}}};
      })[0];
}

//===----------------------------------------------------------------------===//
// moe.topk
//===----------------------------------------------------------------------===//

struct TopKLowering : OpRewritePattern<TopKOp> {
  TopKLowering(MLIRContext *context, TargetKind codeFor)
      : OpRewritePattern(context), codeFor(codeFor) {}
  TargetKind codeFor;

  LogicalResult matchAndRewrite(TopKOp op,
                                PatternRewriter &rewriter) const override {
    LocBuilder b(op.getLoc(), rewriter);
    Value input = op.getInput();
    auto inputType = op.getInput().getType();
    int64_t rank = inputType.getRank();
    int64_t k = op.getKAttr().getInt();
    Type indexType = op.getIndices().getType().getElementType();
    if (rank == 1) {
      std::pair<Value, Value> selection =
          selectTopK(b, input, k, indexType, codeFor, op);
      rewriter.replaceOp(op, {selection.first, selection.second});
      return success();
    }
    SmallVector<OpFoldResult> sizes = mixedSizes(b, input);
    SmallVector<OpFoldResult> leading(sizes.begin(), sizes.end() - 1);
    SmallVector<OpFoldResult> outSizes = leading;
    outSizes.push_back(b.getIndexAttr(k));
    Value valuesInit =
        emptyTensor(b, outSizes, op.getValues().getType().getElementType());
    Value indicesInit = emptyTensor(b, outSizes, indexType);
    SmallVector<Value> results = buildForall(
        b, leading, {valuesInit, indicesInit},
        [&](LocBuilder &body, ValueRange ivs, ValueRange) {
          Value row = extractRow(body, input, ivs);
          std::pair<Value, Value> selection =
              selectTopK(body, row, k, indexType, codeFor, op);
          Value values = selection.first;
          Value indices = selection.second;
          SmallVector<OpFoldResult> offsets(ivs.begin(), ivs.end());
          offsets.push_back(body.getIndexAttr(0));
          SmallVector<OpFoldResult> tileSizes(rank - 1, body.getIndexAttr(1));
          tileSizes.push_back(body.getIndexAttr(k));
          return SmallVector<ParallelInsert>{{values, 0, offsets, tileSizes},
                                             {indices, 1, offsets, tileSizes}};
        });
    replaceWithCasts(rewriter, b, op, results);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// moe.route
//===----------------------------------------------------------------------===//

/// Experts outside the best `topkGroups` of `numGroups` contiguous groups get
/// -inf in `selection` (a rank-1 f32 tensor of E entries).
Value applyGroupLimit(LocBuilder &b, Value selection, int64_t numExperts,
                      int64_t numGroups, int64_t topkGroups,
                      GroupScore groupScore) {
  int64_t groupSize = numExperts / numGroups;
  Type f32 = b.getF32Type();
  Value negInf = f32Constant(b, -kInfinity);
  Value groupScores = emptyTensor(b, {b.getIndexAttr(numGroups)}, f32);
  groupScores = buildLoop(
      b, indexConstant(b, 0), indexConstant(b, numGroups), {groupScores},
      [&](LocBuilder &l, Value group, ValueRange args) {
        Value first =
            arith::MulIOp::create(l, group, indexConstant(l, groupSize));
        Value last =
            arith::AddIOp::create(l, first, indexConstant(l, groupSize));
        // The best and second-best ranking keys of the group.
        SmallVector<Value> best = buildLoop(
            l, first, last, {negInf, negInf},
            [&](LocBuilder &inner, Value expert, ValueRange top) {
              Value key = rankingKey(inner, extract(inner, selection, {expert}),
                                     inner.getF32Type());
              Value beatsFirst =
                  cmpF(inner, arith::CmpFPredicate::OGT, key, top[0]);
              Value beatsSecond =
                  cmpF(inner, arith::CmpFPredicate::OGT, key, top[1]);
              Value newFirst = select(inner, beatsFirst, key, top[0]);
              Value newSecond = select(inner, beatsFirst, top[0],
                                       select(inner, beatsSecond, key, top[1]));
              return SmallVector<Value>{newFirst, newSecond};
            });
        Value score =
            groupScore == GroupScore::Max
                ? best[0]
                : arith::AddFOp::create(l, best[0], best[1]).getResult();
        return SmallVector<Value>{insert(l, score, args[0], {group})};
      })[0];
  Value keptGroups = buildTopKSelection(b, b.getLoc(), groupScores, topkGroups,
                                        b.getIndexType())
                         .second;
  // keep[g] = 1.0 for the kept groups.
  Value keep = filledTensor(b, {b.getIndexAttr(numGroups)}, f32Constant(b, 0));
  keep = buildLoop(b, indexConstant(b, 0), indexConstant(b, topkGroups), {keep},
                   [&](LocBuilder &l, Value j, ValueRange args) {
                     Value group = extract(l, keptGroups, {j});
                     return SmallVector<Value>{
                         insert(l, f32Constant(l, 1.0), args[0], {group})};
                   })[0];
  Value masked = emptyTensor(b, {b.getIndexAttr(numExperts)}, f32);
  return buildLoop(
      b, indexConstant(b, 0), indexConstant(b, numExperts), {masked},
      [&](LocBuilder &l, Value expert, ValueRange args) {
        Value group =
            arith::DivUIOp::create(l, expert, indexConstant(l, groupSize));
        Value kept = cmpF(l, arith::CmpFPredicate::OEQ,
                          extract(l, keep, {group}), f32Constant(l, 1.0));
        Value value = select(l, kept, extract(l, selection, {expert}), negInf);
        return SmallVector<Value>{insert(l, value, args[0], {expert})};
      })[0];
}

struct RouteLowering : OpRewritePattern<RouteOp> {
  RouteLowering(MLIRContext *context, TargetKind codeFor)
      : OpRewritePattern(context), codeFor(codeFor) {}
  TargetKind codeFor;

  LogicalResult matchAndRewrite(RouteOp op,
                                PatternRewriter &rewriter) const override {
    LocBuilder b(op.getLoc(), rewriter);
    Value x = op.getX();
    Value router = op.getRouterWeight();
    int64_t numExperts = op.getRouterWeight().getType().getDimSize(0);
    if (ShapedType::isDynamic(numExperts))
      return rewriter.notifyMatchFailure(op, "needs a static expert count");
    int64_t topK = op.getTopKAttr().getInt();
    Type f32 = b.getF32Type();
    Type i32 = b.getI32Type();
    OpFoldResult tokens = tensor::getMixedSize(b, b.getLoc(), x, 0);
    SmallVector<Value> outputs = {
        emptyTensor(b, {tokens, b.getIndexAttr(topK)}, f32),
        emptyTensor(b, {tokens, b.getIndexAttr(topK)}, i32)};
    bool withScores = static_cast<bool>(op.getScores());
    if (withScores)
      outputs.push_back(
          emptyTensor(b, {tokens, b.getIndexAttr(numExperts)}, f32));
    ScoreFunction scoreFunction = op.getScore();
    float scale = op.getScale().convertToFloat();
    Value bias = op.getBias();

    SmallVector<Value> results = buildForall(
        b, {tokens}, outputs, [&](LocBuilder &t, ValueRange ivs, ValueRange) {
          Value token = ivs[0];
          // Logits and scores of this token only: a token-local [E] tensor.
          Value row = extractRow(t, x, {token});
          // On CPUs the expert kernels' dot products (vectors of the
          // target's width, four router rows at a time, vdpbf16ps for bf16):
          // at T = 1 one thread computes all E logits, which as a generic
          // LLVM vectorized 4 wide (Qwen3-MoE, E = 128: ~50 us a call).
          Value logits =
              codeFor == TargetKind::CPU &&
                      cast<RankedTensorType>(router.getType()).hasStaticShape()
                  ? buildVectorMatvec(t, row, router,
                                      getTargetOrHostDefault(op))
                  : matvecF32(t, row, router);
          Value scores = logits;
          if (scoreFunction == ScoreFunction::Softmax)
            scores = softmax(t, logits);
          else if (scoreFunction == ScoreFunction::Sigmoid)
            scores = mapElements(t, {logits}, f32,
                                 [&](LocBuilder &e, ValueRange args) {
                                   return sigmoid(e, args[0]);
                                 });
          Value selection = scores;
          if (bias)
            selection = mapElements(
                t, {scores, bias}, f32, [&](LocBuilder &e, ValueRange args) {
                  return arith::AddFOp::create(e, args[0], args[1]).getResult();
                });
          if (op.getNGroupAttr().getInt() > 1)
            selection = applyGroupLimit(
                t, selection, numExperts, op.getNGroupAttr().getInt(),
                op.getTopkGroupAttr().getInt(), op.getGroupScore());
          Value indices =
              selectTopK(t, selection, topK, i32, codeFor, op).second;
          // weights = s[indices], or softmax(l[indices]) for softmax_topk.
          Value weights = emptyTensor(t, {t.getIndexAttr(topK)}, f32);
          weights = buildLoop(
              t, indexConstant(t, 0), indexConstant(t, topK), {weights},
              [&](LocBuilder &l, Value j, ValueRange args) {
                Value expert = toIndex(l, extract(l, indices, {j}));
                return SmallVector<Value>{
                    insert(l, extract(l, scores, {expert}), args[0], {j})};
              })[0];
          if (scoreFunction == ScoreFunction::SoftmaxTopk)
            weights = softmax(t, weights);
          if (op.getNormalize()) {
            Value sum = reduceSum(t, weights);
            Value nonZero =
                cmpF(t, arith::CmpFPredicate::UNE, sum, f32Constant(t, 0.0));
            weights = mapElements(
                t, {weights}, f32, [&](LocBuilder &e, ValueRange args) {
                  Value divided = arith::DivFOp::create(e, args[0], sum);
                  return select(e, nonZero, divided, args[0]);
                });
          }
          if (scale != 1.0f) {
            Value factor = f32Constant(t, scale);
            weights = mapElements(
                t, {weights}, f32, [&](LocBuilder &e, ValueRange args) {
                  return arith::MulFOp::create(e, args[0], factor).getResult();
                });
          }
          SmallVector<OpFoldResult> offsets = {token, t.getIndexAttr(0)};
          SmallVector<ParallelInsert> inserts = {
              {weights, 0, offsets, {t.getIndexAttr(1), t.getIndexAttr(topK)}},
              {indices, 1, offsets, {t.getIndexAttr(1), t.getIndexAttr(topK)}}};
          if (withScores)
            inserts.push_back(
                {scores,
                 2,
                 offsets,
                 {t.getIndexAttr(1), t.getIndexAttr(numExperts)}});
          return inserts;
        });
    replaceWithCasts(rewriter, b, op, results);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// moe.dispatch
//===----------------------------------------------------------------------===//

/// True when the expert index `expert` (an integer) is in [0, numExperts).
Value isValidExpert(LocBuilder &b, Value expert, int64_t numExperts) {
  Type type = expert.getType();
  Value zero = arith::ConstantIntOp::create(b, type, 0);
  Value limit = arith::ConstantIntOp::create(b, type, numExperts);
  return andI1(b, cmpI(b, arith::CmpIPredicate::sge, expert, zero),
               cmpI(b, arith::CmpIPredicate::slt, expert, limit));
}

/// A tensor of `sizes` whose element at each index is `element(indices)`:
/// a linalg.generic with no inputs, every dimension parallel.
Value generateTensor(LocBuilder &b, ArrayRef<OpFoldResult> sizes,
                     Type elementType,
                     function_ref<Value(LocBuilder &, ValueRange)> element) {
  Value init = emptyTensor(b, sizes, elementType);
  int64_t rank = sizes.size();
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, TypeRange{init.getType()}, ValueRange{}, ValueRange{init},
             ArrayRef<AffineMap>{b.getMultiDimIdentityMap(rank)}, iterators,
             [&](OpBuilder &nested, Location loc, ValueRange) {
               LocBuilder l(loc, nested);
               SmallVector<Value> indices;
               for (int64_t dim = 0; dim < rank; ++dim)
                 indices.push_back(linalg::IndexOp::create(l, dim));
               linalg::YieldOp::create(l, element(l, indices));
             })
      .getResult(0);
}

/// sum over i in [lower, upper) of `term(i)` (i32).
Value sumOver(LocBuilder &b, Value lower, Value upper,
              function_ref<Value(LocBuilder &, Value)> term) {
  return buildLoop(b, lower, upper, {i32Constant(b, 0)},
                   [&](LocBuilder &l, Value i, ValueRange args) {
                     return SmallVector<Value>{
                         arith::AddIOp::create(l, args[0], term(l, i))};
                   })[0];
}

/// The capacity C = min(T, max(min_capacity, ceil(cf * T * K / E))) as an
/// index, computed in f64 like the reference.
Value computeCapacity(LocBuilder &b, Value tokens, int64_t topK,
                      int64_t numExperts, double capacityFactor,
                      int64_t minCapacity) {
  Type f64 = b.getF64Type();
  Value tokensF = arith::UIToFPOp::create(
      b, f64, arith::IndexCastOp::create(b, b.getI64Type(), tokens));
  // ((cf * T) * K) / E, in the order the verifier (and the reference)
  // evaluate it, so the rounding of the f64 products agrees.
  Value withTokens =
      arith::MulFOp::create(b, floatConstant(b, f64, capacityFactor), tokensF);
  Value product = arith::MulFOp::create(
      b, withTokens, floatConstant(b, f64, static_cast<double>(topK)));
  Value perExpert = arith::DivFOp::create(
      b, product, floatConstant(b, f64, static_cast<double>(numExperts)));
  // Clamp to T in f64 before converting, so a huge factor cannot overflow.
  Value clamped =
      arith::MinimumFOp::create(b, math::CeilOp::create(b, perExpert), tokensF);
  Value capacity = arith::IndexCastOp::create(
      b, b.getIndexType(), arith::FPToSIOp::create(b, b.getI64Type(), clamped));
  Value withMinimum =
      arith::MaxSIOp::create(b, capacity, indexConstant(b, minCapacity));
  return arith::MinSIOp::create(b, withMinimum, tokens);
}

struct DispatchLowering : OpRewritePattern<DispatchOp> {
  DispatchLowering(MLIRContext *context, TargetKind codeFor)
      : OpRewritePattern(context), codeFor(codeFor) {}
  TargetKind codeFor;

  LogicalResult matchAndRewrite(DispatchOp op,
                                PatternRewriter &rewriter) const override {
    LocBuilder b(op.getLoc(), rewriter);
    Value x = op.getX();
    Value indices = op.getIndices();
    int64_t topK = op.getIndices().getType().getDimSize(1);
    if (ShapedType::isDynamic(topK))
      return rewriter.notifyMatchFailure(op, "needs a static top-k");
    int64_t numExperts = op.getNumExpertsAttr().getInt();
    Type i32 = b.getI32Type();
    Type elementType = cast<RankedTensorType>(x.getType()).getElementType();
    Value zero = indexConstant(b, 0);
    Value one = indexConstant(b, 1);
    Value tokens = dimSize(b, x, 0);
    OpFoldResult model = tensor::getMixedSize(b, b.getLoc(), x, 1);
    Value kValue = indexConstant(b, topK);
    Value minusOne = i32Constant(b, -1);
    Value rowOfInit = filledTensor(b, {tokens, b.getIndexAttr(topK)}, minusOne);
    Value floatZero = floatConstant(b, elementType, 0.0);

    // Walks the T x K assignments in (token, slot) order.
    auto forEachAssignment = [&](LocBuilder &outer, ValueRange inits,
                                 function_ref<SmallVector<Value>(
                                     LocBuilder &, Value, Value, ValueRange)>
                                     body) {
      return buildLoop(outer, zero, tokens, inits,
                       [&](LocBuilder &l, Value token, ValueRange args) {
                         return buildLoop(l, zero, kValue, args,
                                          [&](LocBuilder &inner, Value slot,
                                              ValueRange innerArgs) {
                                            return body(inner, token, slot,
                                                        innerArgs);
                                          });
                       });
    };
    // The rows (or buffer slots) gathered from x: element [leading..., d]
    // is x[tokenOf[leading...], d], or 0 where tokenOf is -1 (no assignment
    // landed there). One element per (row, feature) in parallel: the
    // sequential counting sort only decides where each token goes, so the
    // copy of T x K rows of D values runs on all cores (or GPU threads).
    auto gatherRows = [&](LocBuilder &l, Value tokenOf, bool mayBeEmpty) {
      auto tokenOfType = cast<RankedTensorType>(tokenOf.getType());
      int64_t rank = tokenOfType.getRank();
      SmallVector<OpFoldResult> sizes =
          tensor::getMixedSizes(l, l.getLoc(), tokenOf);
      sizes.push_back(model);
      Value init = emptyTensor(l, sizes, elementType);
      MLIRContext *context = l.getContext();
      SmallVector<AffineExpr> leadingDims;
      for (int64_t dim = 0; dim < rank; ++dim)
        leadingDims.push_back(getAffineDimExpr(dim, context));
      SmallVector<AffineMap> maps = {
          AffineMap::get(rank + 1, 0, leadingDims, context),
          l.getMultiDimIdentityMap(rank + 1)};
      SmallVector<utils::IteratorType> iterators(rank + 1,
                                                 utils::IteratorType::parallel);
      return linalg::GenericOp::create(
                 l, TypeRange{init.getType()}, ValueRange{tokenOf},
                 ValueRange{init}, maps, iterators,
                 [&](OpBuilder &nested, Location loc, ValueRange args) {
                   LocBuilder g(loc, nested);
                   Value feature = linalg::IndexOp::create(g, rank);
                   Value placed = cmpI(g, arith::CmpIPredicate::sge, args[0],
                                       i32Constant(g, 0));
                   if (!mayBeEmpty) {
                     // An unconditional load of a valid row (token 0 for
                     // an empty slot: the dropless rows number T x K, so
                     // there are none without tokens) and a select: a row
                     // is then a contiguous, vectorizable copy.
                     Value token =
                         arith::MaxSIOp::create(g, args[0], i32Constant(g, 0));
                     Value loaded = extract(g, x, {toIndex(g, token), feature});
                     linalg::YieldOp::create(
                         g, ValueRange{select(g, placed, loaded, floatZero)});
                     return;
                   }
                   // Capacity buffers have slots even when T = 0: load only
                   // what a token filled.
                   Value value = buildIf(
                       g, placed, {elementType},
                       [&](LocBuilder &then) {
                         return SmallVector<Value>{extract(
                             then, x, {toIndex(then, args[0]), feature})};
                       },
                       [&](LocBuilder &) {
                         return SmallVector<Value>{floatZero};
                       })[0];
                   linalg::YieldOp::create(g, value);
                 })
          .getResult(0);
    };

    if (op.getMode() == DispatchMode::Dropless && codeFor == TargetKind::CUDA) {
      // The GPU form: the same stable (expert, token, slot) order, found by
      // a chunked parallel scan instead of one walk, so that every step is
      // one thread per element. The T x K assignments are cut into chunks
      // of kChunk; per (chunk, expert) a count, per (chunk, expert) the sum
      // of the counts of earlier chunks; an assignment's row is its
      // expert's offset, plus its chunk's base, plus the matching
      // assignments before it in its chunk. Each row finds its token the
      // other way round: its expert by the offsets, its chunk by the bases,
      // its assignment by a scan of the chunk.
      constexpr int64_t kChunk = 256;
      Value n = arith::MulIOp::create(b, tokens, kValue);
      Value chunk = indexConstant(b, kChunk);
      Value chunks = arith::CeilDivSIOp::create(b, n, chunk);
      Value numExpertsValue = indexConstant(b, numExperts);
      // The expert of assignment a (= t * K + k) as an index, E if invalid.
      auto expertOf = [&](LocBuilder &l, Value a) {
        Value token = arith::DivUIOp::create(l, a, kValue);
        Value slot = arith::RemUIOp::create(l, a, kValue);
        Value expert = extract(l, indices, {token, slot});
        Value valid = isValidExpert(l, expert, numExperts);
        return select(l, valid, toIndex(l, expert),
                      indexConstant(l, numExperts));
      };
      auto chunkEnd = [&](LocBuilder &l, Value c) {
        Value end = arith::MulIOp::create(
            l, arith::AddIOp::create(l, c, indexConstant(l, 1)), chunk);
        return arith::MinSIOp::create(l, end, n).getResult();
      };
      auto matches = [&](LocBuilder &l, Value a, Value expert) {
        Value same = cmpI(l, arith::CmpIPredicate::eq, expertOf(l, a), expert);
        return arith::ExtUIOp::create(l, i32, same).getResult();
      };
      Value chunkCounts = generateTensor(
          b, {OpFoldResult(chunks), b.getIndexAttr(numExperts)}, i32,
          [&](LocBuilder &l, ValueRange ids) -> Value {
            Value start = arith::MulIOp::create(l, ids[0], chunk);
            return sumOver(
                l, start, chunkEnd(l, ids[0]),
                [&](LocBuilder &s, Value a) { return matches(s, a, ids[1]); });
          });
      Value chunkBases = generateTensor(
          b, {OpFoldResult(chunks), b.getIndexAttr(numExperts)}, i32,
          [&](LocBuilder &l, ValueRange ids) -> Value {
            return sumOver(l, indexConstant(l, 0), ids[0],
                           [&](LocBuilder &s, Value c) {
                             return extract(s, chunkCounts, {c, ids[1]});
                           });
          });
      Value counts = generateTensor(
          b, {b.getIndexAttr(numExperts)}, i32,
          [&](LocBuilder &l, ValueRange ids) -> Value {
            return sumOver(l, indexConstant(l, 0), chunks,
                           [&](LocBuilder &s, Value c) {
                             return extract(s, chunkCounts, {c, ids[0]});
                           });
          });
      Value offsets =
          generateTensor(b, {b.getIndexAttr(numExperts + 1)}, i32,
                         [&](LocBuilder &l, ValueRange ids) -> Value {
                           return sumOver(l, indexConstant(l, 0), ids[0],
                                          [&](LocBuilder &s, Value e) {
                                            return extract(s, counts, {e});
                                          });
                         });
      Value rowOf = generateTensor(
          b, {OpFoldResult(tokens), b.getIndexAttr(topK)}, i32,
          [&](LocBuilder &l, ValueRange ids) -> Value {
            Value a = arith::AddIOp::create(
                l, arith::MulIOp::create(l, ids[0], kValue), ids[1]);
            Value expert = expertOf(l, a);
            Value valid =
                cmpI(l, arith::CmpIPredicate::slt, expert, numExpertsValue);
            return buildIf(
                l, valid, {i32},
                [&](LocBuilder &then) {
                  Value c = arith::DivUIOp::create(then, a, chunk);
                  Value before =
                      sumOver(then, arith::MulIOp::create(then, c, chunk), a,
                              [&](LocBuilder &s, Value other) {
                                return matches(s, other, expert);
                              });
                  Value row = arith::AddIOp::create(
                      then,
                      arith::AddIOp::create(
                          then, extract(then, offsets, {expert}),
                          extract(then, chunkBases, {c, expert})),
                      before);
                  return SmallVector<Value>{row};
                },
                [&](LocBuilder &otherwise) {
                  return SmallVector<Value>{minusOne};
                })[0];
          });
      // Rows past the last expert's end hold no assignment (their experts
      // were invalid): token -1.
      Value tokenOf = generateTensor(
          b, {OpFoldResult(n)}, i32,
          [&](LocBuilder &l, ValueRange ids) -> Value {
            Value row = fromIndex(l, ids[0], i32);
            // The expert whose segment holds the row (E if none).
            Value expert = buildLoop(
                l, indexConstant(l, 0), numExpertsValue,
                {indexConstant(l, numExperts)},
                [&](LocBuilder &s, Value e, ValueRange args) {
                  Value next = arith::AddIOp::create(s, e, indexConstant(s, 1));
                  Value inside = andI1(s,
                                       cmpI(s, arith::CmpIPredicate::sle,
                                            extract(s, offsets, {e}), row),
                                       cmpI(s, arith::CmpIPredicate::slt, row,
                                            extract(s, offsets, {next})));
                  return SmallVector<Value>{select(s, inside, e, args[0])};
                })[0];
            Value owned =
                cmpI(l, arith::CmpIPredicate::slt, expert, numExpertsValue);
            return buildIf(
                l, owned, {i32},
                [&](LocBuilder &then) {
                  Value position = arith::SubIOp::create(
                      then, row, extract(then, offsets, {expert}));
                  // The last chunk whose base is at most the position.
                  Value c = buildLoop(
                      then, indexConstant(then, 0), chunks,
                      {indexConstant(then, 0)},
                      [&](LocBuilder &s, Value candidate, ValueRange args) {
                        Value reached =
                            cmpI(s, arith::CmpIPredicate::sle,
                                 extract(s, chunkBases, {candidate, expert}),
                                 position);
                        return SmallVector<Value>{
                            select(s, reached, candidate, args[0])};
                      })[0];
                  Value wanted = arith::SubIOp::create(
                      then, position, extract(then, chunkBases, {c, expert}));
                  // The wanted-th matching assignment of the chunk.
                  Value start = arith::MulIOp::create(then, c, chunk);
                  SmallVector<Value> found = buildLoop(
                      then, start, chunkEnd(then, c),
                      {i32Constant(then, 0), indexConstant(then, 0)},
                      [&](LocBuilder &s, Value a, ValueRange args) {
                        Value match = matches(s, a, expert);
                        Value hit = andI1(
                            s,
                            cmpI(s, arith::CmpIPredicate::ne, match,
                                 i32Constant(s, 0)),
                            cmpI(s, arith::CmpIPredicate::eq, args[0], wanted));
                        return SmallVector<Value>{
                            arith::AddIOp::create(s, args[0], match),
                            select(s, hit, a, args[1])};
                      });
                  Value token = arith::DivUIOp::create(then, found[1], kValue);
                  return SmallVector<Value>{fromIndex(then, token, i32)};
                },
                [&](LocBuilder &) { return SmallVector<Value>{minusOne}; })[0];
          });
      replaceWithCasts(
          rewriter, b, op,
          {gatherRows(b, tokenOf, /*mayBeEmpty=*/false), offsets, rowOf});
      return success();
    }

    // Counts per expert (invalid expert indices are ignored).
    Value countsInit =
        filledTensor(b, {b.getIndexAttr(numExperts)}, i32Constant(b, 0));
    Value counts = forEachAssignment(
        b, {countsInit},
        [&](LocBuilder &l, Value token, Value slot, ValueRange args) {
          Value expert = extract(l, indices, {token, slot});
          Value valid = isValidExpert(l, expert, numExperts);
          return buildIf(
              l, valid, {args[0].getType()},
              [&](LocBuilder &then) {
                Value e = toIndex(then, expert);
                Value count = extract(then, args[0], {e});
                Value next =
                    arith::AddIOp::create(then, count, i32Constant(then, 1));
                return SmallVector<Value>{insert(then, next, args[0], {e})};
              },
              [&](LocBuilder &) { return SmallVector<Value>{args[0]}; });
        })[0];

    if (op.getMode() == DispatchMode::Dropless) {
      // Offsets: the exclusive prefix sums of the counts, E+1 entries.
      Value offsets =
          filledTensor(b, {b.getIndexAttr(numExperts + 1)}, i32Constant(b, 0));
      offsets = buildLoop(
          b, zero, indexConstant(b, numExperts), {offsets},
          [&](LocBuilder &l, Value e, ValueRange args) {
            Value next = arith::AddIOp::create(l, e, one);
            Value sum = arith::AddIOp::create(l, extract(l, args[0], {e}),
                                              extract(l, counts, {e}));
            return SmallVector<Value>{insert(l, sum, args[0], {next})};
          })[0];
      // Place every assignment after the earlier ones of its expert: the
      // rows end up sorted stably by (expert, token, slot).
      Value cursor = tensor::ExtractSliceOp::create(
          b, offsets, {b.getIndexAttr(0)}, {b.getIndexAttr(numExperts)},
          {b.getIndexAttr(1)});
      Value rowCount = arith::MulIOp::create(b, tokens, kValue);
      Value tokenOfInit = filledTensor(b, {rowCount}, minusOne);
      SmallVector<Value> placed = forEachAssignment(
          b, {cursor, rowOfInit, tokenOfInit},
          [&](LocBuilder &l, Value token, Value slot, ValueRange args) {
            Value expert = extract(l, indices, {token, slot});
            Value valid = isValidExpert(l, expert, numExperts);
            return buildIf(
                l, valid, TypeRange(args),
                [&](LocBuilder &then) {
                  Value e = toIndex(then, expert);
                  Value row = extract(then, args[0], {e});
                  Value next =
                      arith::AddIOp::create(then, row, i32Constant(then, 1));
                  Value cursorNext = insert(then, next, args[0], {e});
                  Value rowOf = insert(then, row, args[1], {token, slot});
                  Value tokenOf = insert(then, fromIndex(then, token, i32),
                                         args[2], {toIndex(then, row)});
                  return SmallVector<Value>{cursorNext, rowOf, tokenOf};
                },
                [&](LocBuilder &) { return SmallVector<Value>(args); });
          });
      replaceWithCasts(
          rewriter, b, op,
          {gatherRows(b, placed[2], /*mayBeEmpty=*/false), offsets, placed[1]});
      return success();
    }

    // Capacity mode.
    double capacityFactor = op.getCapacityFactor()->convertToDouble();
    int64_t minCapacity = op.getMinCapacityAttr().getInt();
    Value capacity = computeCapacity(b, tokens, topK, numExperts,
                                     capacityFactor, minCapacity);
    Value capacityI32 = fromIndex(b, capacity, i32);
    bool byScore = op.getDropPolicy() == DropPolicy::Score;
    Value routingWeights = op.getWeights();

    // With drop_policy(score), an assignment survives when fewer than C
    // assignments of its expert rank above it (higher weight, then earlier
    // token, then earlier slot).
    auto survives = [&](LocBuilder &l, Value token, Value slot,
                        Value expert) -> Value {
      Value key = rankingKey(l, extract(l, routingWeights, {token, slot}),
                             l.getF32Type());
      Value position = arith::AddIOp::create(
          l, arith::MulIOp::create(l, token, kValue), slot);
      Value ahead = forEachAssignment(
          l, {i32Constant(l, 0)},
          [&](LocBuilder &inner, Value otherToken, Value otherSlot,
              ValueRange args) {
            Value sameExpert =
                cmpI(inner, arith::CmpIPredicate::eq,
                     extract(inner, indices, {otherToken, otherSlot}), expert);
            Value otherKey = rankingKey(
                inner, extract(inner, routingWeights, {otherToken, otherSlot}),
                inner.getF32Type());
            Value otherPosition = arith::AddIOp::create(
                inner, arith::MulIOp::create(inner, otherToken, kValue),
                otherSlot);
            Value above = andI1(
                inner, sameExpert,
                ranksAbove(inner, otherKey, otherPosition, key, position));
            Value increment = arith::ExtUIOp::create(inner, i32, above);
            return SmallVector<Value>{
                arith::AddIOp::create(inner, args[0], increment)};
          })[0];
      return cmpI(l, arith::CmpIPredicate::slt, ahead, capacityI32);
    };

    Value cursorInit =
        filledTensor(b, {b.getIndexAttr(numExperts)}, i32Constant(b, 0));
    Value tokenOfInit =
        filledTensor(b, {b.getIndexAttr(numExperts), capacity}, minusOne);
    SmallVector<Value> placed = forEachAssignment(
        b, {cursorInit, rowOfInit, tokenOfInit},
        [&](LocBuilder &l, Value token, Value slot, ValueRange args) {
          Value expert = extract(l, indices, {token, slot});
          Value valid = isValidExpert(l, expert, numExperts);
          return buildIf(
              l, valid, TypeRange(args),
              [&](LocBuilder &then) {
                Value e = toIndex(then, expert);
                Value position = extract(then, args[0], {e});
                Value fits = cmpI(then, arith::CmpIPredicate::slt, position,
                                  capacityI32);
                Value keep =
                    byScore
                        ? andI1(then, fits, survives(then, token, slot, expert))
                        : fits;
                return buildIf(
                    then, keep, TypeRange(args),
                    [&](LocBuilder &kept) {
                      Value next = arith::AddIOp::create(kept, position,
                                                         i32Constant(kept, 1));
                      Value cursorNext = insert(kept, next, args[0], {e});
                      Value slotIndex = arith::AddIOp::create(
                          kept,
                          arith::MulIOp::create(kept, fromIndex(kept, e, i32),
                                                capacityI32),
                          position);
                      Value rowOf =
                          insert(kept, slotIndex, args[1], {token, slot});
                      Value tokenOf =
                          insert(kept, fromIndex(kept, token, i32), args[2],
                                 {e, toIndex(kept, position)});
                      return SmallVector<Value>{cursorNext, rowOf, tokenOf};
                    },
                    [&](LocBuilder &) { return SmallVector<Value>(args); });
              },
              [&](LocBuilder &) { return SmallVector<Value>(args); });
        });
    // The cursors end at the number of rows kept per expert.
    replaceWithCasts(
        rewriter, b, op,
        {gatherRows(b, placed[2], /*mayBeEmpty=*/true), placed[0], placed[1]});
    (void)counts;
    return success();
  }
};

//===----------------------------------------------------------------------===//
// moe.experts
//===----------------------------------------------------------------------===//

/// Σ_s partial[s] ([splits, ...] f32) written into `init` (the shape of
/// one split, in its element type).
Value sumSplits(LocBuilder &b, Value partial, int64_t splits, Value init) {
  auto initType = cast<RankedTensorType>(init.getType());
  int64_t rank = initType.getRank();
  SmallVector<Value> inputs;
  for (int64_t s = 0; s < splits; ++s) {
    SmallVector<OpFoldResult> offsets = {b.getIndexAttr(s)};
    SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1)};
    SmallVector<OpFoldResult> strides(rank + 1, b.getIndexAttr(1));
    for (OpFoldResult size : mixedSizes(b, init)) {
      offsets.push_back(b.getIndexAttr(0));
      sizes.push_back(size);
    }
    auto sliceType = RankedTensorType::get(initType.getShape(), b.getF32Type());
    inputs.push_back(tensor::ExtractSliceOp::create(b, sliceType, partial,
                                                    offsets, sizes, strides));
  }
  AffineMap identity = b.getMultiDimIdentityMap(rank);
  SmallVector<AffineMap> maps(splits + 1, identity);
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  Type elementType = initType.getElementType();
  return linalg::GenericOp::create(
             b, TypeRange{initType}, inputs, ValueRange{init}, maps, iterators,
             [&](OpBuilder &nested, Location loc, ValueRange args) {
               LocBuilder inner(loc, nested);
               Value sum = args[0];
               for (int64_t s = 1; s < splits; ++s)
                 sum = arith::AddFOp::create(inner, sum, args[s]);
               linalg::YieldOp::create(
                   inner, ValueRange{convertFloat(inner, sum, elementType)});
             })
      .getResult(0);
}

struct ExpertsLowering : OpRewritePattern<ExpertsOp> {
  ExpertsLowering(MLIRContext *context, TargetKind codeFor)
      : OpRewritePattern(context), codeFor(codeFor) {}

  LogicalResult matchAndRewrite(ExpertsOp op,
                                PatternRewriter &rewriter) const override {
    LocBuilder b(op.getLoc(), rewriter);
    if (codeFor == TargetKind::CUDA) {
      if (ShapedType::isDynamic(op.getUpProj().getType().getDimSize(0)))
        return rewriter.notifyMatchFailure(op, "needs a static expert count");
      Value result = buildRowParallelExperts(b, op);
      if (result.getType() != op.getType())
        result = tensor::CastOp::create(b, op.getType(), result);
      rewriter.replaceOp(op, result);
      return success();
    }
    Value rows = op.getRows();
    auto rowsType = op.getRows().getType();
    int64_t numExperts = op.getUpProj().getType().getDimSize(0);
    if (ShapedType::isDynamic(numExperts))
      return rewriter.notifyMatchFailure(op, "needs a static expert count");
    Type elementType = rowsType.getElementType();
    Value segments = op.getSegments();
    bool capacity = op.isCapacityLayout();
    SmallVector<OpFoldResult> sizes = mixedSizes(b, rows);
    OpFoldResult model = sizes.back();
    // Without moe-tile-experts, the cost model's choice for the target.
    ExpertTilingAttr tiling = op.getTilingAttr();
    if (!tiling)
      tiling = tileExperts(op);

    // Where expert e's rows are: (start, count), clamped to the rows.
    auto expertRows = [&](LocBuilder &l, Value expert) {
      Value start, count;
      if (capacity) {
        // Counts past C (or negative) are clamped: the rows exist.
        Value raw = toIndex(l, extract(l, segments, {expert}));
        Value limit = dimSize(l, rows, 1);
        start = indexConstant(l, 0);
        count = arith::MaxSIOp::create(l, indexConstant(l, 0),
                                       arith::MinSIOp::create(l, raw, limit));
      } else {
        // Offsets are clamped to [0, R]: bad offsets give empty or
        // shortened segments, never an access outside the rows.
        Value zeroIndex = indexConstant(l, 0);
        Value limit = dimSize(l, rows, 0);
        auto clampToRows = [&](Value value) -> Value {
          return arith::MinSIOp::create(
              l, arith::MaxSIOp::create(l, value, zeroIndex), limit);
        };
        start = clampToRows(toIndex(l, extract(l, segments, {expert})));
        Value next = arith::AddIOp::create(l, expert, indexConstant(l, 1));
        Value end = clampToRows(toIndex(l, extract(l, segments, {next})));
        count = arith::MaxSIOp::create(l, zeroIndex,
                                       arith::SubIOp::create(l, end, start));
      }
      return std::make_pair(start, count);
    };

    // The experts that have rows, in order (a sequential scan over E):
    // the parallel loop runs over these only, so that the threads share the
    // experts a batch touches (at T = 1, K of E) evenly instead of taking
    // fixed ranges of all E.
    Type indexType = b.getIndexType();
    Value activeInit = emptyTensor(b, {b.getIndexAttr(numExperts)}, indexType);
    SmallVector<Value> compacted = buildLoop(
        b, indexConstant(b, 0), indexConstant(b, numExperts),
        {activeInit, indexConstant(b, 0)},
        [&](LocBuilder &l, Value expert, ValueRange args) {
          Value hasRows =
              cmpI(l, arith::CmpIPredicate::sgt, expertRows(l, expert).second,
                   indexConstant(l, 0));
          // Written at the cursor either way (it is < E); only an expert
          // with rows advances it.
          Value placed = insert(l, expert, args[0], {args[1]});
          Value next = arith::AddIOp::create(l, args[1], indexConstant(l, 1));
          return SmallVector<Value>{
              placed, arith::SelectOp::create(l, hasRows, next, args[1])};
        });

    // Threads share an expert when there are few experts with rows for
    // the cores (decode, the gemv kernel: K of E) or few experts at all (a
    // shared expert is one): each expert's F-tiles are dealt into `splits`
    // runs, one iteration per (expert, run), and the runs' partial outputs
    // (f32) are summed after the loop. Every core then streams weights
    // whatever K is. Not where experts are many (prefill: most of E): each
    // core has whole experts to run, and splitting them only repeats each
    // token tile's transposition and adds the sum (OLMoE at T = 256 ran
    // 10-15 % slower split, 2026-11-23).
    TargetAttr target = getTargetOrHostDefault(op).withDefaults();
    int64_t cores = static_cast<int64_t>(target.getComputeUnits());
    bool fewExperts =
        tiling.getKernel() == ExpertKernel::Gemv || numExperts < 2 * cores;
    int64_t splits =
        fewExperts ? std::clamp<int64_t>(cores, 1, countHiddenTiles(op, tiling))
                   : 1;
    Type f32 = b.getF32Type();
    Type tileElement = splits > 1 ? f32 : elementType;
    // Rows no expert covers stay zero.
    Value output0;
    if (splits > 1) {
      SmallVector<OpFoldResult> partialSizes = {b.getIndexAttr(splits)};
      llvm::append_range(partialSizes, sizes);
      output0 = filledTensor(b, partialSizes, f32Constant(b, 0.0));
    } else {
      output0 = filledTensor(b, sizes, floatConstant(b, elementType, 0.0));
    }
    Value iterations =
        arith::MulIOp::create(b, compacted[1], indexConstant(b, splits));

    // One iteration per (expert with rows, run); the work follows the
    // routed rows, not E.
    SmallVector<Value> results = buildForall(
        b, {iterations}, {output0},
        [&](LocBuilder &t, ValueRange ivs, ValueRange) {
          Value active = ivs[0];
          Value split;
          if (splits > 1) {
            Value count = indexConstant(t, splits);
            split = arith::RemUIOp::create(t, active, count);
            active = arith::DivUIOp::create(t, active, count);
          }
          Value expert = extract(t, compacted[0], {active});
          Value start, count;
          std::tie(start, count) = expertRows(t, expert);
          auto tileType = RankedTensorType::get(
              {ShapedType::kDynamic, rowsType.getShape().back()}, tileElement);
          Value hasRows =
              cmpI(t, arith::CmpIPredicate::sgt, count, indexConstant(t, 0));
          Value output = buildIf(
              t, hasRows, {tileType},
              [&](LocBuilder &then) {
                Value tile =
                    capacity ? extractMatrix(then, rows, {expert}, start, count)
                             : extractMatrix(then, rows, {}, start, count);
                Value result =
                    tensorFromF32(then,
                                  buildTiledExpertFFN(then, op, expert, tile,
                                                      tiling, split, splits),
                                  tileElement);
                if (result.getType() != tileType)
                  result = tensor::CastOp::create(then, tileType, result);
                return SmallVector<Value>{result};
              },
              [&](LocBuilder &otherwise) {
                // An empty tile: the parallel insert below writes nothing.
                Value empty = emptyTensor(
                    otherwise, {otherwise.getIndexAttr(0), model}, tileElement);
                return SmallVector<Value>{
                    tensor::CastOp::create(otherwise, tileType, empty)};
              })[0];
          SmallVector<OpFoldResult> offsets, tileSizes;
          if (splits > 1) {
            offsets.push_back(split);
            tileSizes.push_back(t.getIndexAttr(1));
          }
          if (capacity) {
            offsets.append({expert, t.getIndexAttr(0), t.getIndexAttr(0)});
            tileSizes.append({t.getIndexAttr(1), count, model});
          } else {
            offsets.append({start, t.getIndexAttr(0)});
            tileSizes.append({count, model});
          }
          return SmallVector<ParallelInsert>{{output, 0, offsets, tileSizes}};
        });
    // Whole experts per iteration (prefill) cost what their row counts say,
    // which the routing makes uneven: OpenMP deals them out dynamically
    // (moe-apply-loop-schedules). Runs of one expert's F-tiles cost the same,
    // and keep static ranges, so that each core re-reads its own slice.
    if (splits == 1 && codeFor == TargetKind::CPU)
      if (auto loop = results[0].getDefiningOp<scf::ForallOp>())
        loop->setLoc(withDynamicScheduleMarker(loop.getLoc()));
    if (splits > 1)
      results[0] =
          sumSplits(b, results[0], splits, emptyTensor(b, sizes, elementType));
    replaceWithCasts(rewriter, b, op, results);
    return success();
  }

private:
  TargetKind codeFor;
};

//===----------------------------------------------------------------------===//
// moe.combine
//===----------------------------------------------------------------------===//

struct CombineLowering : OpRewritePattern<CombineOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CombineOp op,
                                PatternRewriter &rewriter) const override {
    LocBuilder b(op.getLoc(), rewriter);
    Value rows = op.getRows();
    auto rowsType = op.getRows().getType();
    if (rowsType.getRank() == 3) {
      // Address the E x C x D buffer as E*C rows: row_of holds e*C + pos.
      rows = tensor::CollapseShapeOp::create(
          b, rows, SmallVector<ReassociationIndices>{{0, 1}, {2}});
    }
    Value weights = op.getWeights();
    Value rowOf = op.getRowOf();
    int64_t topK = op.getWeights().getType().getDimSize(1);
    Type elementType = rowsType.getElementType();
    OpFoldResult tokens = tensor::getMixedSize(b, b.getLoc(), weights, 0);
    OpFoldResult model = tensor::getMixedSize(b, b.getLoc(), rows, 1);
    Value rowCount = dimSize(b, rows, 0);
    Value kValue = ShapedType::isDynamic(topK) ? dimSize(b, weights, 1)
                                               : indexConstant(b, topK);
    Value result = buildTokenRows(
        b, tokens, model, elementType, [&](LocBuilder &t, Value token) {
          Value accumulator = filledTensor(t, {model}, f32Constant(t, 0.0));
          return buildLoop(
              t, indexConstant(t, 0), kValue, {accumulator},
              [&](LocBuilder &l, Value slot, ValueRange args) {
                Value row = toIndex(l, extract(l, rowOf, {token, slot}));
                Value inRange =
                    andI1(l,
                          cmpI(l, arith::CmpIPredicate::sge, row,
                               indexConstant(l, 0)),
                          cmpI(l, arith::CmpIPredicate::slt, row, rowCount));
                return buildIf(
                    l, inRange, {args[0].getType()},
                    [&](LocBuilder &then) {
                      Value weight = extract(then, weights, {token, slot});
                      Value expertRow = extractRow(then, rows, {row});
                      return SmallVector<Value>{accumulateScaledRow(
                          then, args[0], weight, expertRow)};
                    },
                    [&](LocBuilder &) { return SmallVector<Value>{args[0]}; });
              })[0];
        });
    replaceWithCasts(rewriter, b, op, {result});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// moe.repeat
//===----------------------------------------------------------------------===//

struct RepeatLowering : OpRewritePattern<RepeatOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RepeatOp op,
                                PatternRewriter &rewriter) const override {
    LocBuilder b(op.getLoc(), rewriter);
    Value lower = indexConstant(b, 0);
    Value upper = indexConstant(b, op.getCountAttr().getInt());
    Value step = indexConstant(b, 1);
    auto loop = scf::ForOp::create(b, lower, upper, step, op.getInits());
    Block *body = loop.getBody();
    if (!body->empty())
      rewriter.eraseOp(body->getTerminator());
    rewriter.mergeBlocks(&op.getBodyBlock(), body, loop.getRegionIterArgs());
    auto yield = cast<YieldOp>(body->getTerminator());
    rewriter.setInsertionPoint(yield);
    rewriter.replaceOpWithNewOp<scf::YieldOp>(yield, yield.getValues());
    rewriter.replaceOp(op, loop.getResults());
    return success();
  }
};

//===----------------------------------------------------------------------===//
// moe.peer
//===----------------------------------------------------------------------===//

/// [T, heads · queryDim] f32: x · weightᵀ for the rows of `x` ([T, D]) and
/// a static `weight` [heads · queryDim, D], as a parallel loop over (block
/// of 4 rows, head); a block of 4 rows takes each loaded weight vector for
/// all 4 (buildBatchedMatvec), the rows of a last, partial block one at a
/// time.
Value buildBlockedQueries(LocBuilder &b, Value x, Value weight, int64_t heads,
                          int64_t queryDim, TargetAttr target) {
  constexpr int64_t blockRows = 4;
  Type f32 = b.getF32Type();
  Value tokens = dimSize(b, x, 0);
  Value blocks =
      arith::CeilDivUIOp::create(b, tokens, indexConstant(b, blockRows));
  Value init = emptyTensor(b, {tokens, b.getIndexAttr(heads * queryDim)}, f32);
  auto tileType = RankedTensorType::get({ShapedType::kDynamic, queryDim}, f32);
  return buildForall(
      b, {blocks, b.getIndexAttr(heads)}, {init},
      [&](LocBuilder &l, ValueRange ivs, ValueRange) {
        Value first =
            arith::MulIOp::create(l, ivs[0], indexConstant(l, blockRows));
        Value count =
            arith::MinUIOp::create(l, indexConstant(l, blockRows),
                                   arith::SubIOp::create(l, tokens, first));
        Value headStart =
            arith::MulIOp::create(l, ivs[1], indexConstant(l, queryDim));
        Value headWeight =
            extractMatrix(l, weight, {}, headStart, l.getIndexAttr(queryDim));
        Value whole = arith::CmpIOp::create(l, arith::CmpIPredicate::eq, count,
                                            indexConstant(l, blockRows));
        Value tile = buildIf(
            l, whole, {tileType},
            [&](LocBuilder &t) {
              SmallVector<Value> rows;
              for (int64_t i = 0; i < blockRows; ++i)
                rows.push_back(extractRow(t, x, {addIndex(t, first, i)}));
              Value block = buildBatchedMatvec(t, rows, headWeight, target);
              return SmallVector<Value>{
                  tensor::CastOp::create(t, tileType, block)};
            },
            [&](LocBuilder &t) {
              Value partial =
                  emptyTensor(t, {count, t.getIndexAttr(queryDim)}, f32);
              return buildLoop(
                  t, indexConstant(t, 0), count, {partial},
                  [&](LocBuilder &r, Value i, ValueRange args) {
                    Value row =
                        extractRow(r, x, {arith::AddIOp::create(r, first, i)});
                    Value query = buildVectorMatvec(r, row, headWeight, target);
                    SmallVector<OpFoldResult> offsets = {i, r.getIndexAttr(0)};
                    SmallVector<OpFoldResult> sizes = {
                        r.getIndexAttr(1), r.getIndexAttr(queryDim)};
                    SmallVector<OpFoldResult> strides(2, r.getIndexAttr(1));
                    return SmallVector<Value>{tensor::InsertSliceOp::create(
                        r, query, args[0], offsets, sizes, strides)};
                  });
            })[0];
        return SmallVector<ParallelInsert>{
            {tile, 0, {first, headStart}, {count, l.getIndexAttr(queryDim)}}};
      })[0];
}

struct PeerLowering : OpRewritePattern<PeerOp> {
  PeerLowering(MLIRContext *context, TargetKind codeFor)
      : OpRewritePattern(context), codeFor(codeFor) {}
  TargetKind codeFor;

  LogicalResult matchAndRewrite(PeerOp op,
                                PatternRewriter &rewriter) const override {
    LocBuilder b(op.getLoc(), rewriter);
    Value x = op.getX();
    Value keys = op.getKeys();
    bool sharedKeys = op.getKeys().getType().getRank() == 3;
    int64_t heads = op.getHeadsAttr().getInt();
    int64_t topK = op.getTopKAttr().getInt();
    int64_t subKeys = op.getNumSubKeys();
    int64_t queryDim = op.getQueryDimPerHead();
    if (ShapedType::isDynamic(subKeys) || ShapedType::isDynamic(queryDim))
      return rewriter.notifyMatchFailure(op, "needs static key shapes");
    int64_t half = queryDim / 2;
    Type f32 = b.getF32Type();
    Type elementType = cast<RankedTensorType>(x.getType()).getElementType();
    OpFoldResult tokens = tensor::getMixedSize(b, b.getLoc(), x, 0);
    OpFoldResult model = tensor::getMixedSize(b, b.getLoc(), x, 1);
    Activation activation = op.getActivation();
    PeerScore score = op.getScore();
    Value bias = op.getQueryBias();
    // On CPUs the query and sub-key scores are the expert kernels' vector
    // dot products (as the router's logits).
    TargetAttr target = getTargetOrHostDefault(op);
    // ... and the experts' rows are gathered by the vector kernels, many
    // rows per pass (static tables only).
    bool gatheredKernels =
        codeFor == TargetKind::CPU &&
        cast<RankedTensorType>(op.getDownEmbed().getType()).hasStaticShape() &&
        cast<RankedTensorType>(op.getUpEmbed().getType()).hasStaticShape();
    auto matvec = [&](LocBuilder &l, Value vector, Value matrix) {
      if (codeFor == TargetKind::CPU &&
          cast<RankedTensorType>(matrix.getType()).hasStaticShape())
        return buildVectorMatvec(l, vector, matrix, target);
      return matvecF32(l, vector, matrix);
    };

    // On CPUs (static query weights) the queries of all tokens come first:
    // one iteration per (block of 4 tokens, head), each loaded vector of
    // the head's query weights serving the block's 4 tokens, so that a
    // prefill call reads each head's weights T / 4 times instead of T
    // (PEER f32 T = 64: half of the call was the per-token query
    // products).
    Value queries;
    if (codeFor == TargetKind::CPU &&
        cast<RankedTensorType>(op.getQueryWeight().getType()).hasStaticShape())
      queries = buildBlockedQueries(b, x, op.getQueryWeight(), heads, queryDim,
                                    target);

    // One iteration per (token, head), so that a single token's heads run
    // in parallel (at T = 1 the per-token loop had one iteration): each
    // computes its head's query slice, sub-key scores, top-k and experts
    // into a partial output row; the heads' rows are summed afterwards.
    Value partialsInit =
        emptyTensor(b, {tokens, b.getIndexAttr(heads), model}, f32);
    Value partials = buildForall(
        b, {tokens, b.getIndexAttr(heads)}, {partialsInit},
        [&](LocBuilder &l, ValueRange ivs, ValueRange) {
          Value token = ivs[0], head = ivs[1];
          Value row = extractRow(l, x, {token});
          Value headStart =
              arith::MulIOp::create(l, head, indexConstant(l, queryDim));
          Value query =
              queries
                  ? extractRange(l, extractRow(l, queries, {token}), headStart,
                                 l.getIndexAttr(queryDim))
                  : matvec(l, row,
                           extractMatrix(l, op.getQueryWeight(), {}, headStart,
                                         l.getIndexAttr(queryDim)));
          if (bias)
            query = mapElements(
                l,
                {query,
                 extractRange(l, bias, headStart, l.getIndexAttr(queryDim))},
                f32, [&](LocBuilder &e, ValueRange args) {
                  return arith::AddFOp::create(e, args[0], args[1]).getResult();
                });
          SmallVector<Value> args = {
              filledTensor(l, {model}, f32Constant(l, 0.0))};
          Value contribution = [&]() -> Value {
            Value base = indexConstant(l, 0);
            auto subKeyScores = [&](int64_t which) {
              Value offset = arith::AddIOp::create(
                  l, base, indexConstant(l, which * half));
              Value halfQuery =
                  extractRange(l, query, offset, l.getIndexAttr(half));
              SmallVector<Value> leading;
              if (!sharedKeys)
                leading.push_back(head);
              leading.push_back(indexConstant(l, which));
              Value subKeyMatrix = extractMatrix(
                  l, keys, leading, l.getIndexAttr(0), l.getIndexAttr(subKeys));
              return matvec(l, halfQuery, subKeyMatrix);
            };
            Type i32 = l.getI32Type();
            std::pair<Value, Value> first =
                selectTopK(l, subKeyScores(0), topK, i32, codeFor, op);
            std::pair<Value, Value> second =
                selectTopK(l, subKeyScores(1), topK, i32, codeFor, op);
            Value firstValues = first.first, firstIndices = first.second;
            Value secondValues = second.first, secondIndices = second.second;
            // Candidate (a, b) at index a*k + b scores first[a] +
            // second[b].
            Value candidates =
                emptyTensor(l, {l.getIndexAttr(topK * topK)}, f32);
            candidates = buildLoop(
                l, indexConstant(l, 0), indexConstant(l, topK * topK),
                {candidates}, [&](LocBuilder &c, Value i, ValueRange cargs) {
                  Value a =
                      arith::DivUIOp::create(c, i, indexConstant(c, topK));
                  Value bIndex =
                      arith::RemUIOp::create(c, i, indexConstant(c, topK));
                  Value sum =
                      arith::AddFOp::create(c, extract(c, firstValues, {a}),
                                            extract(c, secondValues, {bIndex}));
                  return SmallVector<Value>{insert(c, sum, cargs[0], {i})};
                })[0];
            std::pair<Value, Value> best =
                selectTopK(l, candidates, topK, l.getIndexType(), codeFor, op);
            Value bestValues = best.first, bestIndices = best.second;
            Value gates =
                score == PeerScore::Softmax
                    ? softmax(l, bestValues)
                    : mapElements(l, {bestValues}, f32,
                                  [&](LocBuilder &e, ValueRange values) {
                                    return arith::MaximumFOp::create(
                                               e, values[0],
                                               f32Constant(e, 0.0))
                                        .getResult();
                                  });
            // The product key of the j-th best candidate.
            auto expertOf = [&](LocBuilder &s, Value j) -> Value {
              Value candidate = extract(s, bestIndices, {j});
              Value a =
                  arith::DivUIOp::create(s, candidate, indexConstant(s, topK));
              Value bIndex =
                  arith::RemUIOp::create(s, candidate, indexConstant(s, topK));
              Value firstKey = toIndex(s, extract(s, firstIndices, {a}));
              Value secondKey = toIndex(s, extract(s, secondIndices, {bIndex}));
              return arith::AddIOp::create(
                  s,
                  arith::MulIOp::create(s, firstKey, indexConstant(s, subKeys)),
                  secondKey);
            };
            if (gatheredKernels) {
              // Blocks of up to 16 experts (16 dot-product accumulators
              // leave half of the 32 vector registers): one pass over D
              // reads all their down rows, then one all their up rows, so
              // that the rows' cold first reads (each a TLB miss and a
              // DRAM access in tables of n^2 rows) overlap instead of
              // following one another (PEER f32 T = 1 cold: ~45 % of the
              // samples sat on those first reads).
              constexpr int64_t expertsPerPass = 16;
              return forRowBlocks(
                  l, topK, expertsPerPass, {args[0]},
                  [&](LocBuilder &s, Value first, int64_t count,
                      ValueRange acc) {
                    SmallVector<Value> experts;
                    for (int64_t i = 0; i < count; ++i)
                      experts.push_back(expertOf(s, addIndex(s, first, i)));
                    SmallVector<Value> dots = buildGatheredRowDots(
                        s, row, op.getDownEmbed(), experts, target);
                    SmallVector<Value> coefficients;
                    for (int64_t i = 0; i < count; ++i)
                      coefficients.push_back(arith::MulFOp::create(
                          s, extract(s, gates, {addIndex(s, first, i)}),
                          buildActivation(s, s.getLoc(), activation, dots[i])));
                    return SmallVector<Value>{buildGatheredRowCombination(
                        s, acc[0], op.getUpEmbed(), experts, coefficients,
                        target)};
                  })[0];
            }
            return buildLoop(
                l, indexConstant(l, 0), indexConstant(l, topK), {args[0]},
                [&](LocBuilder &s, Value j, ValueRange sargs) {
                  Value expert = expertOf(s, j);
                  Value down = extractRow(s, op.getDownEmbed(), {expert});
                  Value up = extractRow(s, op.getUpEmbed(), {expert});
                  Value activated = buildActivation(s, s.getLoc(), activation,
                                                    dotF32(s, down, row));
                  Value coefficient = arith::MulFOp::create(
                      s, extract(s, gates, {j}), activated);
                  return SmallVector<Value>{
                      accumulateScaledRow(s, sargs[0], coefficient, up)};
                })[0];
          }();
          // The partial shape [1, 1, D] matches a rank-1 row.
          return SmallVector<ParallelInsert>{
              {contribution,
               0,
               {token, head, l.getIndexAttr(0)},
               {l.getIndexAttr(1), l.getIndexAttr(1), model}}};
        })[0];
    // y[t, d] = sum over heads of partials[t, h, d], in the element type.
    MLIRContext *context = b.getContext();
    AffineExpr t = getAffineDimExpr(0, context),
               d = getAffineDimExpr(1, context),
               h = getAffineDimExpr(2, context);
    Value sumInit = filledTensor(b, {tokens, model}, f32Constant(b, 0.0));
    Value summed =
        linalg::GenericOp::create(
            b, TypeRange{sumInit.getType()}, ValueRange{partials},
            ValueRange{sumInit},
            ArrayRef<AffineMap>{AffineMap::get(3, 0, {t, h, d}, context),
                                AffineMap::get(3, 0, {t, d}, context)},
            {utils::IteratorType::parallel, utils::IteratorType::parallel,
             utils::IteratorType::reduction},
            [&](OpBuilder &nested, Location loc, ValueRange args) {
              LocBuilder e(loc, nested);
              linalg::YieldOp::create(
                  e, ValueRange{arith::AddFOp::create(e, args[1], args[0])});
            })
            .getResult(0);
    Value result = tensorFromF32(b, summed, elementType);
    replaceWithCasts(rewriter, b, op, {result});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Auxiliary losses
//===----------------------------------------------------------------------===//

/// A token count (index) as f32.
Value indexToF32(LocBuilder &b, Value value) {
  return arith::UIToFPOp::create(
      b, b.getF32Type(), arith::IndexCastOp::create(b, b.getI64Type(), value));
}

struct LoadBalancingLossLowering : OpRewritePattern<LoadBalancingLossOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LoadBalancingLossOp op,
                                PatternRewriter &rewriter) const override {
    LocBuilder b(op.getLoc(), rewriter);
    Value scores = op.getScores();
    Value indices = op.getIndices();
    int64_t numExperts = op.getScores().getType().getDimSize(1);
    if (ShapedType::isDynamic(numExperts))
      return rewriter.notifyMatchFailure(op, "needs a static expert count");
    Type f32 = b.getF32Type();
    Value zero = indexConstant(b, 0);
    Value tokens = dimSize(b, scores, 0);
    Value topK = dimSize(b, indices, 1);
    OpFoldResult experts = b.getIndexAttr(numExperts);
    // Per expert: the number of assignments, and the sum of its scores.
    Value counts = filledTensor(b, {experts}, f32Constant(b, 0.0));
    Value scoreSums = filledTensor(b, {experts}, f32Constant(b, 0.0));
    SmallVector<Value> sums = buildLoop(
        b, zero, tokens, {counts, scoreSums},
        [&](LocBuilder &l, Value token, ValueRange args) {
          Value newCounts = buildLoop(
              l, indexConstant(l, 0), topK, {args[0]},
              [&](LocBuilder &s, Value slot, ValueRange sargs) {
                Value expert = extract(s, indices, {token, slot});
                return buildIf(
                    s, isValidExpert(s, expert, numExperts),
                    {sargs[0].getType()},
                    [&](LocBuilder &then) {
                      Value e = toIndex(then, expert);
                      Value next = arith::AddFOp::create(
                          then, extract(then, sargs[0], {e}),
                          f32Constant(then, 1.0));
                      return SmallVector<Value>{
                          insert(then, next, sargs[0], {e})};
                    },
                    [&](LocBuilder &) { return SmallVector<Value>{sargs[0]}; });
              })[0];
          Value row = extractRow(l, scores, {token});
          Value newSums = updateElements(
              l, args[1], {row},
              [&](LocBuilder &e, Value current, ValueRange values) {
                return arith::AddFOp::create(e, current, values[0]).getResult();
              });
          return SmallVector<Value>{newCounts, newSums};
        });
    // E * Σ_e (count_e / (T*K)) * (sum_e / T).
    Value tokensF = indexToF32(b, tokens);
    Value assignments = arith::MulFOp::create(b, tokensF, indexToF32(b, topK));
    Value dot = dotF32(b, sums[0], sums[1]);
    Value normalized = arith::DivFOp::create(
        b, arith::DivFOp::create(b, dot, assignments), tokensF);
    Value loss = arith::MulFOp::create(
        b, normalized, f32Constant(b, static_cast<double>(numExperts)));
    (void)f32;
    rewriter.replaceOp(op, loss);
    return success();
  }
};

struct RouterZLossLowering : OpRewritePattern<RouterZLossOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RouterZLossOp op,
                                PatternRewriter &rewriter) const override {
    LocBuilder b(op.getLoc(), rewriter);
    Value logits = op.getLogits();
    Value tokens = dimSize(b, logits, 0);
    Value total = buildLoop(
        b, indexConstant(b, 0), tokens, {f32Constant(b, 0.0)},
        [&](LocBuilder &l, Value token, ValueRange args) {
          Value row = extractRow(l, logits, {token});
          Value maximum = reduceMax(l, row);
          Value exps = mapElements(
              l, {row}, l.getF32Type(), [&](LocBuilder &e, ValueRange values) {
                return exp(e, arith::SubFOp::create(e, values[0], maximum));
              });
          Value logSumExp = arith::AddFOp::create(
              l, maximum, math::LogOp::create(l, reduceSum(l, exps)));
          Value squared = arith::MulFOp::create(l, logSumExp, logSumExp);
          return SmallVector<Value>{arith::AddFOp::create(l, args[0], squared)};
        })[0];
    rewriter.replaceOp(op,
                       arith::DivFOp::create(b, total, indexToF32(b, tokens)));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

struct ConvertMoEToLinalgPass
    : public mlir::moe::impl::ConvertMoEToLinalgPassBase<
          ConvertMoEToLinalgPass> {
  using ConvertMoEToLinalgPassBase::ConvertMoEToLinalgPassBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMoEDecomposePatterns(patterns);
    // The module's #moe.target says what the code is for; without one it
    // is for this host. (The moe dialect may not even be loaded when the
    // module holds no moe op, so no default attribute is built here.)
    TargetKind codeFor = TargetKind::CPU;
    Operation *root = getOperation();
    ModuleOp module = isa<ModuleOp>(root) ? cast<ModuleOp>(root)
                                          : root->getParentOfType<ModuleOp>();
    if (module)
      if (auto attr = module->getAttrOfType<TargetAttr>(
              MoEDialect::getTargetAttrName()))
        codeFor = attr.getKind();
    if (!target.empty()) {
      std::optional<TargetKind> kind = symbolizeTargetKind(target);
      if (!kind) {
        getOperation()->emitError()
            << "convert-moe-to-linalg: target must be 'cpu' or 'cuda', got '"
            << target << "'";
        return signalPassFailure();
      }
      codeFor = *kind;
    }
    populateMoEToLinalgConversionPatterns(patterns, codeFor);
    GreedyRewriteConfig config;
    // Lower outer ops (a moe.repeat) before the ops in their bodies.
    config.setUseTopDownTraversal(true);
    if (failed(
            applyPatternsGreedily(getOperation(), std::move(patterns), config)))
      return signalPassFailure();
    // The contract: no moe op survives.
    WalkResult result = getOperation()->walk([](Operation *op) {
      if (!isa<MoEDialect>(op->getDialect()))
        return WalkResult::advance();
      op->emitError() << "convert-moe-to-linalg could not lower '"
                      << op->getName()
                      << "': it needs static expert counts, top-k and key "
                         "shapes";
      return WalkResult::interrupt();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace

std::pair<Value, Value> mlir::moe::buildTopKSelection(OpBuilder &builder,
                                                      Location loc, Value row,
                                                      int64_t k,
                                                      Type indexType) {
  LocBuilder b(loc, builder);
  Type elementType = getElementTypeOrSelf(row.getType());
  Type i64 = b.getI64Type();
  // Rank f64 rows in f64 so that distinct values never tie after rounding.
  Type keyType = elementType.isF64() ? b.getF64Type() : b.getF32Type();
  Value n = dimSize(b, row, 0);
  Value values = emptyTensor(b, {b.getIndexAttr(k)}, elementType);
  Value indices = emptyTensor(b, {b.getIndexAttr(k)}, indexType);
  // Pass j picks the best entry that ranks strictly below pick j-1; the
  // first pass starts below (+inf, -1), above everything.
  Value startKey = floatConstant(b, keyType, kInfinity);
  Value startIndex = i64Constant(b, -1);
  SmallVector<Value> picked = buildLoop(
      b, indexConstant(b, 0), indexConstant(b, k),
      {startKey, startIndex, values, indices},
      [&](LocBuilder &l, Value pass, ValueRange args) {
        Value previousKey = args[0];
        Value previousIndex = args[1];
        SmallVector<Value> best = buildLoop(
            l, indexConstant(l, 0), n,
            {floatConstant(l, keyType, -kInfinity), i64Constant(l, -1)},
            [&](LocBuilder &s, Value i, ValueRange bestArgs) {
              Value key = rankingKey(s, extract(s, row, {i}), keyType);
              Value index = arith::IndexCastOp::create(s, i64, i);
              Value eligible =
                  ranksAbove(s, previousKey, previousIndex, key, index);
              Value noneYet = cmpI(s, arith::CmpIPredicate::slt, bestArgs[1],
                                   i64Constant(s, 0));
              Value better =
                  orI1(s, noneYet,
                       ranksAbove(s, key, index, bestArgs[0], bestArgs[1]));
              Value take = andI1(s, eligible, better);
              return SmallVector<Value>{select(s, take, key, bestArgs[0]),
                                        select(s, take, index, bestArgs[1])};
            });
        Value bestIndex =
            arith::IndexCastOp::create(l, l.getIndexType(), best[1]);
        Value value = extract(l, row, {bestIndex});
        Value newValues = insert(l, value, args[2], {pass});
        Value storedIndex =
            indexType.isIndex()
                ? bestIndex
                : (indexType == i64
                       ? best[1]
                       : arith::TruncIOp::create(l, indexType, best[1])
                             .getResult());
        Value newIndices = insert(l, storedIndex, args[3], {pass});
        return SmallVector<Value>{best[0], best[1], newValues, newIndices};
      });
  return {picked[2], picked[3]};
}

void mlir::moe::populateMoEToLinalgConversionPatterns(
    RewritePatternSet &patterns, TargetKind codeFor) {
  patterns.add<ExpertsLowering, DispatchLowering, RouteLowering, TopKLowering,
               PeerLowering>(patterns.getContext(), codeFor);
  patterns.add<CombineLowering, RepeatLowering, LoadBalancingLossLowering,
               RouterZLossLowering>(patterns.getContext());
}
