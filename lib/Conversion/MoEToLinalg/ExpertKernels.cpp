//===- ExpertKernels.cpp - Tiled, vectorized expert FFN kernels -----------===//
//
// One expert's FFN on its rows, written as vector-dialect loop nests on
// tensors (bufferization makes the tile buffers, LLVM allocates registers):
//
// * gemv (few rows, memory-bound): per F-tile, blocks of `gemvRows` gate
//   and up weight rows are dotted with the rows two at a time (vectors
//   along D, one accumulator per weight row and row, each weight vector
//   loaded once for both), the activation fills the rows x F-tile hidden
//   tile, then blocks of down rows (vectors along the F-tile) are dotted
//   with the rows' hidden tiles the same way and added to their output
//   rows. A block of weight rows is read from DRAM for the first pair of
//   rows and from L1 for the others.
//
// * gemm (many rows, compute-bound): per token tile, the rows are
//   transposed once (D x tile, f32, zero-padded) so that vectors run along
//   tokens; each weight element is loaded once per token tile and
//   broadcast against `tokenVectors` vectors of tokens, accumulating a
//   register block of hiddenRows (gate and up) or modelRows (down) weight
//   rows. Per F-tile, gate, up, activation and down run back to back on a
//   hidden tile of F-tile x token tile; the output accumulates transposed
//   (D x tile) and is transposed back once per token tile.
//
// All accumulation is f32. bf16/f16 operands are extended on load, except
// where the target has AVX512-BF16 and rows and weights are all bf16: then
// the kernels multiply pairs of bf16 with vdpbf16ps (x86vector.avx512.dot),
// which does twice the products of an FMA per instruction and needs no
// extension. Its operands are pairs along the reduction dimension, so the
// gemm's transposed rows and hidden tile hold, for each pair of reduction
// indices, each token's two values side by side ([D/2, 2 x tile] in bf16),
// and the hidden tile is rounded to bf16 (as a bf16 model's framework
// rounds its intermediate).
//
//===----------------------------------------------------------------------===//

#include "ExpertKernels.h"

#include "moe/Analysis/CostModel.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {

/// What the kernel builders need to know about one expert's FFN.
struct ExpertFFN {
  Value expert;
  /// [E, F, D]; null for plain (ungated) activations.
  Value gate;
  /// [E, F, D].
  Value up;
  /// [E, D, F].
  Value down;
  Activation activation;
  /// D and F.
  int64_t model = 0;
  int64_t hidden = 0;
  ExpertRegisterBlock block;
  /// Multiply bf16 pairs with vdpbf16ps (see the file comment).
  bool bf16Dot = false;

  bool gated() const { return static_cast<bool>(gate); }
  VectorType vectorType(MLIRContext *context) const {
    return VectorType::get({block.lanes}, Float32Type::get(context));
  }
};

/// `value` (a float scalar or vector) converted to f32 elements.
Value toF32(LocBuilder &b, Value value) {
  Type type = value.getType();
  Type element = getElementTypeOrSelf(type);
  Type f32 = b.getF32Type();
  if (element == f32)
    return value;
  Type target = f32;
  if (auto vectorType = dyn_cast<VectorType>(type))
    target = vectorType.clone(f32);
  if (element.getIntOrFloatBitWidth() < 32)
    return arith::ExtFOp::create(b, target, value);
  return arith::TruncFOp::create(b, target, value);
}

/// A vector of `lanes` consecutive elements of `tensor` along its last
/// dimension at `indices`, in the tensor's element type. Out-of-bounds
/// elements (only where `inBounds` is false) read as 0.
Value readRawVector(LocBuilder &b, Value tensor, ValueRange indices,
                    int64_t lanes, bool inBounds) {
  Type element = cast<RankedTensorType>(tensor.getType()).getElementType();
  auto type = VectorType::get({lanes}, element);
  Value padding = floatConstant(b, element, 0.0);
  SmallVector<bool> bounds = {inBounds};
  return vector::TransferReadOp::create(b, type, tensor, indices, padding,
                                        ArrayRef<bool>(bounds));
}

/// The same in f32.
Value readVector(LocBuilder &b, Value tensor, ValueRange indices, int64_t lanes,
                 bool inBounds) {
  return toF32(b, readRawVector(b, tensor, indices, lanes, inBounds));
}

/// The two consecutive bf16 elements of `tensor` at `indices` (a pair of
/// reduction indices) in every 32-bit lane of a vector<2 lanes x bf16>: the
/// weight operand of vdpbf16ps in the gemm (one 32-bit broadcast).
Value broadcastPair(LocBuilder &b, Value tensor, ValueRange indices,
                    int64_t lanes) {
  Value pair = readRawVector(b, tensor, indices, 2, /*inBounds=*/true);
  Type i32 = b.getI32Type();
  Value word = vector::BitCastOp::create(b, VectorType::get({1}, i32), pair);
  Value scalar = vector::ExtractOp::create(b, word, ArrayRef<int64_t>{0});
  Value words =
      vector::BroadcastOp::create(b, VectorType::get({lanes}, i32), scalar);
  return vector::BitCastOp::create(
      b, VectorType::get({2 * lanes}, b.getBF16Type()), words);
}

/// accumulator + Σ over each lane's pair of a · b (vdpbf16ps): `a` and `b`
/// are vector<2 lanes x bf16>, `accumulator` vector<lanes x f32>.
Value dotPairs(LocBuilder &b, Value accumulator, Value lhs, Value rhs) {
  return x86vector::DotBF16Op::create(b, accumulator.getType(), accumulator,
                                      lhs, rhs);
}

/// `vector` (f32) rounded to bf16.
Value toBf16(LocBuilder &b, Value vector) {
  return arith::TruncFOp::create(
      b, cast<VectorType>(vector.getType()).clone(b.getBF16Type()), vector);
}

/// One element of `tensor` in f32, broadcast to a vector of `type`.
Value broadcastElement(LocBuilder &b, Value tensor, ValueRange indices,
                       VectorType type) {
  Value scalar = toF32(b, tensor::ExtractOp::create(b, tensor, indices));
  return vector::BroadcastOp::create(b, type, scalar);
}

Value zeroVector(LocBuilder &b, VectorType type) {
  return arith::ConstantOp::create(
      b, type, DenseElementsAttr::get(type, b.getF32FloatAttr(0.0f)));
}

Value writeVector(LocBuilder &b, Value vector, Value tensor,
                  ValueRange indices) {
  SmallVector<bool> bounds = {true};
  return vector::TransferWriteOp::create(b, vector, tensor, indices,
                                         ArrayRef<bool>(bounds))
      .getResult();
}

/// base, base + 1, ..., base + count - 1.
SmallVector<Value> consecutiveIndices(LocBuilder &b, Value base,
                                      int64_t count) {
  SmallVector<Value> indices;
  for (int64_t i = 0; i < count; ++i)
    indices.push_back(addIndex(b, base, i));
  return indices;
}

/// Dot products over a contiguous run of `length` elements: returns, for
/// each of `rows` weight rows r and each of `operands` operands j,
/// Σ_k weight(r, k) · operand(j, k) in f32, at r * operands + j.
/// `operand(j, k, inBounds)` and `weight(r, k, inBounds)` read the vectors
/// starting at k (the target's width in f32, or twice as many bf16 with
/// `bf16Dot`, multiplied in pairs); each weight vector is loaded once per
/// step for all operands. The last partial vector is read with inBounds
/// false (masked, zero-padded).
SmallVector<Value>
buildRowDots(LocBuilder &b, int64_t rows, int64_t operands, int64_t length,
             int64_t lanes, bool bf16Dot,
             function_ref<Value(LocBuilder &, int64_t, Value, bool)> operand,
             function_ref<Value(LocBuilder &, int64_t, Value, bool)> weight) {
  auto type = VectorType::get({lanes}, b.getF32Type());
  SmallVector<Value> accumulators(rows * operands, zeroVector(b, type));
  int64_t elementsPerStep = bf16Dot ? 2 * lanes : lanes;
  auto step = [&](LocBuilder &s, Value k, bool inBounds, ValueRange args) {
    SmallVector<Value> xs;
    for (int64_t j = 0; j < operands; ++j)
      xs.push_back(operand(s, j, k, inBounds));
    SmallVector<Value> next;
    for (int64_t r = 0; r < rows; ++r) {
      Value w = weight(s, r, k, inBounds);
      for (int64_t j = 0; j < operands; ++j) {
        Value accumulator = args[r * operands + j];
        next.push_back(bf16Dot
                           ? dotPairs(s, accumulator, w, xs[j])
                           : vector::FMAOp::create(s, w, xs[j], accumulator));
      }
    }
    return next;
  };
  int64_t full = length / elementsPerStep * elementsPerStep;
  if (full > 0)
    accumulators =
        buildSteppedLoop(b, indexConstant(b, 0), indexConstant(b, full),
                         indexConstant(b, elementsPerStep), accumulators,
                         [&](LocBuilder &s, Value k, ValueRange args) {
                           return step(s, k, /*inBounds=*/true, args);
                         });
  if (full < length)
    accumulators =
        step(b, indexConstant(b, full), /*inBounds=*/false, accumulators);
  SmallVector<Value> sums;
  for (Value accumulator : accumulators)
    sums.push_back(vector::ReductionOp::create(b, vector::CombiningKind::ADD,
                                               accumulator,
                                               arith::FastMathFlags::reassoc));
  return sums;
}

/// The same for one operand.
SmallVector<Value>
buildRowDots(LocBuilder &b, int64_t rows, int64_t length, int64_t lanes,
             bool bf16Dot,
             function_ref<Value(LocBuilder &, Value, bool)> operand,
             function_ref<Value(LocBuilder &, int64_t, Value, bool)> weight) {
  return buildRowDots(
      b, rows, 1, length, lanes, bf16Dot,
      [&](LocBuilder &s, int64_t, Value k, bool inBounds) {
        return operand(s, k, inBounds);
      },
      weight);
}

/// act(gate) · up for gated activations, act(up) otherwise.
Value activate(LocBuilder &b, const ExpertFFN &ffn, Value gate, Value up) {
  if (!ffn.gated())
    return buildActivation(b, b.getLoc(), ffn.activation, up);
  Value activated = buildActivation(b, b.getLoc(), ffn.activation, gate);
  return arith::MulFOp::create(b, activated, up);
}

/// The F-tiles [begin, end) a kernel runs.
struct TileRange {
  Value begin;
  Value end;
};

//===----------------------------------------------------------------------===//
// gemv: vectors along the reduction dimension
//===----------------------------------------------------------------------===//

/// One step's vector of a gemv dot product at `indices`: lanes f32, or
/// 2 x lanes bf16 with bf16Dot.
Value readDotOperand(LocBuilder &b, const ExpertFFN &ffn, Value tensor,
                     ValueRange indices, bool inBounds) {
  if (ffn.bf16Dot)
    return readRawVector(b, tensor, indices, 2 * ffn.block.lanes, inBounds);
  return readVector(b, tensor, indices, ffn.block.lanes, inBounds);
}

/// hidden[t, l] for the F-tile rows [f0 + first, f0 + first + count) of
/// each row t of `tokens`: the gate and up dot products of one block of
/// weight rows share each loaded vector of the rows, and each loaded weight
/// vector serves all the tokens.
Value gemvHiddenBlock(LocBuilder &b, const ExpertFFN &ffn, Value rows,
                      ArrayRef<Value> tokens, Value f0, Value first,
                      int64_t count, Value hidden) {
  int64_t matrices = ffn.gated() ? 2 : 1;
  int64_t n = tokens.size();
  SmallVector<Value> weightRows =
      consecutiveIndices(b, addIndex(b, f0, first), count);
  SmallVector<Value> sums = buildRowDots(
      b, matrices * count, n, ffn.model, ffn.block.lanes, ffn.bf16Dot,
      [&](LocBuilder &s, int64_t j, Value k, bool inBounds) {
        return readDotOperand(s, ffn, rows, {tokens[j], k}, inBounds);
      },
      [&](LocBuilder &s, int64_t r, Value k, bool inBounds) {
        Value matrix = r < count && ffn.gated() ? ffn.gate : ffn.up;
        return readDotOperand(s, ffn, matrix,
                              {ffn.expert, weightRows[r % count], k}, inBounds);
      });
  for (int64_t j = 0; j < n; ++j)
    for (int64_t r = 0; r < count; ++r) {
      Value value = ffn.gated() ? activate(b, ffn, sums[r * n + j],
                                           sums[(count + r) * n + j])
                                : activate(b, ffn, Value(), sums[r * n + j]);
      // With bf16Dot the hidden tile is bf16: the down dot products read
      // it in pairs.
      if (ffn.bf16Dot)
        value = arith::TruncFOp::create(b, b.getBF16Type(), value);
      hidden = tensor::InsertOp::create(
          b, value, hidden, ValueRange{tokens[j], addIndex(b, first, r)});
    }
  return hidden;
}

/// out[t, d] += Σ_k down[e, d, f0 + k] · hidden[t, k] for the model rows
/// [first, first + count) and each row t of `tokens`.
Value gemvDownBlock(LocBuilder &b, const ExpertFFN &ffn, int64_t hiddenTile,
                    ArrayRef<Value> tokens, Value f0, Value first,
                    int64_t count, Value hidden, Value out) {
  int64_t n = tokens.size();
  SmallVector<Value> sums = buildRowDots(
      b, count, n, hiddenTile, ffn.block.lanes, ffn.bf16Dot,
      [&](LocBuilder &s, int64_t j, Value k, bool inBounds) {
        return readDotOperand(s, ffn, hidden, {tokens[j], k}, inBounds);
      },
      [&](LocBuilder &s, int64_t r, Value k, bool inBounds) {
        return readDotOperand(
            s, ffn, ffn.down,
            {ffn.expert, addIndex(s, first, r), addIndex(s, f0, k)}, inBounds);
      });
  for (int64_t j = 0; j < n; ++j)
    for (int64_t r = 0; r < count; ++r) {
      SmallVector<Value> at = {tokens[j], addIndex(b, first, r)};
      Value previous = tensor::ExtractOp::create(b, out, at);
      Value sum = arith::AddFOp::create(b, previous, sums[r * n + j]);
      out = tensor::InsertOp::create(b, sum, out, at);
    }
  return out;
}

/// Runs `body` over the rows [0, count) in pairs (each weight vector then
/// serves two rows: two FMAs per load instead of one), then over the last
/// row when `count` is odd.
Value forTokenPairs(
    LocBuilder &b, Value count, Value init,
    function_ref<Value(LocBuilder &, ArrayRef<Value>, Value)> body) {
  Value two = indexConstant(b, 2);
  Value pairs = arith::DivUIOp::create(b, count, two);
  Value paired =
      buildLoop(b, indexConstant(b, 0), pairs, {init},
                [&](LocBuilder &l, Value pair, ValueRange args) {
                  Value token = mulIndex(l, pair, 2);
                  SmallVector<Value> tokens = {token, addIndex(l, token, 1)};
                  return SmallVector<Value>{body(l, tokens, args[0])};
                })[0];
  return buildLoop(b, arith::MulIOp::create(b, pairs, two), count, {paired},
                   [&](LocBuilder &l, Value token, ValueRange args) {
                     return SmallVector<Value>{body(l, {token}, args[0])};
                   })[0];
}

Value buildGemvKernel(LocBuilder &b, const ExpertFFN &ffn, Value rows,
                      Value count, int64_t hiddenTile, TileRange tiles) {
  Type f32 = b.getF32Type();
  Value out =
      filledTensor(b, {count, b.getIndexAttr(ffn.model)}, f32Constant(b, 0.0));
  // The hidden tile of all rows (rows x F-tile), allocated once per expert.
  Type hiddenType = ffn.bf16Dot ? b.getBF16Type() : f32;
  Value hidden0 = bufferization::AllocTensorOp::create(
      b, RankedTensorType::get({ShapedType::kDynamic, hiddenTile}, hiddenType),
      ValueRange{count});
  // Per F-tile: each block of weight rows is loaded for the first row and
  // re-read from L1 for the others (rows innermost), so the expert's
  // weights stream from DRAM once whatever the number of rows.
  return buildLoop(
      b, tiles.begin, tiles.end, {out, hidden0},
      [&](LocBuilder &t, Value tile, ValueRange tileArgs) {
        Value f0 = mulIndex(t, tile, hiddenTile);
        Value hidden = forRowBlocks(
            t, hiddenTile, ffn.block.gemvRows, {tileArgs[1]},
            [&](LocBuilder &s, Value first, int64_t n, ValueRange blockArgs) {
              return SmallVector<Value>{forTokenPairs(
                  s, count, blockArgs[0],
                  [&](LocBuilder &r, ArrayRef<Value> tokens, Value h) {
                    return gemvHiddenBlock(r, ffn, rows, tokens, f0, first, n,
                                           h);
                  })};
            })[0];
        Value updated = forRowBlocks(
            t, ffn.model, ffn.block.gemvRows, {tileArgs[0]},
            [&](LocBuilder &s, Value first, int64_t n, ValueRange blockArgs) {
              return SmallVector<Value>{forTokenPairs(
                  s, count, blockArgs[0],
                  [&](LocBuilder &r, ArrayRef<Value> tokens, Value o) {
                    return gemvDownBlock(r, ffn, hiddenTile, tokens, f0, first,
                                         n, hidden, o);
                  })};
            })[0];
        return SmallVector<Value>{updated, hidden};
      })[0];
}

//===----------------------------------------------------------------------===//
// gemm: vectors along tokens, weights broadcast
//===----------------------------------------------------------------------===//

/// A parallel linalg.generic that copies `source` into `init` along the
/// given maps (over init's loops), converting the elements to `init`'s
/// element type.
Value copyInto(LocBuilder &b, Value source, Value init, AffineMap sourceMap,
               AffineMap initMap) {
  Type target = cast<RankedTensorType>(init.getType()).getElementType();
  SmallVector<utils::IteratorType> parallel(initMap.getNumDims(),
                                            utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, TypeRange{init.getType()}, ValueRange{source}, ValueRange{init},
             SmallVector<AffineMap>{sourceMap, initMap}, parallel,
             [&](OpBuilder &nested, Location loc, ValueRange args) {
               LocBuilder inner(loc, nested);
               linalg::YieldOp::create(
                   inner, ValueRange{convertFloat(inner, args[0], target)});
             })
      .getResult(0);
}

/// `source` ([a, b]) transposed into `init` ([b, a]).
Value transposeInto(LocBuilder &b, Value source, Value init) {
  MLIRContext *context = b.getContext();
  AffineExpr i = getAffineDimExpr(0, context), j = getAffineDimExpr(1, context);
  return copyInto(b, source, init, AffineMap::get(2, 0, {i, j}, context),
                  AffineMap::get(2, 0, {j, i}, context));
}

/// `source` ([tokens, D]) into `init` ([D/2, tokens, 2], bf16) in the pair
/// layout: init[p, t, i] = source[t, 2p + i].
Value pairTransposeInto(LocBuilder &b, Value source, Value init) {
  MLIRContext *context = b.getContext();
  AffineExpr t = getAffineDimExpr(0, context), p = getAffineDimExpr(1, context),
             i = getAffineDimExpr(2, context);
  return copyInto(b, source, init,
                  AffineMap::get(3, 0, {t, p * 2 + i}, context),
                  AffineMap::get(3, 0, {p, t, i}, context));
}

/// The transposition of a square block held as `rows` (n vectors of n
/// 32-bit elements, n a power of two) in log2(n) stages of two-source
/// shuffles (one vpermt2ps each): stage s swaps bit s of the row and the
/// column index of every element.
SmallVector<Value> transposeSquare(LocBuilder &b, SmallVector<Value> rows) {
  int64_t n = rows.size();
  for (int64_t s = 1; s < n; s *= 2) {
    SmallVector<int64_t> low(n), high(n);
    for (int64_t j = 0; j < n; ++j) {
      low[j] = (j & s) == 0 ? j : n + j - s;
      high[j] = (j & s) == 0 ? j + s : n + j;
    }
    for (int64_t i = 0; i < n; ++i) {
      if (i & s)
        continue;
      Value first = rows[i], second = rows[i + s];
      rows[i] = vector::ShuffleOp::create(b, first, second, low);
      rows[i + s] = vector::ShuffleOp::create(b, first, second, high);
    }
  }
  return rows;
}

/// Whether the gemm's transpositions run in square blocks of lanes x lanes
/// 32-bit words (D, or D/2 pairs, a multiple of the lanes), else as
/// linalg.generic copies.
bool hasBlockedTranspositions(const ExpertFFN &ffn) {
  int64_t words = ffn.bf16Dot ? ffn.model / 2 : ffn.model;
  int64_t lanes = ffn.block.lanes;
  return llvm::isPowerOf2_64(lanes) && words % lanes == 0;
}

/// The token tile's rows `first` to `first + tokens` of `rows` ([n, D]),
/// transposed into `init`: [D, tile] in f32, or with bf16Dot the pair
/// layout [D/2, 2 x tile] in bf16 (a pair is one 32-bit word, so this is
/// the same transposition of 32-bit words). Square blocks of lanes x lanes
/// words: lanes row reads, the shuffles of transposeSquare, lanes column
/// writes. The columns of the tokens after `tokens` (to the next multiple
/// of the lanes, all that the register blocks read) are zero.
///
/// (As a linalg.generic, LLVM vectorized the transpositions into scatters,
/// which took 14 % of a bf16 prefill.)
Value transposeRowsBlocked(LocBuilder &b, const ExpertFFN &ffn, Value rows,
                           Value first, Value tokens, Value init) {
  int64_t lanes = ffn.block.lanes;
  int64_t words = ffn.bf16Dot ? ffn.model / 2 : ffn.model;
  Type i32 = b.getI32Type();
  auto wordType = VectorType::get({lanes}, i32);
  auto f32Type = ffn.vectorType(b.getContext());
  Value zeros =
      ffn.bf16Dot
          ? arith::ConstantOp::create(
                b, wordType,
                DenseElementsAttr::get(wordType, b.getI32IntegerAttr(0)))
          : zeroVector(b, f32Type);
  Value lastToken = arith::SubIOp::create(b, tokens, indexConstant(b, 1));
  Value tokenBlocks =
      arith::CeilDivSIOp::create(b, tokens, indexConstant(b, lanes));
  return buildLoop(
      b, indexConstant(b, 0), tokenBlocks, {init},
      [&](LocBuilder &tb, Value tokenBlock, ValueRange tbArgs) {
        Value t0 = mulIndex(tb, tokenBlock, lanes);
        return buildLoop(
            tb, indexConstant(tb, 0), indexConstant(tb, words / lanes), tbArgs,
            [&](LocBuilder &cb, Value columnBlock, ValueRange cbArgs) {
              Value c0 = mulIndex(cb, columnBlock, lanes);
              SmallVector<Value> block;
              for (int64_t i = 0; i < lanes; ++i) {
                Value token = addIndex(cb, t0, i);
                Value valid = arith::CmpIOp::create(
                    cb, arith::CmpIPredicate::slt, token, tokens);
                Value row = addIndex(
                    cb, first, arith::MinSIOp::create(cb, token, lastToken));
                Value vector;
                if (ffn.bf16Dot)
                  vector = vector::BitCastOp::create(
                      cb, wordType,
                      readRawVector(cb, rows, {row, mulIndex(cb, c0, 2)},
                                    2 * lanes, /*inBounds=*/true));
                else
                  vector = readVector(cb, rows, {row, c0}, lanes,
                                      /*inBounds=*/true);
                block.push_back(
                    arith::SelectOp::create(cb, valid, vector, zeros));
              }
              block = transposeSquare(cb, block);
              Value result = cbArgs[0];
              for (int64_t i = 0; i < lanes; ++i) {
                Value vector = block[i];
                Value column = t0;
                if (ffn.bf16Dot) {
                  vector = vector::BitCastOp::create(
                      cb, VectorType::get({2 * lanes}, cb.getBF16Type()),
                      vector);
                  column = mulIndex(cb, t0, 2);
                }
                result = writeVector(cb, vector, result,
                                     {addIndex(cb, c0, i), column});
              }
              return SmallVector<Value>{result};
            });
      })[0];
}

/// The tile's results back to one row per token: rows `first` to `first +
/// tokens` of `out` ([n, D] f32) from `transposed` ([D, tile] f32), in
/// square blocks as transposeRowsBlocked (a padding token's row is not
/// written).
Value transposeBackBlocked(LocBuilder &b, const ExpertFFN &ffn,
                           Value transposed, Value first, Value tokens,
                           Value out) {
  int64_t lanes = ffn.block.lanes;
  Value tokenBlocks =
      arith::CeilDivSIOp::create(b, tokens, indexConstant(b, lanes));
  return buildLoop(
      b, indexConstant(b, 0), tokenBlocks, {out},
      [&](LocBuilder &tb, Value tokenBlock, ValueRange tbArgs) {
        Value t0 = mulIndex(tb, tokenBlock, lanes);
        return buildLoop(
            tb, indexConstant(tb, 0), indexConstant(tb, ffn.model / lanes),
            tbArgs, [&](LocBuilder &cb, Value columnBlock, ValueRange cbArgs) {
              Value c0 = mulIndex(cb, columnBlock, lanes);
              SmallVector<Value> block;
              for (int64_t i = 0; i < lanes; ++i)
                block.push_back(readVector(cb, transposed,
                                           {addIndex(cb, c0, i), t0}, lanes,
                                           /*inBounds=*/true));
              block = transposeSquare(cb, block);
              Value result = cbArgs[0];
              for (int64_t i = 0; i < lanes; ++i) {
                Value token = addIndex(cb, t0, i);
                Value valid = arith::CmpIOp::create(
                    cb, arith::CmpIPredicate::slt, token, tokens);
                result = buildIf(
                    cb, valid, {result.getType()},
                    [&](LocBuilder &w) {
                      return SmallVector<Value>{
                          writeVector(w, block[i], result,
                                      {addIndex(w, first, token), c0})};
                    },
                    [&](LocBuilder &) {
                      return SmallVector<Value>{result};
                    })[0];
              }
              return SmallVector<Value>{result};
            });
      })[0];
}

/// The body of one register block of tokens: gets the first token of each
/// of its vectors and the iter_arg, returns the updated iter_arg.
using TokenBlockBody =
    function_ref<Value(LocBuilder &, ArrayRef<Value> columns, Value)>;

/// A run of register blocks of tokens (lanes x tokenVectors each) within a
/// token tile: `count` blocks from token `start`.
struct TokenBlocks {
  Value start;
  Value count;
};

/// Runs `body` over the register blocks of `blocks`, threading `init`.
Value forTokenBlocks(LocBuilder &b, const ExpertFFN &ffn, TokenBlocks blocks,
                     Value init, TokenBlockBody body) {
  const ExpertRegisterBlock &block = ffn.block;
  int64_t blockTokens = block.lanes * block.tokenVectors;
  return buildLoop(b, indexConstant(b, 0), blocks.count, {init},
                   [&](LocBuilder &t, Value tokenBlock, ValueRange args) {
                     Value t0 = addIndex(t, blocks.start,
                                         mulIndex(t, tokenBlock, blockTokens));
                     SmallVector<Value> columns;
                     for (int64_t j = 0; j < block.tokenVectors; ++j)
                       columns.push_back(addIndex(t, t0, j * block.lanes));
                     return SmallVector<Value>{body(t, columns, args[0])};
                   })[0];
}

/// The gemm's operands at reduction step `step` (an index): the vector of
/// tokens from `column` of a transposed tile, and a weight element of
/// `matrix` at `indices` (the reduction index last) broadcast to all lanes.
/// With bf16Dot a step covers a pair of reduction indices: the tile is
/// read in its pair layout and the weight pair is broadcast.
Value readTokenVector(LocBuilder &b, const ExpertFFN &ffn, Value tile,
                      Value step, Value column) {
  if (ffn.bf16Dot)
    return readRawVector(b, tile, {step, mulIndex(b, column, 2)},
                         2 * ffn.block.lanes, /*inBounds=*/true);
  return readVector(b, tile, {step, column}, ffn.block.lanes,
                    /*inBounds=*/true);
}
Value broadcastWeight(LocBuilder &b, const ExpertFFN &ffn, Value matrix,
                      Value expert, Value row, Value step) {
  if (ffn.bf16Dot)
    return broadcastPair(b, matrix, {expert, row, mulIndex(b, step, 2)},
                         ffn.block.lanes);
  return broadcastElement(b, matrix, {expert, row, step},
                          ffn.vectorType(b.getContext()));
}
/// accumulator + weight · tokens (one FMA, or vdpbf16ps on pairs).
Value multiplyAdd(LocBuilder &b, const ExpertFFN &ffn, Value weight,
                  Value tokens, Value accumulator) {
  if (ffn.bf16Dot)
    return dotPairs(b, accumulator, weight, tokens);
  return vector::FMAOp::create(b, weight, tokens, accumulator);
}

/// The hidden tile rows [first, first + count) for all tokens of the tile:
/// hidden[l, t] = act(Σ_d gate[e, f0 + l, d] · xt[d, t]) · (same for up).
Value gemmHiddenBlock(LocBuilder &b, const ExpertFFN &ffn, TokenBlocks blocks,
                      Value transposedRows, Value f0, Value first,
                      int64_t count, Value hidden) {
  const ExpertRegisterBlock &block = ffn.block;
  VectorType vectorType = ffn.vectorType(b.getContext());
  int64_t matrices = ffn.gated() ? 2 : 1;
  int64_t steps = ffn.bf16Dot ? ffn.model / 2 : ffn.model;
  SmallVector<Value> weightRows =
      consecutiveIndices(b, addIndex(b, f0, first), count);
  return forTokenBlocks(
      b, ffn, blocks, hidden,
      [&](LocBuilder &t, ArrayRef<Value> columns, Value result) {
        // accumulators[(m * count + r) * tokenVectors + j].
        SmallVector<Value> zeros(matrices * count * block.tokenVectors,
                                 zeroVector(t, vectorType));
        SmallVector<Value> sums = buildLoop(
            t, indexConstant(t, 0), indexConstant(t, steps), zeros,
            [&](LocBuilder &s, Value d, ValueRange acc) {
              SmallVector<Value> tokens;
              for (Value column : columns)
                tokens.push_back(
                    readTokenVector(s, ffn, transposedRows, d, column));
              SmallVector<Value> next(acc);
              for (int64_t m = 0; m < matrices; ++m) {
                Value matrix = m == 0 && ffn.gated() ? ffn.gate : ffn.up;
                for (int64_t r = 0; r < count; ++r) {
                  Value weight = broadcastWeight(s, ffn, matrix, ffn.expert,
                                                 weightRows[r], d);
                  for (int64_t j = 0; j < block.tokenVectors; ++j) {
                    int64_t at = (m * count + r) * block.tokenVectors + j;
                    next[at] = multiplyAdd(s, ffn, weight, tokens[j], next[at]);
                  }
                }
              }
              return next;
            });
        SmallVector<Value> values;
        for (int64_t r = 0; r < count; ++r)
          for (int64_t j = 0; j < block.tokenVectors; ++j) {
            Value gate = sums[r * block.tokenVectors + j];
            values.push_back(
                ffn.gated()
                    ? activate(t, ffn, gate,
                               sums[(count + r) * block.tokenVectors + j])
                    : activate(t, ffn, Value(), gate));
          }
        if (!ffn.bf16Dot) {
          for (int64_t r = 0; r < count; ++r)
            for (int64_t j = 0; j < block.tokenVectors; ++j)
              result = writeVector(t, values[r * block.tokenVectors + j],
                                   result, {addIndex(t, first, r), columns[j]});
          return result;
        }
        // Pair layout: rows 2q and 2q + 1 (first and count are even)
        // interleave into row q, each token's two values side by side.
        Value firstPair = arith::DivUIOp::create(t, first, indexConstant(t, 2));
        for (int64_t r = 0; r < count; r += 2)
          for (int64_t j = 0; j < block.tokenVectors; ++j) {
            Value pairs = vector::InterleaveOp::create(
                t, values[r * block.tokenVectors + j],
                values[(r + 1) * block.tokenVectors + j]);
            result = writeVector(
                t, toBf16(t, pairs), result,
                {addIndex(t, firstPair, r / 2), mulIndex(t, columns[j], 2)});
          }
        return result;
      });
}

/// The transposed output rows [first, first + count) += Σ_k down[e, d,
/// f0 + k] · hidden[k, t] for all tokens of the tile.
Value gemmDownBlock(LocBuilder &b, const ExpertFFN &ffn, int64_t hiddenTile,
                    TokenBlocks blocks, Value hidden, Value f0, Value first,
                    int64_t count, Value transposedOut) {
  const ExpertRegisterBlock &block = ffn.block;
  SmallVector<Value> modelRows = consecutiveIndices(b, first, count);
  return forTokenBlocks(
      b, ffn, blocks, transposedOut,
      [&](LocBuilder &t, ArrayRef<Value> columns, Value result) {
        SmallVector<Value> initial;
        for (int64_t r = 0; r < count; ++r)
          for (Value column : columns)
            initial.push_back(readVector(t, result, {modelRows[r], column},
                                         block.lanes, /*inBounds=*/true));
        int64_t steps = ffn.bf16Dot ? hiddenTile / 2 : hiddenTile;
        // The F-tile's first column of down in reduction steps.
        Value f0Step = ffn.bf16Dot
                           ? arith::DivUIOp::create(t, f0, indexConstant(t, 2))
                           : f0;
        SmallVector<Value> sums =
            buildLoop(t, indexConstant(t, 0), indexConstant(t, steps), initial,
                      [&](LocBuilder &s, Value k, ValueRange acc) {
                        SmallVector<Value> hiddenVectors;
                        for (Value column : columns)
                          hiddenVectors.push_back(
                              readTokenVector(s, ffn, hidden, k, column));
                        Value f = addIndex(s, f0Step, k);
                        SmallVector<Value> next(acc);
                        for (int64_t r = 0; r < count; ++r) {
                          Value weight = broadcastWeight(
                              s, ffn, ffn.down, ffn.expert, modelRows[r], f);
                          for (int64_t j = 0; j < block.tokenVectors; ++j) {
                            int64_t at = r * block.tokenVectors + j;
                            next[at] = multiplyAdd(s, ffn, weight,
                                                   hiddenVectors[j], next[at]);
                          }
                        }
                        return next;
                      });
        for (int64_t r = 0; r < count; ++r)
          for (int64_t j = 0; j < block.tokenVectors; ++j)
            result = writeVector(t, sums[r * block.tokenVectors + j], result,
                                 {modelRows[r], columns[j]});
        return result;
      });
}

Value buildGemmKernel(LocBuilder &b, const ExpertFFN &ffn, Value rows,
                      Value count, int64_t hiddenTile, int64_t tokenTile,
                      TileRange hiddenTiles) {
  Type f32 = b.getF32Type();
  OpFoldResult model = b.getIndexAttr(ffn.model);
  Value zero = f32Constant(b, 0.0);
  Value out = filledTensor(b, {count, model}, zero);
  // The tile buffers live across the loops (iter_args), so bufferization
  // allocates each once per expert. bufferization.alloc_tensor, not
  // tensor.empty: CSE would merge equal empty tensors into one, and the
  // three buffers would then alias.
  auto tileBuffer = [&](ArrayRef<int64_t> shape, Type element) -> Value {
    return bufferization::AllocTensorOp::create(
        b, RankedTensorType::get(shape, element), ValueRange{});
  };
  // With bf16Dot the rows and the hidden tile are bf16 in the pair layout
  // ([K/2, 2 x tile]).
  Type bf16 = b.getBF16Type();
  Value transposedRows0 = ffn.bf16Dot
                              ? tileBuffer({ffn.model / 2, 2 * tokenTile}, bf16)
                              : tileBuffer({ffn.model, tokenTile}, f32);
  Value transposedOut0 = tileBuffer({ffn.model, tokenTile}, f32);
  Value hidden0 = ffn.bf16Dot
                      ? tileBuffer({hiddenTile / 2, 2 * tokenTile}, bf16)
                      : tileBuffer({hiddenTile, tokenTile}, f32);
  Value tiles =
      arith::CeilDivSIOp::create(b, count, indexConstant(b, tokenTile));
  return buildLoop(
      b, indexConstant(b, 0), tiles,
      {out, transposedRows0, transposedOut0, hidden0},
      [&](LocBuilder &t, Value tile, ValueRange args) {
        Value r0 = mulIndex(t, tile, tokenTile);
        Value tokens =
            arith::MinSIOp::create(t, indexConstant(t, tokenTile),
                                   arith::SubIOp::create(t, count, r0));
        // The tile's rows, transposed to D x tile in f32 (or to the bf16
        // pair layout); the padding tokens are zero (their results are
        // never written back).
        Value transposedRows = args[1];
        if (hasBlockedTranspositions(ffn)) {
          transposedRows =
              transposeRowsBlocked(t, ffn, rows, r0, tokens, transposedRows);
        } else {
          transposedRows =
              linalg::FillOp::create(
                  t,
                  ValueRange{ffn.bf16Dot ? floatConstant(t, bf16, 0.0) : zero},
                  ValueRange{transposedRows})
                  .getResult(0);
          SmallVector<OpFoldResult> origin = {t.getIndexAttr(0),
                                              t.getIndexAttr(0)};
          SmallVector<OpFoldResult> unit = {t.getIndexAttr(1),
                                            t.getIndexAttr(1)};
          Value source = tensor::ExtractSliceOp::create(
              t, rows, ArrayRef<OpFoldResult>{r0, t.getIndexAttr(0)},
              ArrayRef<OpFoldResult>{tokens, model}, unit);
          if (ffn.bf16Dot) {
            // [D/2, 2 x tile] viewed as [D/2, tile, 2] for the generic.
            auto pairsType =
                RankedTensorType::get({ffn.model / 2, tokenTile, 2}, bf16);
            SmallVector<ReassociationIndices> pairing = {{0}, {1, 2}};
            Value expanded = tensor::ExpandShapeOp::create(
                t, pairsType, transposedRows, pairing);
            SmallVector<OpFoldResult> offsets(3, t.getIndexAttr(0));
            SmallVector<OpFoldResult> sizes = {t.getIndexAttr(ffn.model / 2),
                                               tokens, t.getIndexAttr(2)};
            SmallVector<OpFoldResult> strides(3, t.getIndexAttr(1));
            Value destination = tensor::ExtractSliceOp::create(
                t, expanded, offsets, sizes, strides);
            expanded = tensor::InsertSliceOp::create(
                t, pairTransposeInto(t, source, destination), expanded, offsets,
                sizes, strides);
            transposedRows =
                tensor::CollapseShapeOp::create(t, expanded, pairing);
          } else {
            Value destination = tensor::ExtractSliceOp::create(
                t, transposedRows, origin,
                ArrayRef<OpFoldResult>{model, tokens}, unit);
            transposedRows = tensor::InsertSliceOp::create(
                t, transposeInto(t, source, destination), transposedRows,
                origin, ArrayRef<OpFoldResult>{model, tokens}, unit);
          }
        }
        Value transposedOut =
            linalg::FillOp::create(t, ValueRange{zero}, ValueRange{args[2]})
                .getResult(0);

        // The register blocks that cover the tile's tokens: whole blocks
        // while more than one vector of tokens is left, then a one-vector
        // block (narrow) for a last vector, so that no block is mostly
        // padding and no block is wholly padding.
        int64_t blockTokens = ffn.block.lanes * ffn.block.tokenVectors;
        ExpertFFN narrow = ffn;
        narrow.block.tokenVectors = 1;
        bool hasNarrow = ffn.block.tokenVectors > 1;
        Value zeroIndex = indexConstant(t, 0);
        Value oneIndex = indexConstant(t, 1);
        TokenBlocks wide{zeroIndex, Value()};
        TokenBlocks last{zeroIndex, zeroIndex};
        if (hasNarrow) {
          Value full =
              arith::DivSIOp::create(t, tokens, indexConstant(t, blockTokens));
          Value start = mulIndex(t, full, blockTokens);
          Value rest = arith::SubIOp::create(t, tokens, start);
          Value lanes = indexConstant(t, ffn.block.lanes);
          Value restIsWide =
              arith::CmpIOp::create(t, arith::CmpIPredicate::sgt, rest, lanes);
          Value restIsNarrow = arith::AndIOp::create(
              t,
              arith::CmpIOp::create(t, arith::CmpIPredicate::sle, rest, lanes),
              arith::CmpIOp::create(t, arith::CmpIPredicate::sgt, rest,
                                    zeroIndex));
          wide.count = addIndex(
              t, full,
              arith::SelectOp::create(t, restIsWide, oneIndex, zeroIndex));
          last = {start, arith::SelectOp::create(t, restIsNarrow, oneIndex,
                                                 zeroIndex)};
        }

        // gate, up, activation and down, one F-tile at a time.
        SmallVector<Value> tileResults = buildLoop(
            t, hiddenTiles.begin, hiddenTiles.end, {transposedOut, args[3]},
            [&](LocBuilder &h, Value hiddenIndex, ValueRange hArgs) {
              Value f0 = mulIndex(h, hiddenIndex, hiddenTile);
              Value hidden = forRowBlocks(
                  h, hiddenTile, ffn.block.hiddenRows, {hArgs[1]},
                  [&](LocBuilder &s, Value first, int64_t n,
                      ValueRange blockArgs) {
                    Value result = gemmHiddenBlock(s, ffn, wide, transposedRows,
                                                   f0, first, n, blockArgs[0]);
                    if (hasNarrow)
                      result = gemmHiddenBlock(s, narrow, last, transposedRows,
                                               f0, first, n, result);
                    return SmallVector<Value>{result};
                  })[0];
              Value updated = forRowBlocks(
                  h, ffn.model, ffn.block.modelRows, {hArgs[0]},
                  [&](LocBuilder &s, Value first, int64_t n,
                      ValueRange blockArgs) {
                    Value result =
                        gemmDownBlock(s, ffn, hiddenTile, wide, hidden, f0,
                                      first, n, blockArgs[0]);
                    if (hasNarrow)
                      result = gemmDownBlock(s, narrow, hiddenTile, last,
                                             hidden, f0, first, n, result);
                    return SmallVector<Value>{result};
                  })[0];
              return SmallVector<Value>{updated, hidden};
            });
        // Back to one row per token.
        Value updatedOut;
        if (llvm::isPowerOf2_64(ffn.block.lanes) &&
            ffn.model % ffn.block.lanes == 0) {
          updatedOut =
              transposeBackBlocked(t, ffn, tileResults[0], r0, tokens, args[0]);
        } else {
          Value results = tensor::ExtractSliceOp::create(
              t, tileResults[0],
              ArrayRef<OpFoldResult>{t.getIndexAttr(0), t.getIndexAttr(0)},
              ArrayRef<OpFoldResult>{model, tokens},
              ArrayRef<OpFoldResult>{t.getIndexAttr(1), t.getIndexAttr(1)});
          Value outRows = tensor::ExtractSliceOp::create(
              t, args[0], ArrayRef<OpFoldResult>{r0, t.getIndexAttr(0)},
              ArrayRef<OpFoldResult>{tokens, model},
              ArrayRef<OpFoldResult>{t.getIndexAttr(1), t.getIndexAttr(1)});
          updatedOut = tensor::InsertSliceOp::create(
              t, transposeInto(t, results, outRows), args[0],
              ArrayRef<OpFoldResult>{r0, t.getIndexAttr(0)},
              ArrayRef<OpFoldResult>{tokens, model},
              ArrayRef<OpFoldResult>{t.getIndexAttr(1), t.getIndexAttr(1)});
        }
        return SmallVector<Value>{updatedOut, transposedRows, tileResults[0],
                                  tileResults[1]};
      })[0];
}

/// Whether the dot products of `vector` with rows of `matrix` multiply
/// bf16 pairs with vdpbf16ps: both bf16 and the target has it.
bool matvecUsesBf16Dot(const ExpertRegisterBlock &block, Value vector,
                       Value matrix) {
  return block.bf16Dot && getElementTypeOrSelf(matrix.getType()).isBF16() &&
         getElementTypeOrSelf(vector.getType()).isBF16();
}

/// One step's vector of such a dot product at `indices`: `lanes` f32, or
/// 2 x lanes bf16 with bf16Dot.
Value readMatvecOperand(LocBuilder &b, Value tensor, ValueRange indices,
                        int64_t lanes, bool bf16Dot, bool inBounds) {
  if (bf16Dot)
    return readRawVector(b, tensor, indices, 2 * lanes, inBounds);
  return readVector(b, tensor, indices, lanes, inBounds);
}

/// The F-tile the kernels use: `requested` rounded to a multiple of the
/// vector width that divides F (so that no tile has a tail), or all of F
/// when F is not a multiple of the vector width.
int64_t normalizeHiddenTile(int64_t requested, int64_t hidden, int64_t lanes) {
  if (hidden % lanes != 0)
    return hidden;
  int64_t tile =
      std::clamp<int64_t>(requested - requested % lanes, lanes, hidden);
  while (hidden % tile != 0)
    tile -= lanes;
  return tile;
}

} // namespace

/// The F-tile of `op`'s kernels under `tiling`.
static int64_t kernelHiddenTile(ExpertsOp op, ExpertTilingAttr tiling) {
  auto upType = op.getUpProj().getType();
  return normalizeHiddenTile(
      static_cast<int64_t>(tiling.getHiddenTile()), upType.getDimSize(1),
      getExpertRegisterBlock(getTargetOrHostDefault(op)).lanes);
}

/// The dot products of each of `vectors` with every row of `matrix`,
/// inserted into `out` at position(j, row) for vector j: gemvRows rows a
/// pass, each loaded weight vector serving all the vectors.
static Value buildMatvecsInto(
    LocBuilder &b, ArrayRef<Value> vectors, Value matrix, TargetAttr target,
    Value out,
    function_ref<SmallVector<Value>(LocBuilder &, int64_t, Value)> position) {
  ExpertRegisterBlock block = getExpertRegisterBlock(target);
  auto matrixType = cast<RankedTensorType>(matrix.getType());
  int64_t rows = matrixType.getDimSize(0), length = matrixType.getDimSize(1);
  int64_t operands = vectors.size();
  bool bf16Dot = llvm::all_of(vectors, [&](Value vector) {
    return matvecUsesBf16Dot(block, vector, matrix);
  });
  int64_t lanes = block.lanes;
  auto read = [&](LocBuilder &s, Value tensor, ValueRange indices,
                  bool inBounds) {
    return readMatvecOperand(s, tensor, indices, lanes, bf16Dot, inBounds);
  };
  return forRowBlocks(
      b, rows, block.gemvRows, {out},
      [&](LocBuilder &s, Value first, int64_t count, ValueRange args) {
        SmallVector<Value> sums = buildRowDots(
            s, count, operands, length, lanes, bf16Dot,
            [&](LocBuilder &r, int64_t j, Value k, bool inBounds) {
              return read(r, vectors[j], {k}, inBounds);
            },
            [&](LocBuilder &r, int64_t row, Value k, bool inBounds) {
              return read(r, matrix, {addIndex(r, first, row), k}, inBounds);
            });
        Value result = args[0];
        for (int64_t row = 0; row < count; ++row)
          for (int64_t j = 0; j < operands; ++j)
            result = tensor::InsertOp::create(
                s, sums[row * operands + j], result,
                position(s, j, addIndex(s, first, row)));
        return SmallVector<Value>{result};
      })[0];
}

Value mlir::moe::lowering::buildVectorMatvec(LocBuilder &b, Value vector,
                                             Value matrix, TargetAttr target) {
  int64_t rows = cast<RankedTensorType>(matrix.getType()).getDimSize(0);
  Value out = bufferization::AllocTensorOp::create(
      b, RankedTensorType::get({rows}, b.getF32Type()), ValueRange{});
  return buildMatvecsInto(
      b, {vector}, matrix, target, out,
      [](LocBuilder &, int64_t, Value row) { return SmallVector<Value>{row}; });
}

Value mlir::moe::lowering::buildBatchedMatvec(LocBuilder &b,
                                              ArrayRef<Value> vectors,
                                              Value matrix, TargetAttr target) {
  int64_t rows = cast<RankedTensorType>(matrix.getType()).getDimSize(0);
  int64_t count = vectors.size();
  Value out = bufferization::AllocTensorOp::create(
      b, RankedTensorType::get({count, rows}, b.getF32Type()), ValueRange{});
  return buildMatvecsInto(b, vectors, matrix, target, out,
                          [](LocBuilder &s, int64_t j, Value row) {
                            return SmallVector<Value>{indexConstant(s, j), row};
                          });
}

SmallVector<Value>
mlir::moe::lowering::buildGatheredRowDots(LocBuilder &b, Value vector,
                                          Value matrix, ArrayRef<Value> rows,
                                          TargetAttr target) {
  ExpertRegisterBlock block = getExpertRegisterBlock(target);
  auto matrixType = cast<RankedTensorType>(matrix.getType());
  int64_t length = matrixType.getDimSize(1);
  bool bf16Dot = matvecUsesBf16Dot(block, vector, matrix);
  int64_t lanes = block.lanes;
  auto read = [&](LocBuilder &s, Value tensor, ValueRange indices,
                  bool inBounds) {
    return readMatvecOperand(s, tensor, indices, lanes, bf16Dot, inBounds);
  };
  return buildRowDots(
      b, rows.size(), length, lanes, bf16Dot,
      [&](LocBuilder &r, Value k, bool inBounds) {
        return read(r, vector, {k}, inBounds);
      },
      [&](LocBuilder &r, int64_t row, Value k, bool inBounds) {
        return read(r, matrix, {rows[row], k}, inBounds);
      });
}

Value mlir::moe::lowering::buildGatheredRowCombination(
    LocBuilder &b, Value accumulator, Value matrix, ArrayRef<Value> rows,
    ArrayRef<Value> coefficients, TargetAttr target) {
  int64_t lanes = getExpertRegisterBlock(target).lanes;
  int64_t length = cast<RankedTensorType>(matrix.getType()).getDimSize(1);
  auto vectorType = VectorType::get({lanes}, b.getF32Type());
  SmallVector<Value> scales;
  for (Value coefficient : coefficients)
    scales.push_back(vector::BroadcastOp::create(b, vectorType, coefficient));
  // `vectors` consecutive vectors from element k: each its own chain of
  // FMAs over the rows in order (the sum of each element keeps the order
  // of the rows).
  auto step = [&](LocBuilder &s, Value k, int64_t vectors, bool inBounds,
                  Value into) {
    SmallVector<Value> sums, at;
    for (int64_t v = 0; v < vectors; ++v) {
      at.push_back(addIndex(s, k, v * lanes));
      sums.push_back(readVector(s, into, {at[v]}, lanes, inBounds));
    }
    for (auto [row, scale] : llvm::zip_equal(rows, scales))
      for (int64_t v = 0; v < vectors; ++v)
        sums[v] = vector::FMAOp::create(
            s, scale, readVector(s, matrix, {row, at[v]}, lanes, inBounds),
            sums[v]);
    for (int64_t v = 0; v < vectors; ++v) {
      SmallVector<bool> bounds = {inBounds};
      into = vector::TransferWriteOp::create(s, sums[v], into, at[v],
                                             ArrayRef<bool>(bounds))
                 .getResult();
    }
    return into;
  };
  // Eight vectors a step: eight independent chains keep the FMA units busy
  // (latency 4, two a cycle); then single vectors, then a masked tail.
  constexpr int64_t chains = 8;
  int64_t wide = length / (chains * lanes) * chains * lanes;
  int64_t full = length / lanes * lanes;
  Value result = accumulator;
  if (wide > 0)
    result = buildSteppedLoop(b, indexConstant(b, 0), indexConstant(b, wide),
                              indexConstant(b, chains * lanes), {result},
                              [&](LocBuilder &s, Value k, ValueRange args) {
                                return SmallVector<Value>{step(
                                    s, k, chains, /*inBounds=*/true, args[0])};
                              })[0];
  if (full > wide)
    result = buildSteppedLoop(b, indexConstant(b, wide), indexConstant(b, full),
                              indexConstant(b, lanes), {result},
                              [&](LocBuilder &s, Value k, ValueRange args) {
                                return SmallVector<Value>{
                                    step(s, k, 1, /*inBounds=*/true, args[0])};
                              })[0];
  if (full < length)
    result = step(b, indexConstant(b, full), 1, /*inBounds=*/false, result);
  return result;
}

namespace {

/// A splat i32 vector of `lanes` lanes.
Value i32Splat(LocBuilder &b, int64_t lanes, int32_t value) {
  auto type = VectorType::get({lanes}, b.getI32Type());
  return arith::ConstantOp::create(
      b, type, DenseElementsAttr::get(type, b.getI32IntegerAttr(value)));
}

/// The top-k ranking keys of a vector of f32 as i32 that order like the
/// values: NaN is taken as -inf (DESIGN.md 3.1) and -0.0 as +0.0, then a
/// negative value's magnitude bits are flipped, so that a signed integer
/// comparison ranks them as the float comparison does.
Value rankingKeys(LocBuilder &b, Value values) {
  auto type = cast<VectorType>(values.getType());
  int64_t lanes = type.getDimSize(0);
  auto splat = [&](float value) -> Value {
    return arith::ConstantOp::create(
        b, type, DenseElementsAttr::get(type, b.getF32FloatAttr(value)));
  };
  Value isNan =
      arith::CmpFOp::create(b, arith::CmpFPredicate::UNO, values, values);
  values = arith::SelectOp::create(
      b, isNan, splat(-std::numeric_limits<float>::infinity()), values);
  Value isZero =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, values, splat(0.0f));
  values = arith::SelectOp::create(b, isZero, splat(0.0f), values);
  Value bits = vector::BitCastOp::create(
      b, VectorType::get({lanes}, b.getI32Type()), values);
  Value negative = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, bits,
                                         i32Splat(b, lanes, 0));
  Value flipped =
      arith::XOrIOp::create(b, bits, i32Splat(b, lanes, 0x7fffffff));
  return arith::SelectOp::create(b, negative, flipped, bits);
}

} // namespace

std::pair<Value, Value>
mlir::moe::lowering::buildVectorTopK(LocBuilder &b, Value row, int64_t k,
                                     Type indexType, TargetAttr target) {
  auto rowType = cast<RankedTensorType>(row.getType());
  int64_t length = rowType.getDimSize(0);
  int64_t lanes = getExpertRegisterBlock(target).lanes;
  int64_t padded = llvm::divideCeil(length, lanes) * lanes;
  Type i32 = b.getI32Type();
  auto keyVectorType = VectorType::get({lanes}, i32);
  // Below every key: the padding lanes, and each entry once picked.
  int32_t removed = std::numeric_limits<int32_t>::min();

  // The keys, once: a row of N entries costs k vector scans of N / lanes
  // compares, where the scalar form paid k * N compare-and-select chains.
  Value keys = bufferization::AllocTensorOp::create(
      b, RankedTensorType::get({padded}, i32), ValueRange{});
  auto writeKeys = [&](LocBuilder &s, Value base, bool inBounds, Value into) {
    Value key = rankingKeys(s, readVector(s, row, {base}, lanes, inBounds));
    if (!inBounds) {
      // Only the static last block reads past the row.
      int64_t valid = length % lanes;
      SmallVector<bool> mask(lanes, false);
      std::fill(mask.begin(), mask.begin() + valid, true);
      auto maskType = VectorType::get({lanes}, s.getI1Type());
      Value inRow = arith::ConstantOp::create(
          s, maskType, DenseElementsAttr::get(maskType, ArrayRef<bool>(mask)));
      key = arith::SelectOp::create(s, inRow, key, i32Splat(s, lanes, removed));
    }
    return writeVector(s, key, into, {base});
  };
  int64_t full = length / lanes * lanes;
  if (full > 0)
    keys = buildSteppedLoop(b, indexConstant(b, 0), indexConstant(b, full),
                            indexConstant(b, lanes), {keys},
                            [&](LocBuilder &s, Value base, ValueRange args) {
                              return SmallVector<Value>{writeKeys(
                                  s, base, /*inBounds=*/true, args[0])};
                            })[0];
  if (full < length)
    keys = writeKeys(b, indexConstant(b, full), /*inBounds=*/false, keys);

  SmallVector<int32_t> laneNumbers;
  for (int64_t lane = 0; lane < lanes; ++lane)
    laneNumbers.push_back(static_cast<int32_t>(lane));
  Value laneIndices = arith::ConstantOp::create(
      b, keyVectorType,
      DenseElementsAttr::get(keyVectorType, ArrayRef<int32_t>(laneNumbers)));
  Value values = emptyTensor(b, {b.getIndexAttr(k)}, rowType.getElementType());
  Value indices = emptyTensor(b, {b.getIndexAttr(k)}, indexType);
  SmallVector<Value> picked = buildLoop(
      b, indexConstant(b, 0), indexConstant(b, k), {keys, values, indices},
      [&](LocBuilder &l, Value pass, ValueRange args) {
        // Each lane keeps its best key and, on ties, its earliest index
        // (a strict compare over increasing positions).
        SmallVector<Value> best = buildSteppedLoop(
            l, indexConstant(l, 0), indexConstant(l, padded),
            indexConstant(l, lanes),
            {i32Splat(l, lanes, removed), i32Splat(l, lanes, 0)},
            [&](LocBuilder &s, Value base, ValueRange bestArgs) {
              Value padding = arith::ConstantOp::create(
                  s, i32, s.getI32IntegerAttr(removed));
              SmallVector<bool> bounds = {true};
              Value key = vector::TransferReadOp::create(
                  s, keyVectorType, args[0], ValueRange{base}, padding,
                  ArrayRef<bool>(bounds));
              Value position = arith::AddIOp::create(
                  s, laneIndices,
                  vector::BroadcastOp::create(
                      s, keyVectorType,
                      arith::IndexCastOp::create(s, i32, base)));
              Value better = arith::CmpIOp::create(s, arith::CmpIPredicate::sgt,
                                                   key, bestArgs[0]);
              return SmallVector<Value>{
                  arith::SelectOp::create(s, better, key, bestArgs[0]),
                  arith::SelectOp::create(s, better, position, bestArgs[1])};
            });
        // The best key over the lanes, then the earliest index holding it.
        Value bestKey = vector::ReductionOp::create(
            l, vector::CombiningKind::MAXSI, best[0]);
        Value holds = arith::CmpIOp::create(
            l, arith::CmpIPredicate::eq, best[0],
            vector::BroadcastOp::create(l, keyVectorType, bestKey));
        Value candidates = arith::SelectOp::create(
            l, holds, best[1],
            i32Splat(l, lanes, std::numeric_limits<int32_t>::max()));
        Value winner = vector::ReductionOp::create(
            l, vector::CombiningKind::MINSI, candidates);
        Value position =
            arith::IndexCastOp::create(l, l.getIndexType(), winner);
        Value newKeys = tensor::InsertOp::create(
            l, arith::ConstantOp::create(l, i32, l.getI32IntegerAttr(removed)),
            args[0], ValueRange{position});
        Value value = tensor::ExtractOp::create(l, row, ValueRange{position});
        Value stored = indexType.isIndex()
                           ? position
                           : (indexType == i32
                                  ? winner
                                  : arith::ExtUIOp::create(l, indexType, winner)
                                        .getResult());
        return SmallVector<Value>{
            newKeys,
            tensor::InsertOp::create(l, value, args[1], ValueRange{pass}),
            tensor::InsertOp::create(l, stored, args[2], ValueRange{pass})};
      });
  return {picked[1], picked[2]};
}

int64_t mlir::moe::lowering::countHiddenTiles(ExpertsOp op,
                                              ExpertTilingAttr tiling) {
  return op.getUpProj().getType().getDimSize(1) / kernelHiddenTile(op, tiling);
}

Value mlir::moe::lowering::buildTiledExpertFFN(LocBuilder &b, ExpertsOp op,
                                               Value expert, Value rows,
                                               ExpertTilingAttr tiling,
                                               Value split, int64_t splits) {
  ExpertFFN ffn;
  ffn.expert = expert;
  ffn.gate = op.getGateProj();
  ffn.up = op.getUpProj();
  ffn.down = op.getDownProj();
  ffn.activation = op.getActivation();
  auto upType = op.getUpProj().getType();
  ffn.hidden = upType.getDimSize(1);
  ffn.model = upType.getDimSize(2);
  ffn.block = getExpertRegisterBlock(getTargetOrHostDefault(op));

  int64_t hiddenTile = kernelHiddenTile(op, tiling);
  // vdpbf16ps where every operand is bf16 and the reductions (D, the
  // F-tile) and the gemm's hidden row blocks come in whole pairs.
  auto isBf16 = [](Value value) {
    return value && getElementTypeOrSelf(value.getType()).isBF16();
  };
  ffn.bf16Dot = ffn.block.bf16Dot && isBf16(rows) && isBf16(ffn.up) &&
                isBf16(ffn.down) && (!ffn.gated() || isBf16(ffn.gate)) &&
                ffn.model % 2 == 0 && hiddenTile % 2 == 0 &&
                ffn.block.hiddenRows % 2 == 0;
  int64_t blockTokens = ffn.block.lanes * ffn.block.tokenVectors;
  int64_t tokenTile =
      llvm::divideCeil(std::max<int64_t>(1, tiling.getTokenTile()),
                       blockTokens) *
      blockTokens;
  // This split's run of F-tiles: runs of ceil(tiles / splits), the last
  // ones shorter (or empty).
  int64_t tiles = ffn.hidden / hiddenTile;
  TileRange range{indexConstant(b, 0), indexConstant(b, tiles)};
  if (splits > 1) {
    int64_t perSplit = llvm::divideCeil(tiles, splits);
    Value begin = arith::MinSIOp::create(b, mulIndex(b, split, perSplit),
                                         indexConstant(b, tiles));
    Value end = arith::MinSIOp::create(b, addIndex(b, begin, perSplit),
                                       indexConstant(b, tiles));
    range = {begin, end};
  }
  Value count = dimSize(b, rows, 0);
  auto gemv = [&](LocBuilder &g) {
    return SmallVector<Value>{
        buildGemvKernel(g, ffn, rows, count, hiddenTile, range)};
  };
  auto gemm = [&](LocBuilder &g) {
    return SmallVector<Value>{
        buildGemmKernel(g, ffn, rows, count, hiddenTile, tokenTile, range)};
  };
  switch (tiling.getKernel()) {
  case ExpertKernel::Gemv:
    return gemv(b)[0];
  case ExpertKernel::Gemm:
    return gemm(b)[0];
  case ExpertKernel::Auto: {
    auto type = RankedTensorType::get({ShapedType::kDynamic, ffn.model},
                                      b.getF32Type());
    Value many = arith::CmpIOp::create(
        b, arith::CmpIPredicate::sge, count,
        indexConstant(b, std::max<int64_t>(1, tiling.getGemmMinRows())));
    return buildIf(b, many, {type}, gemm, gemv)[0];
  }
  }
  llvm_unreachable("unknown expert kernel");
}
