//===- CostModel.cpp - Tiling decisions for moe.experts -------------------===//
//
// The expert half of the cost model: register blocking, F-tile and token
// tile from the fast-memory budget, and the token count at which the
// compute-bound (gemm) form of the expert FFN overtakes the memory-bound
// (gemv) form. The repeat half is in RepeatCostModel.cpp.
//
//===----------------------------------------------------------------------===//

#include "moe/Analysis/CostModel.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "llvm/Support/MathExtras.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::moe;

ExpertRegisterBlock mlir::moe::getExpertRegisterBlock(TargetAttr target) {
  ExpertRegisterBlock block;
  TargetAttr resolved = target ? target.withDefaults() : TargetAttr();
  uint64_t vectorBits = resolved ? resolved.getVectorBits() : 512;
  // At least 4 f32 lanes: narrower targets still get a vector kernel.
  block.lanes = std::max<int64_t>(4, static_cast<int64_t>(vectorBits / 32));
  // x86 has 32 vector registers with AVX-512 (16 below). The gemm block
  // keeps hiddenRows x tokenVectors accumulators for the gate and as many
  // for the up projection, plus tokenVectors loaded token vectors: 4 x 2 x 2
  // + 2 = 18 of 32 registers with AVX-512, 4 x 1 x 2 + 1 = 9 of 16 below;
  // the down projection keeps modelRows x tokenVectors.
  block.hiddenRows = 4;
  block.modelRows = vectorBits >= 512 ? 8 : 4;
  block.tokenVectors = vectorBits >= 512 ? 2 : 1;
  block.gemvRows = 4;
  block.bf16Dot =
      resolved && resolved.getBf16Dot() == Bf16Dot::Avx512 && block.lanes == 16;
  return block;
}

ExpertProblem mlir::moe::getExpertProblem(ExpertsOp op) {
  ExpertProblem problem;
  auto upType = op.getUpProj().getType();
  problem.numExperts = upType.getDimSize(0);
  problem.hiddenDim = upType.getDimSize(1);
  problem.modelDim = upType.getDimSize(2);
  // K is known when the rows come from a moe.dispatch: its indices are
  // T x K.
  if (auto dispatch = op.getRows().getDefiningOp<DispatchOp>())
    problem.topK = dispatch.getIndices().getType().getDimSize(1);
  return problem;
}

/// The largest multiple of `lanes` that is at most `limit` (and at least
/// `lanes`) and divides `hidden`; all of `hidden` when it is not a multiple
/// of `lanes` (small test layers), so that no F-tile has a tail.
static int64_t largestDividingTile(int64_t hidden, int64_t limit,
                                   int64_t lanes) {
  if (hidden % lanes != 0)
    return hidden;
  int64_t tile = std::max<int64_t>(lanes, limit - limit % lanes);
  tile = std::min(tile, hidden);
  while (hidden % tile != 0)
    tile -= lanes;
  return tile;
}

ExpertTilingChoice mlir::moe::chooseExpertTiling(const ExpertProblem &problem,
                                                 TargetAttr target,
                                                 uint64_t fastMemoryBytes,
                                                 ExpertKernel kernel) {
  TargetAttr full = target.withDefaults();
  ExpertRegisterBlock block = getExpertRegisterBlock(full);
  int64_t budget = fastMemoryBytes
                       ? static_cast<int64_t>(fastMemoryBytes)
                       : static_cast<int64_t>(full.getFastMemoryBytes());
  ExpertTilingChoice choice;
  choice.kernel = kernel;
  int64_t hidden = std::max<int64_t>(1, problem.hiddenDim);
  int64_t model = std::max<int64_t>(1, problem.modelDim);

  // Token tile: the gemm kernel keeps, per token tile, the rows transposed
  // (D x tile) and the f32 output accumulators (D x tile) close while the
  // weights stream past; they get the budget (the weights need none of it:
  // each element is used once per tile, straight from memory). A larger
  // tile reads each expert's weights from DRAM fewer times; the kernel
  // runs register blocks only over the tile's rows, so a tile larger than
  // an expert's rows costs no padding. A multiple of the register block's
  // tokens, at least one block, at most 8 blocks.
  int64_t blockTokens = block.lanes * block.tokenVectors;
  int64_t tokenBudget = budget / (2 * model * 4);
  int64_t tokenBlocks = std::clamp<int64_t>(tokenBudget / blockTokens, 1, 8);
  choice.tokenTile = tokenBlocks * blockTokens;

  // F-tile: neither kernel needs a whole F-tile of weights in cache. gemm
  // uses each weight element once per token tile, straight from memory
  // into a broadcast; gemv re-reads a block of 4 weight rows from L1 for
  // each of its few rows. What must stay close is the hidden tile (F-tile x
  // token tile f32, re-read by every block of down rows): an eighth of the
  // budget. At most 256: a block of down rows (8 x F-tile) stays in L1, and
  // the down projection reads runs of F-tile contiguous weights per row
  // (1 KiB in f32), long enough for the hardware prefetchers.
  int64_t limit = std::min<int64_t>(256, budget / 8 / (choice.tokenTile * 4));
  if (kernel == ExpertKernel::Gemv) {
    // The decode variant's hidden tile holds an expert's few rows, not a
    // token tile; it is sized for 8 rows (a quarter of a register block of
    // tokens; an expert with more rows gets a proportionally larger buffer),
    // so the F-tile can be 4x longer than gemm's before the 4096 cap: the
    // down projection reads runs of several KiB per weight row instead of
    // 1 KiB, which is what keeps a core's prefetchers streaming at T = 1.
    int64_t gemvRowsBound = std::max<int64_t>(2, blockTokens / 4);
    limit = std::min<int64_t>(4096, budget / 8 / (gemvRowsBound * 4));
  }
  // At least one F-tile per core: the lowering lets the cores share an
  // expert by dealing its F-tiles out (decode runs K experts, which need
  // not be a multiple of the cores; a shared expert is one).
  int64_t cores = std::max<int64_t>(1, full.getComputeUnits());
  limit = std::min(limit, std::max<int64_t>(block.lanes, hidden / cores));
  choice.hiddenTile = largestDividingTile(hidden, limit, block.lanes);

  // gemv re-reads each weight vector from L1 for every row (one FMA per
  // load), gemm broadcasts each weight element to a register block of
  // tokens and pays for its padding: a one-vector block (`lanes` tokens)
  // for the last few rows. gemm wins from half a vector of rows (measured
  // on OLMoE-shaped experts, weights from DRAM, 2026-11-23: 6 rows gemv
  // 1.13x faster, 8 rows even, 10 rows gemm 1.2x, 16 rows gemm 1.7x).
  if (kernel == ExpertKernel::Auto)
    choice.gemmMinRows = std::max<int64_t>(1, block.lanes / 2);
  return choice;
}

int64_t mlir::moe::chooseTokenThreshold(const ExpertProblem &problem,
                                        TargetAttr target) {
  ExpertTilingChoice choice =
      chooseExpertTiling(problem, target, 0, ExpertKernel::Auto);
  if (problem.topK <= 0 || problem.numExperts <= 0)
    return choice.gemmMinRows;
  // T · K / E rows per expert on average reach gemmMinRows.
  return llvm::divideCeil(choice.gemmMinRows * problem.numExperts,
                          problem.topK);
}
