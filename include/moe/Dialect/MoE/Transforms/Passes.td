//===- Passes.td - Passes of the moe dialect ---------------*- tablegen -*-===//
//
// Declarations of the moe-level passes; the logic lives in the C++ API of
// Transforms.h and in the Analysis library.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_TRANSFORMS_PASSES_TD
#define MOE_DIALECT_MOE_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoEDecomposePass : Pass<"moe-decompose"> {
  let summary = "expand moe.layer into route, dispatch, experts and combine";
  let description = [{
    Rewrites every `moe.layer` into the ops it is made of:
    `moe.route` (with the layer's routing attributes), `moe.dispatch` (with
    its dispatch mode), `moe.experts` (with its activation) and
    `moe.combine`; shared experts become a dense FFN (`linalg.matmul` with
    transposed weights and a `linalg.generic` for the activation) whose
    output, optionally scaled by the Qwen-style `sigmoid(x · gateᵀ)`, is
    added to the routed output.

    Before:

    ```mlir
    %y = moe.layer %x router(%wr) gate_proj(%wg) up_proj(%wu) down_proj(%wd)
        top_k(2) normalize activation(silu_glu) : (...) -> tensor<?x64xf32>
    ```

    After:

    ```mlir
    %w, %i = moe.route %x, %wr top_k(2) normalize : (...) -> (...)
    %rows, %offsets, %row_of = moe.dispatch %x, %i num_experts(8) : (...) -> (...)
    %out = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu)
        down_proj(%wd) activation(silu_glu) : (...) -> tensor<?x64xf32>
    %y = moe.combine %out, %w, %row_of : (...) -> tensor<?x64xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def MoEParamReportPass : Pass<"moe-param-report", "::mlir::ModuleOp"> {
  let summary = "print stored and active parameters, density, FLOPs and bytes";
  let description = [{
    An analysis that changes nothing. For every function of the module it
    prints, per parameterized layer and for the whole function (the model):

    * stored parameters: each weight counted once, however often it is used;
    * active parameters per token: the weights one token computes with.
      Dense ops (for example attention projections as `linalg.matmul`,
      embedding lookups) count fully; routed experts count `K/E`; PEER
      counts the query projection, all sub-keys and the `H·k` selected
      expert embeddings; a `moe.repeat` body counts its weights once
      stored and `count` times active;
    * density = active / stored;
    * FLOPs and weight bytes per token (one token, T = 1), and a roofline
      time per token for the module's `#moe.target` (or the host).

    A weight is a function argument or constant with a fully static shape
    that reaches a layer's weight operand through view-like ops only;
    arguments with a dynamic dimension (the token count) or the unit
    argument attribute `moe.activation` are activations.

    Example output:

    ```
    moe-param-report: @forward
      layer                          stored      active   density  GFLOP/tok  MB/tok
      moe.layer (loc)               ...
      total                        46.70B      12.88B     0.276 ...
    ```
  }];
  let options = [
    Option<"perLayer", "per-layer", "bool", /*default=*/"true",
           "print one line per parameterized op, not only the totals">,
    Option<"outputFile", "output", "std::string", /*default=*/"\"-\"",
           "where to write the report (- for stdout)">
  ];
}

#endif // MOE_DIALECT_MOE_TRANSFORMS_PASSES_TD
