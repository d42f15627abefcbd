//===- Passes.td - Conversions out of the moe dialect ------*- tablegen -*-===//
//
// The conversion of moe ops to upstream dialects.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_PASSES_TD
#define MOE_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertMoEToLinalgPass : Pass<"convert-moe-to-linalg"> {
  let summary = "lower every moe op to linalg, tensor, scf, arith and math";
  let description = [{
    Lowers the moe dialect to upstream ops on tensors, ready for
    bufferization. `moe.layer` is first decomposed (as `moe-decompose`
    does); then:

    * `moe.topk`: k passes of a masked arg-max over each row (a partial
      selection, O(k·N), never a sort), in the order of DESIGN.md 3.1: value
      descending, index ascending, NaN below every number.
    * `moe.route`: one `scf.forall` over tokens; per token the E logits,
      scores, group mask, top-k and weights live in a token-local tensor,
      so no T x E tensor is written unless the `scores` result is used.
    * `moe.dispatch`: a counting sort (`scf.for`) that decides where each
      assignment goes (offsets, positions, and which token fills each
      row), then a parallel `linalg.generic` that gathers the rows, one
      element per (row, feature); capacity mode drops by position or
      score. For CUDA, a dropless dispatch finds the same order with a
      chunked parallel scan instead (counts and bases per chunk and expert,
      then each assignment's row and each row's token), every step a
      parallel `linalg.generic`.
    * `moe.experts` for CPUs: an `scf.forall` over the experts that have
      rows; each runs its FFN on its own rows only (the vectorized gemv or
      gemm kernel that `#moe.expert_tiling` selects), so the work grows with
      K, not E. For CUDA (`target=cuda`): two `linalg.generic`s with one
      element per (row, hidden unit) and per (row, output feature), the
      expert of each row looked up, so no launch size depends on the
      routing.
    * `moe.combine`, the losses: `scf.forall` over tokens.
    * `moe.peer`: `scf.forall` over (token, head), so that one token's
      heads run in parallel; each computes its head's query, sub-key
      top-k, candidates and experts into a partial row, and a reduction
      over heads sums them.
    * `moe.repeat`: `scf.for` with the same iter_args.

    Gathers are `tensor.extract`/`tensor.extract_slice` with computed
    offsets and scatters are `tensor.insert_slice` /
    `tensor.parallel_insert_slice`; no `tensor.gather` or `tensor.scatter`.

    Example:

    ```mlir
    %v, %i = moe.topk %s k(2) : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    // becomes an scf.forall over the rows, each running two scf.for
    // arg-max passes over the 8 scores.
    ```
  }];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"\"",
           "the code moe.experts becomes: `cpu` (vectorized per-expert "
           "kernels, #moe.expert_tiling) or `cuda` (the row-parallel form a "
           "GPU pipeline maps onto threads); empty: the kind of the "
           "module's #moe.target, else cpu">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
    "::mlir::x86vector::X86VectorDialect"
  ];
}

#endif // MOE_CONVERSION_PASSES_TD
