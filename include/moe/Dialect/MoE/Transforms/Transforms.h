//===- Transforms.h - Reusable rewrites of the moe dialect ------*- C++ -*-===//
//
// The C++ API behind the moe passes: pattern populators and free functions
// that other code (pipelines, importers, unit tests) can call directly.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_TRANSFORMS_TRANSFORMS_H
#define MOE_DIALECT_MOE_TRANSFORMS_TRANSFORMS_H

#include "moe/Dialect/MoE/IR/MoEDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Support/LLVM.h"

namespace mlir::moe {

class LayerOp;
class ExpertsOp;

/// The ops that a decomposed moe.layer is made of.
struct DecomposedLayer {
  Operation *route = nullptr;
  Operation *dispatch = nullptr;
  Operation *experts = nullptr;
  Operation *combine = nullptr;
  /// The layer's output: the combine, or the add of the shared-expert FFN.
  Value result;
};

/// Replaces `layer` by moe.route + moe.dispatch + moe.experts + moe.combine,
/// plus, when the layer has shared experts, a moe.experts with one expert
/// that every token goes to and an add. Fails (with a match-failure note) only
/// on layers the verifier would reject.
FailureOr<DecomposedLayer> decomposeLayer(RewriterBase &rewriter,
                                          LayerOp layer);

/// Builds `activation` applied to the float scalar `value` (in its own
/// type): relu, silu (v * sigmoid(v)), or the exact erf GELU. For the gated
/// activations this is the part applied to the gate projection.
Value buildActivation(OpBuilder &builder, Location loc, Activation activation,
                      Value value);

/// Adds the patterns of `moe-fuse-gating`: router matmul + softmax or
/// sigmoid (+ selection bias) + moe.topk (softmax in either order), and a
/// following renormalization or constant scale, become one moe.route.
void populateMoEFuseGatingPatterns(RewritePatternSet &patterns);

/// A dense FFN on x ([T, D]) as a moe.experts with one expert that every
/// token goes to (segments [0, T]): the [out, in] weights (gate [F, D] or
/// null for an ungated activation, up [F, D], down [D, F]) viewed as
/// [1, F, D] and [1, D, F] by tensor.expand_shape. moe-decompose runs a
/// layer's shared experts this way and moe-raise-dense-ffn dense SwiGLU
/// blocks, so that the tiled expert kernels run them.
Value buildOneExpertFFN(OpBuilder &builder, Location loc, Value x, Value gate,
                        Value up, Value down, Activation activation);

/// The pattern of moe-raise-dense-ffn: a dense SwiGLU FFN of linalg ops
/// becomes a moe.experts with one expert.
void populateMoERaiseDenseFFNPatterns(RewritePatternSet &patterns);

/// Replaces every op with linalg's AggregatedOpInterface under `root` (e.g.
/// linalg.softmax) by the ops it decomposes into. Fails, with an error on
/// the op, if one cannot be decomposed.
LogicalResult decomposeAggregateOps(Operation *root);

/// Adds the pattern that decomposes every moe.layer to `patterns`.
void populateMoEDecomposePatterns(RewritePatternSet &patterns);

/// The stages of a moe pipeline, in order, each named after what the module
/// holds once the stage is done; see `moe-verify-lowering-contract`.
enum class LoweringStage {
  /// moe ops lowered to linalg/tensor/scf/arith/math on tensors.
  Linalg,
  /// Tensors replaced by memrefs, deallocations inserted.
  Bufferized,
  /// linalg ops and scf.forall lowered to scf.for/scf.parallel (or omp).
  Loops,
  /// Everything in the llvm and omp dialects.
  LLVM,
};

/// The option spelling of `stage`: "linalg", "bufferized", "loops", "llvm".
StringRef stringifyLoweringStage(LoweringStage stage);

/// Checks that `root` holds nothing that `stage` promises to remove. On a
/// violation, emits an error on the first offending op (in pre-order) that
/// names it and the stage, and fails.
LogicalResult verifyLoweringContract(Operation *root, LoweringStage stage);

/// The name of the function attribute that records the buffer signature of
/// an entry point (a TypeAttr holding a FunctionType of memrefs and
/// scalars), kept on the function through the conversion to llvm.func.
inline StringRef getEntrySignatureAttrName() { return "moe.signature"; }

/// Marks every tensor argument of every public function with a body of
/// `module` `bufferization.writable = false` (see
/// moe-protect-entry-arguments).
void protectEntryArguments(Operation *module);

/// Gives every public function with a body of `module` (func.func, after
/// bufferization) the `moe.signature` attribute and, with `cInterface`, the
/// `llvm.emit_c_interface` attribute; private functions with a body get
/// internal linkage.
void annotateEntryPoints(Operation *module, bool cInterface);

/// Lowers every linalg op with buffer semantics under `root` to loops:
/// scf.parallel over its parallel dimensions when no scf.forall or
/// scf.parallel encloses it, scf.for otherwise (see
/// moe-lower-linalg-to-loops). Fails if an op cannot be lowered.
LogicalResult lowerLinalgToLoops(Operation *root);

/// Adds the `reassoc` and `contract` fast-math flags to every arith.addf,
/// arith.subf and arith.mulf under `root` (see moe-reassociate-float-arith).
void reassociateFloatArith(Operation *root);

/// The location metadata that marks a parallel loop whose iterations differ
/// in cost (moe-apply-loop-schedules gives its omp.wsloop a dynamic
/// schedule).
constexpr llvm::StringLiteral kDynamicScheduleMarker = "moe.dynamic_schedule";

/// `location` with the dynamic-schedule marker.
Location withDynamicScheduleMarker(Location location);

/// Gives every omp.wsloop under `root` whose location carries the marker
/// schedule(dynamic).
void applyLoopSchedules(Operation *root);

/// Rewrites math.exp/erf/tanh on f32 vectors under `root` into polynomial
/// approximations (see moe-approximate-vector-math).
LogicalResult approximateVectorMath(Operation *root);

/// The tiling that the expert cost model chooses for `op` and `kernel` on
/// the target of its module (or the host), with `fastMemoryBytes`
/// overriding the target's per-core budget when nonzero (see
/// moe-tile-experts).
ExpertTilingAttr tileExperts(ExpertsOp op, uint64_t fastMemoryBytes = 0,
                             ExpertKernel kernel = ExpertKernel::Auto);

/// Multi-versions `function` on its token count (see moe-specialize-tokens):
/// if it has moe.experts ops on a dynamic number of rows, its body becomes
/// an scf.if on T < `threshold` (0: from the cost model) with a gemv variant
/// and a gemm variant; with static shapes the kernel is fixed in place.
/// Returns true if the function changed.
bool specializeTokens(func::FuncOp function, uint64_t threshold = 0);

class RepeatOp;

/// The schedule that moe-schedule-repeats gives `op`: its own when it is
/// explicit (unroll or resident), else the repeat cost model's choice for a
/// cache of `cacheBytes` (0: the shared cache of the module's #moe.target,
/// or the host's) and at most `maxUnrollCount` unrolled copies.
RepeatSchedule selectRepeatSchedule(RepeatOp op, uint64_t cacheBytes = 0,
                                    int64_t maxUnrollCount = 4);

/// Replaces `op` by `count` copies of its body in sequence, the iter_args of
/// each copy replaced by the values the previous one yields (the inits for
/// the first); the last copy's yields replace the results.
void unrollRepeat(RewriterBase &rewriter, RepeatOp op);

/// Moves the memory-effect-free ops of `op`'s body whose operands (also
/// those their regions use) are all defined outside it to just before `op`,
/// repeatedly. Hoisted initializations (tensor.empty, linalg.fill) that ops
/// left in the body still use are copied back before their first such user.
/// Returns the number of ops that stay hoisted.
size_t hoistRepeatInvariantCode(RewriterBase &rewriter, RepeatOp op);

/// Applies selectRepeatSchedule to `op`: unrolls it, or marks it resident
/// and hoists its loop-invariant code, or leaves it (see
/// moe-schedule-repeats).
void scheduleRepeat(RewriterBase &rewriter, RepeatOp op,
                    uint64_t cacheBytes = 0, int64_t maxUnrollCount = 4);

} // namespace mlir::moe

#endif // MOE_DIALECT_MOE_TRANSFORMS_TRANSFORMS_H
