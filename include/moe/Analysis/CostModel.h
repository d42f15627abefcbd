//===- CostModel.h - Tiling and scheduling decisions ----------*- C++ -*-===//
//
// The cost model behind moe-tile-experts, moe-specialize-tokens and
// moe-schedule-repeats: pure functions from problem sizes and a target
// description to a decision, so that passes, the lowering and unit tests
// agree on one set of numbers.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_ANALYSIS_COSTMODEL_H
#define MOE_ANALYSIS_COSTMODEL_H

#include "moe/Dialect/MoE/IR/MoEDialect.h"

#include <cstdint>

namespace mlir::moe {

class ExpertsOp;

/// The sizes of one moe.experts that the tiling depends on.
struct ExpertProblem {
  /// D: the model dimension (rows of the down projection).
  int64_t modelDim = 0;
  /// F: hidden units per expert.
  int64_t hiddenDim = 0;
  /// E: number of experts.
  int64_t numExperts = 0;
  /// K: experts per token (0 when unknown, e.g. a moe.experts whose rows do
  /// not come from a moe.dispatch).
  int64_t topK = 0;
};

/// The sizes of `op` (K from the moe.dispatch its rows come from, if any).
ExpertProblem getExpertProblem(ExpertsOp op);

/// The register blocking of the expert kernels, shared by the cost model
/// and the lowering so that tiles are multiples of it.
struct ExpertRegisterBlock {
  /// f32 lanes per vector register (16 with AVX-512).
  int64_t lanes = 16;
  /// gemm: gate and up rows per register block (each weight element is
  /// broadcast to `tokenVectors` vectors of tokens).
  int64_t hiddenRows = 4;
  /// gemm: down-projection rows (model dimension) per register block.
  int64_t modelRows = 8;
  /// gemm: vectors of tokens per register block (tokens = this x lanes).
  int64_t tokenVectors = 2;
  /// gemv: weight rows streamed together (each a vector accumulator).
  int64_t gemvRows = 4;
  /// bf16 operands multiply in pairs with AVX512-BF16's vdpbf16ps (two
  /// products per f32 lane, accumulated in f32) instead of being extended
  /// to f32 for FMAs (the target's bf16_dot is avx512, 16 lanes).
  bool bf16Dot = false;
};

/// The register blocking for a target's vector width.
ExpertRegisterBlock getExpertRegisterBlock(TargetAttr target);

/// The tiling of one moe.experts (the fields of #moe.expert_tiling).
struct ExpertTilingChoice {
  ExpertKernel kernel = ExpertKernel::Auto;
  int64_t hiddenTile = 0;
  int64_t tokenTile = 0;
  int64_t gemmMinRows = 0;
};

/// Chooses the F-tile and token tile for `kernel` (and, for Auto, the
/// gemv/gemm crossover) for `problem` on `target` (parameters left 0 in the
/// target take its kind's defaults), with `fastMemoryBytes` overriding the
/// target's per-core budget when nonzero.
ExpertTilingChoice chooseExpertTiling(const ExpertProblem &problem,
                                      TargetAttr target,
                                      uint64_t fastMemoryBytes = 0,
                                      ExpertKernel kernel = ExpertKernel::Auto);

/// The token count T from which the prefill (gemm) variant of a layer is
/// faster than the decode (gemv) variant: the T at which an average expert
/// (T·K/E rows) reaches the gemm crossover.
int64_t chooseTokenThreshold(const ExpertProblem &problem, TargetAttr target);

/// What moe-schedule-repeats knows of one moe.repeat.
struct RepeatProblem {
  /// Bytes of the weights the body reads (values defined outside the body).
  int64_t bodyWeightBytes = 0;
  /// The repeat count N.
  int64_t count = 1;
  /// Ops in the body, nested ones included (a proxy for code size).
  int64_t bodyOps = 0;
};

/// Decides how an auto moe.repeat runs, in this order: Unroll when `count`
/// is 1 (nothing to reuse; inlining the body adds no code), unless
/// `maxUnrollCount` is 0; Resident when the body reads weights and they fit
/// `cacheBytes`; Unroll when `count` is at most `maxUnrollCount` and the
/// unrolled code (`count` x `bodyOps`) is at most kMaxUnrolledRepeatOps ops;
/// Auto (keep the loop) otherwise.
RepeatSchedule chooseRepeatSchedule(const RepeatProblem &problem,
                                    uint64_t cacheBytes,
                                    int64_t maxUnrollCount);

/// The most ops (count x body ops, payloads included) that unrolling an auto
/// moe.repeat may produce: a SwiGLU FFN block (~35 ops) may be unrolled up
/// to 7 times, a whole transformer block (~200 ops, MobileLLM) not even
/// twice, so that unrolling never multiplies the code of a whole model.
inline constexpr int64_t kMaxUnrolledRepeatOps = 256;

class RepeatOp;

/// The sizes of `op`: its count, the ops in its body (nested ones included,
/// the terminator not), and the bytes of the statically shaped tensors and
/// memrefs that the body (nested regions included) reads from values
/// defined outside it, each counted once: the shared weights. Results of
/// tensor.empty hold no data and do not count; neither do dynamically
/// shaped values, whose size is unknown at compile time.
RepeatProblem getRepeatProblem(RepeatOp op);

} // namespace mlir::moe

#endif // MOE_ANALYSIS_COSTMODEL_H
