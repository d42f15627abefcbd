//===- Transforms.h - Reusable rewrites of the moe dialect ------*- C++ -*-===//
//
// The C++ API behind the moe passes: pattern populators and free functions
// that other code (pipelines, importers, unit tests) can call directly.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_TRANSFORMS_TRANSFORMS_H
#define MOE_DIALECT_MOE_TRANSFORMS_TRANSFORMS_H

#include "moe/Dialect/MoE/IR/MoEDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Support/LLVM.h"

namespace mlir::moe {

class LayerOp;

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
/// plus a dense shared-expert FFN (linalg) and an add when the layer has
/// shared experts. Fails (with a match-failure note) only on layers the
/// verifier would reject.
FailureOr<DecomposedLayer> decomposeLayer(RewriterBase &rewriter,
                                          LayerOp layer);

/// Builds `activation` applied to the float scalar `value` (in its own
/// type): relu, silu (v * sigmoid(v)), or the exact erf GELU. For the gated
/// activations this is the part applied to the gate projection.
Value buildActivation(OpBuilder &builder, Location loc, Activation activation,
                      Value value);

/// Adds the pattern that decomposes every moe.layer to `patterns`.
void populateMoEDecomposePatterns(RewritePatternSet &patterns);

} // namespace mlir::moe

#endif // MOE_DIALECT_MOE_TRANSFORMS_TRANSFORMS_H
