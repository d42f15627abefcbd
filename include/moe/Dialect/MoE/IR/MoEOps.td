//===- MoEOps.td - Operations of the moe dialect -----------*- tablegen -*-===//
//
// The ops of DESIGN.md section 3: top-k, the fused router, dispatch, the
// grouped expert FFN, combine, the whole MoE layer, product-key experts
// (PEER), shared-weight repetition, and the auxiliary router losses.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEOPS_TD
#define MOE_DIALECT_MOE_IR_MOEOPS_TD

include "moe/Dialect/MoE/IR/MoEBase.td"
include "moe/Dialect/MoE/IR/MoEEnums.td"
include "moe/Dialect/MoE/IR/MoEAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/IR/OpAsmInterface.td"

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def MoE_ActivationTensor : RankedTensorOf<[F32, BF16, F16]>;
def MoE_WeightTensor : RankedTensorOf<[F32, BF16, F16]>;
def MoE_ScoreInputTensor : RankedTensorOf<[F64, F32, BF16, F16]>;
def MoE_F32Tensor : RankedTensorOf<[F32]>;
def MoE_IndexTensor : RankedTensorOf<[I32, I64]>;
def MoE_I32Tensor : RankedTensorOf<[I32]>;

//===----------------------------------------------------------------------===//
// moe.topk
//===----------------------------------------------------------------------===//

def MoE_TopKOp : MoE_Op<"topk", [NoMemoryEffect]> {
  let summary = "the k largest values along the last dimension, and their indices";
  let description = [{
    Selects the `k` largest entries of each row (the last dimension) of
    `input` and returns them with their positions.

    The order is a total order, so results are deterministic, also in
    parallel and GPU code: by value descending, then by index ascending (the
    ONNX rule). NaN ranks below every number (it is treated as -inf for the
    selection), and `-0.0 == +0.0`; a row of all NaN selects indices
    `0 .. k-1`.

    The lowering is a partial selection (k is small), never a full sort
    followed by a slice.

    Example:

    ```mlir
    %values, %indices = moe.topk %scores k(2)
        : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    ```
  }];
  let arguments = (ins MoE_ScoreInputTensor:$input, I64Attr:$k);
  let results = (outs MoE_ScoreInputTensor:$values, MoE_IndexTensor:$indices);
  let assemblyFormat = [{
    $input `k` `(` $k `)` attr-dict `:` type($input) `->` type($values) `,`
    type($indices)
  }];
  let builders = [
    OpBuilder<(ins "::mlir::Value":$input, "int64_t":$k,
                   CArg<"::mlir::Type", "{}">:$indexElementType)>
  ];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.route
//===----------------------------------------------------------------------===//

def MoE_RouteOp : MoE_Op<"route", [NoMemoryEffect]> {
  let summary = "the fused router: logits, scores, (group-limited) top-k, weights";
  let description = [{
    Routes each token to `top_k` experts. With `x: T x D`,
    `router_weight: E x D` and an optional selection-only `bias: E`:

    1. `l = x · router_weightᵀ` (f32 accumulation).
    2. `s = softmax(l)` over E (`softmax`), `sigmoid(l)` (`sigmoid`), or
       `l` itself (`softmax_topk`).
    3. `sel = s + bias`: the bias only changes which experts are chosen.
    4. Group-limited routing (`n_group > 1`): the E experts form `n_group`
       contiguous groups; a group's score is the sum of its two best `sel`
       (`top2_sum`) or its best `sel` (`max`); the best `topk_group` groups
       are kept (same tie rule as `moe.topk`) and every other expert gets -inf.
    5. `indices = topk(sel, top_k)` in the order of `moe.topk`.
    6. `weights = s[indices]`; for `softmax_topk`,
       `weights = softmax(l[indices])`.
    7. With `normalize`: `weights /= sum(weights)` (a zero sum leaves zeros).
    8. `weights *= scale`.

    The optional third result holds the T x E scores `s`, for auxiliary
    losses; leaving it out lets the lowering keep every logit row in
    registers. Noisy top-k (training) is modelled by the caller adding its
    noise to the input of a separate router; this op has no noise operand.

    Example (Mixtral: softmax, renormalized top-2; DeepSeek-V3: sigmoid,
    bias, 8 groups of which 4 are kept, normalized and scaled):

    ```mlir
    %w, %i = moe.route %x, %router top_k(2) score(softmax) normalize
        : (tensor<?x4096xf32>, tensor<8x4096xf32>)
        -> (tensor<?x2xf32>, tensor<?x2xi32>)
    %w3, %i3 = moe.route %x3, %router3 bias(%b) top_k(8) score(sigmoid)
        normalize scale(2.5) n_group(8) topk_group(4) group_score(top2_sum)
        : (tensor<?x7168xbf16>, tensor<256x7168xbf16>, tensor<256xf32>)
        -> (tensor<?x8xf32>, tensor<?x8xi32>)
    ```
  }];
  let arguments = (ins
    MoE_ActivationTensor:$x,
    MoE_WeightTensor:$router_weight,
    Optional<MoE_F32Tensor>:$bias,
    I64Attr:$top_k,
    DefaultValuedAttr<MoE_ScoreFunctionAttr, "ScoreFunction::Softmax">:$score,
    UnitAttr:$normalize,
    DefaultValuedAttr<F32Attr, "1.0f">:$scale,
    DefaultValuedAttr<I64Attr, "1">:$n_group,
    DefaultValuedAttr<I64Attr, "1">:$topk_group,
    DefaultValuedAttr<MoE_GroupScoreAttr, "GroupScore::Top2Sum">:$group_score
  );
  let results = (outs
    MoE_F32Tensor:$weights,
    MoE_I32Tensor:$indices,
    Optional<MoE_F32Tensor>:$scores
  );
  let builders = [
    // Infers the result types: weights T x K (f32), indices T x K (i32),
    // and scores T x E (f32) when `withScores`.
    OpBuilder<(ins "::mlir::Value":$x, "::mlir::Value":$routerWeight,
                   "::mlir::Value":$bias, "int64_t":$topK,
                   CArg<"bool", "false">:$withScores)>
  ];
  let assemblyFormat = [{
    $x `,` $router_weight (`bias` `(` $bias^ `)`)?
    `top_k` `(` $top_k `)` (`score` `(` custom<EnumKeyword>($score)^ `)`)? (`normalize` $normalize^)?
    (`scale` `(` $scale^ `)`)? (`n_group` `(` $n_group^ `)`)?
    (`topk_group` `(` $topk_group^ `)`)? (`group_score` `(` custom<EnumKeyword>($group_score)^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.dispatch
//===----------------------------------------------------------------------===//

def MoE_DispatchOp : MoE_Op<"dispatch", [NoMemoryEffect]> {
  let summary = "groups token rows by expert";
  let description = [{
    Copies each token row of `x: T x D` once per expert it was routed to
    (`indices: T x K`), grouped by expert.

    `dropless` (the default) results:
    * `rows: (T*K) x D`, sorted stably by (expert, token, slot);
    * `segments: (E+1) x i32`, the offsets: prefix sums of the per-expert
      counts, so expert e owns rows `[segments[e], segments[e+1])`;
    * `row_of: T x K x i32`, the row each assignment landed in.

    `capacity` (Switch/GShard) takes `capacity_factor` (finite, > 0),
    `min_capacity` (>= 0) and `drop_policy`. The capacity is
    `C = min(T, max(min_capacity, ceil(capacity_factor * T * K / E)))`.
    Results:
    * `rows: E x C x D`, each expert's rows, zero past its count;
    * `segments: E x i32`, the counts of rows kept per expert;
    * `row_of: T x K x i32`, `e*C + pos`, or -1 for a dropped assignment.

    With `position`, earlier tokens win a full expert; with `score`, the
    higher routing weight wins (ties by token index) and the `weights`
    operand (T x K, f32) is required. Surviving weights are not
    renormalized; a dropped assignment contributes 0 in `moe.combine` (the
    model's residual connection carries the token).

    Example:

    ```mlir
    %rows, %offsets, %row_of = moe.dispatch %x, %indices num_experts(8)
        : (tensor<?x64xf32>, tensor<?x2xi32>)
        -> (tensor<?x64xf32>, tensor<9xi32>, tensor<?x2xi32>)
    %buf, %counts, %slot = moe.dispatch %x, %indices weights(%w)
        num_experts(8) mode(capacity) capacity_factor(1.25)
        drop_policy(score)
        : (tensor<64x64xf32>, tensor<64x2xi32>, tensor<64x2xf32>)
        -> (tensor<8x20x64xf32>, tensor<8xi32>, tensor<64x2xi32>)
    ```
  }];
  let arguments = (ins
    MoE_ActivationTensor:$x,
    MoE_IndexTensor:$indices,
    Optional<MoE_F32Tensor>:$weights,
    I64Attr:$num_experts,
    DefaultValuedAttr<MoE_DispatchModeAttr, "DispatchMode::Dropless">:$mode,
    OptionalAttr<F64Attr>:$capacity_factor,
    DefaultValuedAttr<I64Attr, "0">:$min_capacity,
    DefaultValuedAttr<MoE_DropPolicyAttr, "DropPolicy::Position">:$drop_policy
  );
  let results = (outs
    MoE_ActivationTensor:$rows,
    MoE_I32Tensor:$segments,
    MoE_I32Tensor:$row_of
  );
  let builders = [
    // A dropless dispatch; infers rows (T*K) x D, offsets (E+1), row_of T x K.
    OpBuilder<(ins "::mlir::Value":$x, "::mlir::Value":$indices,
                   "int64_t":$numExperts)>,
    // A capacity dispatch; infers rows E x C x D, counts E, row_of T x K.
    OpBuilder<(ins "::mlir::Value":$x, "::mlir::Value":$indices,
                   "::mlir::Value":$weights, "int64_t":$numExperts,
                   "double":$capacityFactor, "int64_t":$minCapacity,
                   "DropPolicy":$dropPolicy)>
  ];
  let assemblyFormat = [{
    $x `,` $indices (`weights` `(` $weights^ `)`)?
    `num_experts` `(` $num_experts `)` (`mode` `(` custom<EnumKeyword>($mode)^ `)`)?
    (`capacity_factor` `(` $capacity_factor^ `)`)?
    (`min_capacity` `(` $min_capacity^ `)`)?
    (`drop_policy` `(` custom<EnumKeyword>($drop_policy)^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let extraClassDeclaration = [{
    /// The capacity C for `numTokens` tokens, or ShapedType::kDynamic when
    /// the token count is dynamic. Only meaningful in capacity mode.
    int64_t getCapacityFor(int64_t numTokens);
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.experts
//===----------------------------------------------------------------------===//

def MoE_ExpertsOp : MoE_Op<"experts", [NoMemoryEffect]> {
  let summary = "the grouped expert FFN over dispatched rows";
  let description = [{
    Applies expert e's FFN to each of its rows, in either dispatch layout:

    * dropless: `rows: R x D` with `segments: (E+1)` offsets;
    * capacity: `rows: E x C x D` with `segments: E` counts (rows past the
      count are left zero).

    Weights are `gate_proj, up_proj: E x F x D` and `down_proj: E x D x F`.
    Gated activations (`silu_glu` = SwiGLU, `gelu_glu`) compute
    `(act(r · W_gᵀ) ⊙ (r · W_uᵀ)) · W_dᵀ` and need `gate_proj`; the plain
    ones (`relu`, `gelu`, `silu`) compute `act(r · W_uᵀ) · W_dᵀ` and take no
    `gate_proj`. The result has one D-row per input row. Accumulation is f32.

    Example:

    ```mlir
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu)
        down_proj(%wd) activation(silu_glu)
        : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>,
           tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins
    MoE_ActivationTensor:$rows,
    MoE_IndexTensor:$segments,
    Optional<MoE_WeightTensor>:$gate_proj,
    MoE_WeightTensor:$up_proj,
    MoE_WeightTensor:$down_proj,
    MoE_ActivationAttr:$activation,
    OptionalAttr<MoE_ExpertTilingAttr>:$tiling
  );
  let results = (outs MoE_ActivationTensor:$result);
  let builders = [
    // Infers the result type: the type of `rows`.
    OpBuilder<(ins "::mlir::Value":$rows, "::mlir::Value":$segments,
                   "::mlir::Value":$gateProj, "::mlir::Value":$upProj,
                   "::mlir::Value":$downProj, "Activation":$activation)>
  ];
  let assemblyFormat = [{
    $rows `,` $segments (`gate_proj` `(` $gate_proj^ `)`)?
    `up_proj` `(` $up_proj `)` `down_proj` `(` $down_proj `)`
    `activation` `(` custom<EnumKeyword>($activation) `)`
    (`tiling` `(` $tiling^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let extraClassDeclaration = [{
    /// True for the capacity layout (rank-3 rows), false for dropless.
    bool isCapacityLayout() { return getRows().getType().getRank() == 3; }
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.combine
//===----------------------------------------------------------------------===//

def MoE_CombineOp : MoE_Op<"combine", [NoMemoryEffect]> {
  let summary = "weighted sum of each token's expert outputs, back in token order";
  let description = [{
    `y[t] = Σ_k weights[t, k] · rows[row_of[t, k]]`, skipping assignments
    with `row_of = -1` (dropped by a capacity dispatch). `rows` is the
    output of `moe.experts` in either layout (`R x D`, or `E x C x D`
    addressed as `E*C` rows). Result: `T x D`, in the element type of `rows`.

    Example:

    ```mlir
    %y = moe.combine %expert_out, %weights, %row_of
        : (tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>)
        -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins
    MoE_ActivationTensor:$rows,
    MoE_F32Tensor:$weights,
    MoE_IndexTensor:$row_of
  );
  let results = (outs MoE_ActivationTensor:$result);
  let builders = [
    // Infers the result type: T x D in the element type of `rows`.
    OpBuilder<(ins "::mlir::Value":$rows, "::mlir::Value":$weights,
                   "::mlir::Value":$rowOf)>
  ];
  let assemblyFormat = [{
    $rows `,` $weights `,` $row_of attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.layer
//===----------------------------------------------------------------------===//

def MoE_LayerOp : MoE_Op<"layer", [NoMemoryEffect, AttrSizedOperandSegments]> {
  let summary = "a whole Mixture-of-Experts FFN layer";
  let description = [{
    The MoE FFN in one op, as most model graphs use it: the router of
    `moe.route` (all its attributes), the dispatch of `moe.dispatch` (mode,
    capacity), the expert FFN of `moe.experts` (activation), and the combine.

    Optional shared experts (DeepSeekMoE: always-on experts whose output is
    added) are one FFN of width `S*F_s`: `shared_gate_proj`,
    `shared_up_proj: (S*F_s) x D` and `shared_down_proj: D x (S*F_s)`, with
    the same activation as the routed experts. An optional
    `shared_expert_gate: 1 x D` (Qwen-MoE) scales the shared output by
    `sigmoid(x · shared_expert_gateᵀ)`.

    `moe-decompose` expands this op into route + dispatch + experts +
    combine (+ the shared FFN and an add).

    Example (Mixtral 8x7B):

    ```mlir
    %y = moe.layer %x router(%wr) gate_proj(%wg) up_proj(%wu)
        down_proj(%wd) top_k(2) score(softmax) normalize activation(silu_glu)
        : (tensor<?x4096xbf16>, tensor<8x4096xbf16>,
           tensor<8x14336x4096xbf16>, tensor<8x14336x4096xbf16>,
           tensor<8x4096x14336xbf16>) -> tensor<?x4096xbf16>
    ```
  }];
  let arguments = (ins
    MoE_ActivationTensor:$x,
    MoE_WeightTensor:$router_weight,
    Optional<MoE_F32Tensor>:$bias,
    Optional<MoE_WeightTensor>:$gate_proj,
    MoE_WeightTensor:$up_proj,
    MoE_WeightTensor:$down_proj,
    Optional<MoE_WeightTensor>:$shared_gate_proj,
    Optional<MoE_WeightTensor>:$shared_up_proj,
    Optional<MoE_WeightTensor>:$shared_down_proj,
    Optional<MoE_WeightTensor>:$shared_expert_gate,
    I64Attr:$top_k,
    DefaultValuedAttr<MoE_ScoreFunctionAttr, "ScoreFunction::Softmax">:$score,
    UnitAttr:$normalize,
    DefaultValuedAttr<F32Attr, "1.0f">:$scale,
    DefaultValuedAttr<I64Attr, "1">:$n_group,
    DefaultValuedAttr<I64Attr, "1">:$topk_group,
    DefaultValuedAttr<MoE_GroupScoreAttr, "GroupScore::Top2Sum">:$group_score,
    DefaultValuedAttr<MoE_DispatchModeAttr, "DispatchMode::Dropless">:$mode,
    OptionalAttr<F64Attr>:$capacity_factor,
    DefaultValuedAttr<I64Attr, "0">:$min_capacity,
    DefaultValuedAttr<MoE_DropPolicyAttr, "DropPolicy::Position">:$drop_policy,
    MoE_ActivationAttr:$activation
  );
  let results = (outs MoE_ActivationTensor:$result);
  let assemblyFormat = [{
    $x `router` `(` $router_weight `)` (`bias` `(` $bias^ `)`)?
    (`gate_proj` `(` $gate_proj^ `)`)? `up_proj` `(` $up_proj `)`
    `down_proj` `(` $down_proj `)`
    (`shared_gate_proj` `(` $shared_gate_proj^ `)`)?
    (`shared_up_proj` `(` $shared_up_proj^ `)`)?
    (`shared_down_proj` `(` $shared_down_proj^ `)`)?
    (`shared_expert_gate` `(` $shared_expert_gate^ `)`)?
    `top_k` `(` $top_k `)` (`score` `(` custom<EnumKeyword>($score)^ `)`)? (`normalize` $normalize^)?
    (`scale` `(` $scale^ `)`)? (`n_group` `(` $n_group^ `)`)?
    (`topk_group` `(` $topk_group^ `)`)? (`group_score` `(` custom<EnumKeyword>($group_score)^ `)`)?
    (`mode` `(` custom<EnumKeyword>($mode)^ `)`)? (`capacity_factor` `(` $capacity_factor^ `)`)?
    (`min_capacity` `(` $min_capacity^ `)`)?
    (`drop_policy` `(` custom<EnumKeyword>($drop_policy)^ `)`)?
    `activation` `(` custom<EnumKeyword>($activation) `)`
    attr-dict `:` functional-type(operands, results)
  }];
  let extraClassDeclaration = [{
    /// The number of routed experts E (from the router weight).
    int64_t getNumExperts() {
      return getRouterWeight().getType().getDimSize(0);
    }
    /// True when the layer has always-on shared experts.
    bool hasSharedExperts() { return static_cast<bool>(getSharedUpProj()); }
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// moe.repeat / moe.yield
//===----------------------------------------------------------------------===//

def MoE_RepeatOp : MoE_Op<"repeat", [
    RecursiveMemoryEffects, SingleBlock,
    DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmBlockArgumentNames"]>]> {
  let summary = "a block applied N times with the same weights";
  let description = [{
    Runs its body `count` times. The body's block arguments are the loop-
    carried values (`iter_args`), initialized from the operands; the body
    ends in `moe.yield` with the next values; the results are the values
    after the last iteration. The body reads its weights from values defined
    above the op, so every iteration uses the same weights: a block of P
    parameters repeated N times stores P and computes with N·P (density N).

    `schedule` says how to run it: `auto` (let `moe-schedule-repeats`
    decide), `unroll`, or `resident` (keep the body's weights in fast memory
    across iterations).

    Several blocks repeated in turn (ABAB) are one `moe.repeat` over a body
    holding both blocks; immediate repetition (AABB, MobileLLM) is one
    `moe.repeat` per block.

    Example:

    ```mlir
    %y = moe.repeat 4 iter_args(%h = %x) : tensor<?x576xf32> {
      %next = linalg.matmul ins(%h, %w : tensor<?x576xf32>, tensor<576x576xf32>)
                            outs(%init : tensor<?x576xf32>) -> tensor<?x576xf32>
      moe.yield %next : tensor<?x576xf32>
    }
    ```
  }];
  let arguments = (ins
    Variadic<AnyType>:$inits,
    I64Attr:$count,
    DefaultValuedAttr<MoE_RepeatScheduleAttr, "RepeatSchedule::Auto">:$schedule
  );
  let results = (outs Variadic<AnyType>:$results);
  let regions = (region SizedRegion<1>:$body);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let skipDefaultBuilders = 1;
  let builders = [
    OpBuilder<(ins "int64_t":$count, "::mlir::ValueRange":$inits,
                   CArg<"RepeatSchedule", "RepeatSchedule::Auto">:$schedule)>
  ];
  let extraClassDeclaration = [{
    /// The body's block (one block, ends in moe.yield).
    ::mlir::Block &getBodyBlock() { return getBody().front(); }
    /// The loop-carried block arguments.
    ::mlir::Block::BlockArgListType getRegionIterArgs() {
      return getBodyBlock().getArguments();
    }
  }];
}

def MoE_YieldOp : MoE_Op<"yield", [
    Pure, ReturnLike, Terminator, HasParent<"RepeatOp">]> {
  let summary = "ends a moe.repeat body with the next loop-carried values";
  let description = [{
    Terminates the body of `moe.repeat`; its operands become the block
    arguments of the next iteration, or the results after the last.

    ```mlir
    moe.yield %h_next : tensor<?x576xf32>
    ```
  }];
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
  let builders = [OpBuilder<(ins), [{ /* nothing to yield */ }]>];
}

//===----------------------------------------------------------------------===//
// moe.peer
//===----------------------------------------------------------------------===//

def MoE_PeerOp : MoE_Op<"peer", [NoMemoryEffect]> {
  let summary = "parameter-efficient expert retrieval over product keys";
  let description = [{
    A layer of N = n² single-neuron experts ("Mixture of a Million
    Experts"). Per token and head h:

    1. `q = x · query_weightᵀ (+ query_bias)`, the head's slice of width Dk
       split into halves `q1`, `q2`;
    2. score `q1` against the n sub-keys `keys[h, 0]` and `q2` against
       `keys[h, 1]` (each `n x Dk/2`), and keep the `top_k` of each;
    3. form the `top_k²` sums, keep their `top_k` best (order of `moe.topk`);
       the expert of sub-keys (i, j) is `i*n + j`;
    4. `g = softmax(selected scores)` (`score(softmax)`) or
       `relu(selected scores)` (`score(relu)`);
    5. `y += Σ_k g_k · act(down_embed[e_k] · x) · up_embed[e_k]`.

    `keys` is `H x 2 x n x (Dk/2)`, or `2 x n x (Dk/2)` shared by all
    heads; `down_embed`, `up_embed` are `N x D`. `query_weight` is
    `(H*Dk) x D`; a query batch-norm is folded into it and `query_bias` at
    inference. `activation` is `relu` (default) or `gelu`.

    Example (1024² experts, 8 heads, top 16, Dk = 256):

    ```mlir
    %y = moe.peer %x query(%wq) keys(%keys) down_embed(%u) up_embed(%v)
        heads(8) top_k(16)
        : (tensor<?x1024xf32>, tensor<2048x1024xf32>,
           tensor<8x2x1024x128xf32>, tensor<1048576x1024xf32>,
           tensor<1048576x1024xf32>) -> tensor<?x1024xf32>
    ```
  }];
  let arguments = (ins
    MoE_ActivationTensor:$x,
    MoE_WeightTensor:$query_weight,
    Optional<MoE_F32Tensor>:$query_bias,
    MoE_WeightTensor:$keys,
    MoE_WeightTensor:$down_embed,
    MoE_WeightTensor:$up_embed,
    I64Attr:$heads,
    I64Attr:$top_k,
    DefaultValuedAttr<MoE_ActivationAttr, "Activation::Relu">:$activation,
    DefaultValuedAttr<MoE_PeerScoreAttr, "PeerScore::Softmax">:$score
  );
  let results = (outs MoE_ActivationTensor:$result);
  let assemblyFormat = [{
    $x `query` `(` $query_weight (`,` $query_bias^)? `)` `keys` `(` $keys `)`
    `down_embed` `(` $down_embed `)` `up_embed` `(` $up_embed `)`
    `heads` `(` $heads `)` `top_k` `(` $top_k `)`
    (`activation` `(` custom<EnumKeyword>($activation)^ `)`)? (`score` `(` custom<EnumKeyword>($score)^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let extraClassDeclaration = [{
    /// The number of sub-keys per half, n (N = n * n experts).
    int64_t getNumSubKeys() {
      auto keysType = getKeys().getType();
      return keysType.getDimSize(keysType.getRank() - 2);
    }
    /// The query width per head, Dk.
    int64_t getQueryDimPerHead() {
      return getKeys().getType().getShape().back() * 2;
    }
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Auxiliary losses
//===----------------------------------------------------------------------===//

def MoE_LoadBalancingLossOp : MoE_Op<"load_balancing_loss", [NoMemoryEffect]> {
  let summary = "the Switch Transformer load-balancing loss";
  let description = [{
    `E · Σ_e f_e · P_e`, where `f_e` is the fraction of the T·K assignments
    in `indices` that went to expert e and `P_e` is the mean over tokens of
    `scores[:, e]` (the router probabilities). A perfectly balanced router
    gives 1.

    ```mlir
    %loss = moe.load_balancing_loss %scores, %indices
        : (tensor<?x8xf32>, tensor<?x2xi32>) -> f32
    ```
  }];
  let arguments = (ins MoE_F32Tensor:$scores, MoE_IndexTensor:$indices);
  let results = (outs F32:$loss);
  let assemblyFormat = [{
    $scores `,` $indices attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def MoE_RouterZLossOp : MoE_Op<"router_z_loss", [NoMemoryEffect]> {
  let summary = "the ST-MoE router z-loss";
  let description = [{
    The mean over tokens of `logsumexp(logits[t, :])²`, which keeps router
    logits small.

    ```mlir
    %z = moe.router_z_loss %logits : (tensor<?x8xf32>) -> f32
    ```
  }];
  let arguments = (ins MoE_F32Tensor:$logits);
  let results = (outs F32:$loss);
  let assemblyFormat = [{
    $logits attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

#endif // MOE_DIALECT_MOE_IR_MOEOPS_TD
