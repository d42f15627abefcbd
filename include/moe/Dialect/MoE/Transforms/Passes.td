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

def MoERaiseDenseFFNPass : Pass<"moe-raise-dense-ffn"> {
  let summary = "run dense SwiGLU FFNs on the expert kernels";
  let description = [{
    Recognizes a dense SwiGLU FFN written as linalg ops,

    * `g = h · Wgᵀ` and `u = h · Wuᵀ`: `linalg.matmul` with transposed-B maps
      into zero-filled accumulators, of the same `h` ([T, D]) against
      static [F, D] weights;
    * `a = silu(g) · u`: one elementwise `linalg.generic` (identity maps,
      f32) whose body computes `g / (1 + exp(-g))` or
      `g · (1 / (1 + exp(-g)))` times `u`, the factors in either order, the
      1 on either side of the add, `-g` as `negf` or `0 - g`;
    * `y = a · Wdᵀ`: the same kind of matmul against a static [D, F] weight,
      `y` of `h`'s type;

    and replaces it with a `moe.experts` with one expert that every token
    goes to (segments `[0, T]`), the weights viewed as [1, F, D] and
    [1, D, F] by `tensor.expand_shape`, as `moe-decompose` runs a layer's
    shared experts. The tiled expert kernels then run it (decode streams
    each weight once and the cores share F; prefill runs the register-blocked
    gemm), and in a `moe.repeat` each core reads the same F-tiles in every
    iteration, so a block whose weights fit the cache reads them from there
    after the first. The FFN is left alone when `g`, `u` or `a` has another
    use, or when the weights' element types differ.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::moe::MoEDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def MoEFuseGatingPass : Pass<"moe-fuse-gating"> {
  let summary = "fuse unfused router chains into one moe.route";
  let description = [{
    Recognizes the router chains that importers emit and replaces each with
    one `moe.route`, whose lowering computes a token's logits, scores and
    top-k in one loop nest without writing the T x E logits. Every chain
    starts from a `linalg.matmul` of x against the [E, D] router weight
    (transposed-B maps, zero-filled f32 accumulator):

    * softmax, then top-k (Mixtral, OLMoE, Qwen-MoE): the matmul ->
      `linalg.softmax` over the experts -> `moe.topk` becomes
      `moe.route ... score(softmax)`; the top-k values are the weights.
    * sigmoid, then top-k: the matmul -> an elementwise
      `1 / (1 + exp(-l))` (the form torch-mlir, StableHLO and TOSA lower a
      sigmoid to; `-l` may be `0 - l`) -> `moe.topk` becomes
      `moe.route ... score(sigmoid)`.
    * top-k, then softmax (softmax over the selected logits): the matmul ->
      `moe.topk` -> `linalg.softmax` of the top-k values becomes
      `moe.route ... score(softmax_topk)`.
    * a selection bias (DeepSeek-V3's `e_score_correction_bias`): softmax
      or sigmoid scores `s`; `s + bias` with bias an E-vector broadcast
      over the tokens (read at `(t, e) -> (e)`, or a 1 x E tensor at
      `(t, e) -> (0, e)` as torch-mlir writes `bias.unsqueeze(0)`);
      `moe.topk` of that, its values unused; the weights gathered from the
      unbiased `s` at the indices, as torch-mlir lowers `torch.gather` (a
      `linalg.generic` over the indices whose body is
      `tensor.extract %s[linalg.index 0, index_cast(index)]`) becomes
      `moe.route ... bias(%bias)`.

    After a route:

    * dividing its weights by their sum over the top-k (`linalg.reduce` add
      over dimension 1 from a zero fill, then an elementwise
      `linalg.generic` divide that broadcasts the sum) sets `normalize`;
    * then multiplying them by a finite f32 constant > 0 (the routed
      scaling factor) sets `scale`.

    Elementwise steps (the sigmoid, the bias add, the multiply) are matched
    in any of the forms importers produce: one `linalg.generic` (or
    `linalg.map`) whose body holds the scalar ops, one op per generic or
    named elementwise op (what `convert-elementwise-to-linalg` makes of
    tensor code), or `arith`/`math` ops on whole tensors; constants may be
    scalars, splat tensors or fills.

    A chain is left alone when its logits, scores or another intermediate
    has a use outside it, or when a softmax, bias or sum runs over another
    dimension. Not recognized: group-limited routing (`n_group`), a
    normalization with an epsilon (`sum + 1e-20`) or by a kept-dimension
    T x 1 sum, and gathers written with `tensor.gather`. The fused route matches the chain up to float
    rounding; with `normalize`, a token whose selected scores are all
    exactly 0 (sigmoid logits below about -88) gets zeros where the chain
    divides 0 by 0.

    Before:

    ```mlir
    %l = linalg.matmul indexing_maps = [...] ins(%x, %w : ...) outs(%zero : tensor<?x8xf32>) -> tensor<?x8xf32>
    %p = linalg.softmax dimension(1) ins(%l : tensor<?x8xf32>) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
    %v, %i = moe.topk %p k(2) : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    ```

    After:

    ```mlir
    %v, %i = moe.route %x, %w top_k(2) : (...) -> (tensor<?x2xf32>, tensor<?x2xi32>)
    ```

    DeepSeek-V3 without groups (sigmoid, bias, gather, divide by the sum,
    times 2.5) becomes:

    ```mlir
    %v, %i = moe.route %x, %w bias(%b) top_k(8) score(sigmoid) normalize scale(2.500000e+00)
        : (...) -> (tensor<?x8xf32>, tensor<?x8xi32>)
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def MoETileExpertsPass : Pass<"moe-tile-experts"> {
  let summary = "choose the F-tile, token tile and kernel of each moe.experts";
  let description = [{
    Runs the expert cost model (`chooseExpertTiling` in the Analysis
    library) on every `moe.experts` without a `tiling` attribute and
    records its choice as `#moe.expert_tiling`:

    * the token tile is the largest multiple of the register block's
      tokens (32 with AVX-512, at most 256) whose transposed rows and f32
      output accumulators (2 x D x tile x 4 B) fit half the per-core
      fast-memory budget: each expert's weights stream from DRAM once per
      token tile;
    * the F-tile is the largest multiple of the vector width that divides
      F, is at most 256, and whose hidden tile (F-tile x token tile x 4 B)
      fits an eighth of the budget: gate, up, activation and down run per
      F-tile, so the T x F intermediate never exists beyond one tile;
    * `kernel = auto` with `gemm_min_rows` (one register block of tokens:
      below it the gemv form issues fewer FMAs per weight), unless
      `moe-specialize-tokens` fixes it per variant.

    The budget is the module's `#moe.target` (or the host's), unless the
    `fast-memory-bytes` option overrides it.

    ```mlir
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu)
        down_proj(%wd) activation(silu_glu) : (...) -> tensor<?x2048xf32>
    // becomes, for a 1 MiB budget and D = 2048, F = 1024:
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu)
        down_proj(%wd) activation(silu_glu)
        tiling(#moe.expert_tiling<kernel = auto, hidden_tile = 256,
               token_tile = 32, gemm_min_rows = 32>) : (...) -> tensor<?x2048xf32>
    ```
  }];
  let options = [
    Option<"fastMemoryBytes", "fast-memory-bytes", "uint64_t",
           /*default=*/"0",
           "fast-memory budget in bytes (0: the module's #moe.target)">,
    Option<"overwrite", "overwrite", "bool", /*default=*/"false",
           "replace tilings that are already present">
  ];
}

def MoESpecializeTokensPass : Pass<"moe-specialize-tokens",
                                   "::mlir::func::FuncOp"> {
  let summary = "multi-version a function on its token count: decode and "
                "prefill variants";
  let description = [{
    A function whose `moe.experts` ops run on a dynamic number of rows gets
    one variant per regime, selected at run time by the token count `T`
    (dimension 0 of the first dynamically shaped argument):

    * decode (`T < threshold`): every `moe.experts` uses `kernel = gemv`,
      the memory-bound form;
    * prefill (`T >= threshold`): `kernel = gemm`, the compute-bound form.

    The threshold comes from the cost model (`chooseTokenThreshold`: the
    token count at which the average expert has enough rows for the
    blocked kernel), or from the `threshold` option. The variants are the
    two regions of an `scf.if` on `T`; a function with static shapes is
    specialized at compile time instead (only its regime's kernel is set).

    ```mlir
    func.func @layer(%x: tensor<?x2048xf32>, ...) -> tensor<?x2048xf32> {
      %t = tensor.dim %x, %c0 : tensor<?x2048xf32>
      %decode = arith.cmpi ult, %t, %threshold : index
      %y = scf.if %decode -> (tensor<?x2048xf32>) {
        ... moe.experts ... tiling(#moe.expert_tiling<kernel = gemv, ...>)
      } else {
        ... moe.experts ... tiling(#moe.expert_tiling<kernel = gemm, ...>)
      }
      return %y : tensor<?x2048xf32>
    }
    ```
  }];
  let options = [
    Option<"threshold", "threshold", "uint64_t", /*default=*/"0",
           "token count from which the prefill variant runs (0: from the "
           "cost model)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def MoEApproximateVectorMathPass : Pass<"moe-approximate-vector-math"> {
  let summary = "replace exp, erf and tanh on vectors by polynomial "
                "approximations";
  let description = [{
    LLVM has no vector exp or erf for x86 without a vector math library: a
    `math.exp` on `vector<16xf32>` becomes 16 calls to `expf`. This pass
    rewrites the
    `math.exp`, `math.erf` and `math.tanh` ops whose operands are f32
    vectors into MLIR's polynomial approximations (arith ops on vectors,
    within a few ulp of libm); scalar math ops keep their exact lowering.
    It is not part of `moe-cpu-pipeline` (the activations are a small part
    of the expert kernels' work; see docs/design.md).

    ```mlir
    %e = math.exp %v : vector<16xf32>
    // becomes a range reduction, a polynomial and an exponent bit-shift,
    // all on vector<16xf32>.
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def MoEScheduleRepeatsPass : Pass<"moe-schedule-repeats"> {
  let summary = "unroll, keep, or keep resident each moe.repeat";
  let description = [{
    Decides, per `moe.repeat` with `schedule(auto)`, how it runs, using the
    repeat cost model (`chooseRepeatSchedule` in the Analysis library), in
    this order:

    * `unroll` when the count is 1: nothing is reused, and the body is
      simply inlined;
    * `resident` when the body's weights (the statically shaped tensors it
      reads from above) fit the fast-memory budget (the shared cache on
      CPU): the loop is kept, and what depends only on values defined
      outside the body is computed once before it, so every iteration
      reuses the same copy of the weights from cache;
    * `unroll` when the count is at most `max-unroll-count` and the
      unrolled code is small (count x body ops <= 256): the body is cloned
      `count` times, the iter_args of each copy replaced by the yields of
      the previous one (then the repeat is gone);
    * otherwise the loop is kept as it is (schedule stays `auto`).

    Explicit `unroll` repeats are unrolled; explicit `resident` ones are
    kept, and their loop-invariant code is hoisted too. The budget is the
    module's `#moe.target` (its `shared_cache_bytes`, or the host's) unless
    `cache-bytes` overrides it. Nested repeats are scheduled innermost
    first, so what an inner one hoists may leave the outer one too.

    Hoisting moves the memory-effect-free ops whose operands (also those
    used in their regions) are all defined outside the body to just before
    the repeat; the body runs at least once, so this never computes
    anything that would not have been computed. Initializations
    (`tensor.empty`, `linalg.fill`) that are hoisted only because their
    operands are invariant are copied back next to their users in the body:
    a shared init tensor would make bufferization copy it every iteration.

    Before (a 16 KiB weight, a 1 MiB cache):

    ```mlir
    %y = moe.repeat 8 iter_args(%h = %x) : tensor<?x64xf32> {
      %e = tensor.empty() : tensor<64x64xf32>
      %wt = linalg.transpose ins(%w : tensor<64x64xf32>)
          outs(%e : tensor<64x64xf32>) permutation = [1, 0]
      %next = linalg.matmul ins(%h, %wt : ...) outs(...) -> tensor<?x64xf32>
      moe.yield %next : tensor<?x64xf32>
    }
    ```

    After:

    ```mlir
    %e = tensor.empty() : tensor<64x64xf32>
    %wt = linalg.transpose ins(%w : tensor<64x64xf32>)
        outs(%e : tensor<64x64xf32>) permutation = [1, 0]
    %y = moe.repeat 8 schedule(resident) iter_args(%h = %x) : tensor<?x64xf32> {
      %next = linalg.matmul ins(%h, %wt : ...) outs(...) -> tensor<?x64xf32>
      moe.yield %next : tensor<?x64xf32>
    }
    ```
  }];
  let options = [
    Option<"cacheBytes", "cache-bytes", "uint64_t", /*default=*/"0",
           "bytes of cache that may hold a resident body's weights (0: "
           "the shared cache of the module's #moe.target)">,
    Option<"maxUnrollCount", "max-unroll-count", "uint64_t",
           /*default=*/"4",
           "largest repeat count that an auto repeat may be unrolled to">
  ];
}

def MoEDecomposeAggregateOpsPass : Pass<"moe-decompose-aggregate-ops"> {
  let summary = "expand linalg aggregate ops (linalg.softmax) into generics";
  let description = [{
    Ops with `AggregatedOpInterface`, such as the `linalg.softmax` that an
    unfused router chain uses, have no bufferization or loop lowering of
    their own; this pass replaces each with the linalg ops it stands for
    (max, subtract and exp, sum, divide), so that a chain that
    `moe-fuse-gating` left alone still compiles.

    ```mlir
    %p = linalg.softmax dimension(1) ins(%l : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
    // becomes linalg.generic reductions and elementwise generics.
    ```
  }];
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

def MoEVerifyLoweringContractPass
    : Pass<"moe-verify-lowering-contract", "::mlir::ModuleOp"> {
  let summary = "fail loudly if an op that a lowering stage removes is left";
  let description = [{
    A check that changes nothing. Each stage of a moe pipeline promises to
    remove a set of ops; this pass, run at the end of the stage, fails on
    the first op (in pre-order) that breaks the promise, and names it:

    * `linalg`: no op of the `moe` dialect is left.
    * `bufferized`: no `moe` op, and no value of tensor type (operand,
      result or block argument) is left: everything works on memrefs.
    * `loops`: as `bufferized`, and no `linalg` op and no `scf.forall` is
      left: everything is `scf.for`/`scf.parallel` (or `omp`) loops, or
      `gpu.launch` kernels.
    * `llvm`: nothing but `builtin.module` and ops of the `llvm` and `omp`
      dialects is left (and, from `moe-gpu-pipeline`, the `gpu.binary`
      kernels with the `gpu.launch_func` ops that launch them), ready for
      translation to LLVM IR.

    Example:

    ```
    $ moe-opt graph.mlir --moe-verify-lowering-contract=stage=linalg
    graph.mlir:3:8: error: 'moe.topk' op is left after the 'linalg' stage,
        which promises no moe ops
    ```
  }];
  let options = [
    Option<"stage", "stage", "::mlir::moe::LoweringStage",
           /*default=*/"::mlir::moe::LoweringStage::LLVM",
           "the stage whose promise to check",
           [{::llvm::cl::values(
             clEnumValN(::mlir::moe::LoweringStage::Linalg, "linalg",
                        "no moe ops"),
             clEnumValN(::mlir::moe::LoweringStage::Bufferized, "bufferized",
                        "no moe ops, no tensors"),
             clEnumValN(::mlir::moe::LoweringStage::Loops, "loops",
                        "no tensors, no linalg ops, no scf.forall"),
             clEnumValN(::mlir::moe::LoweringStage::LLVM, "llvm",
                        "only llvm and omp ops (and gpu.binary kernels) in "
                        "a builtin.module"))}]>
  ];
}

def MoEProtectEntryArgumentsPass
    : Pass<"moe-protect-entry-arguments", "::mlir::ModuleOp"> {
  let summary = "keep bufferization from writing into the arguments of "
                "public functions";
  let description = [{
    Tensors have value semantics, but one-shot bufferization treats the
    buffers of function arguments as writable: a linalg op that uses an
    argument as its `outs` would write into the caller's input (and
    moe-run `--bench`, C callers calling twice, would see their inputs
    change). This pass marks every tensor argument of every public function
    with a body `bufferization.writable = false`, so bufferization copies
    before it writes. Private functions are left to the analysis: their
    callers are in the module.

    After:

    ```mlir
    func.func @f(%x: tensor<3xf64> {bufferization.writable = false})
    ```
  }];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect"];
}

def MoEAnnotateEntryPointsPass
    : Pass<"moe-annotate-entry-points", "::mlir::ModuleOp"> {
  let summary = "record the buffer signature of public functions for the "
                "runners and ask for C-interface wrappers";
  let description = [{
    Runs on bufferized `func.func`s, just before `convert-func-to-llvm`.
    Every public function with a body gets:

    * `moe.signature`: its function type (memrefs and scalars), which
      survives the conversion to `llvm.func`, so that `moe-run` and
      `moe-compile --header` can still call and declare a function that
      reaches them already in the LLVM dialect;
    * with `c-interface` (the default), `llvm.emit_c_interface`, so that
      `convert-func-to-llvm` adds a `_mlir_ciface_<name>` wrapper that takes
      memref descriptors by pointer (and returns memrefs or several results
      through a pointer to a struct in its first argument).

    Private functions with a body (the deallocation pipeline's helpers) get
    `llvm.linkage = #llvm.linkage<internal>`, so that two compiled modules
    can be linked into one program.

    Before:

    ```mlir
    func.func @f(%x: memref<?x16xf32>) -> memref<?x16xf32>
    ```

    After:

    ```mlir
    func.func @f(%x: memref<?x16xf32>) -> memref<?x16xf32>
        attributes {llvm.emit_c_interface,
                    moe.signature = (memref<?x16xf32>) -> memref<?x16xf32>}
    ```
  }];
  let options = [
    Option<"cInterface", "c-interface", "bool", /*default=*/"true",
           "add llvm.emit_c_interface to every public function">
  ];
  // For #llvm.linkage.
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def MoELowerLinalgToLoopsPass
    : Pass<"moe-lower-linalg-to-loops", "::mlir::func::FuncOp"> {
  let summary = "lower linalg ops on buffers to loops, parallel where no "
                "enclosing loop is";
  let description = [{
    Lowers every linalg op with buffer semantics to loops. An op that is not
    inside a parallel loop (`scf.forall`, `scf.parallel`) gets an
    `scf.parallel` over its parallel dimensions (its reduction dimensions
    are `scf.for` loops inside), which `convert-scf-to-openmp` runs on all
    cores: the dense parts of a graph (shared experts, attention and FFN
    matmuls of a MobileLLM block, fills and copies of whole activations)
    would otherwise run on one thread. An op inside a parallel loop (the
    per-expert matmuls of `moe.experts`, the per-token work of `moe.route`)
    gets plain `scf.for` loops: its iterations already run in parallel, and
    a nested OpenMP region would only add fork/join overhead.

    Before:

    ```mlir
    linalg.matmul ins(%a, %b : memref<16x64xf32>, memref<64x32xf32>)
                  outs(%c : memref<16x32xf32>)
    ```

    After:

    ```mlir
    scf.parallel (%i, %j) = (%c0, %c0) to (%c16, %c32) step (%c1, %c1) {
      scf.for %k = %c0 to %c64 step %c1 {
        // load, mulf, addf, store
      }
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def MoEApplyLoopSchedulesPass
    : Pass<"moe-apply-loop-schedules"> {
  let summary = "give the OpenMP loops whose iterations differ in cost a "
                "dynamic schedule";
  let description = [{
    Runs after `convert-scf-to-openmp`. Every `omp.wsloop` whose location is
    a fused location with the metadata `"moe.dynamic_schedule"` gets
    `schedule(dynamic)`; the others keep OpenMP's static schedule, under
    which each thread takes the same range of iterations in every call.

    `convert-moe-to-linalg` marks this way the parallel loop over the
    experts with rows when each iteration runs a whole expert (prefill):
    the experts' row counts differ with the routing (the skewed case: a
    hot set of 16 experts sharing T x K rows unevenly), so a static split
    leaves one core idle while the other finishes. The loop over
    (expert, F-tile run) of decode and of a resident repeat block stays
    static: its iterations cost the same, and each core re-reading its own
    slice of the weights is what keeps them in its cache.

    The marker is location metadata because neither `scf-forall-to-parallel`
    nor `convert-scf-to-openmp` keeps an op's attributes, while every
    conversion keeps its location.

    Before:

    ```mlir
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) { ... }
    } loc(fused<"moe.dynamic_schedule">[#loc])
    ```

    After:

    ```mlir
    omp.wsloop schedule(dynamic) {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) { ... }
    } loc(fused<"moe.dynamic_schedule">[#loc])
    ```
  }];
  let dependentDialects = ["::mlir::omp::OpenMPDialect"];
}

def MoEReassociateFloatArithPass
    : Pass<"moe-reassociate-float-arith"> {
  let summary = "let LLVM reassociate and contract float adds and multiplies, "
                "so that reductions vectorize and use FMA";
  let description = [{
    Adds the `reassoc` and `contract` fast-math flags to every `arith.addf`,
    `arith.subf` and `arith.mulf`. Lowered to loops, a
    matmul against an `[out, in]` weight is a loop nest whose innermost loop
    is a float sum over `in`; without `reassoc`, LLVM must keep the
    sequential order and runs it one scalar add at a time, and without
    `contract` it cannot fuse the multiply and the add into an FMA. With
    them, the loop vectorizes to the host's width (AVX-512 where present):
    for an OLMoE-sized layer at one token this is the difference between
    compute-bound (30.8 ms) and memory-bound (3.6 ms) on a 2-core EPYC.

    The flags change the order of float additions only (results differ in
    the last bits, within the f32 tolerances of DESIGN.md section 8). They
    do not assume the absence of NaN, infinities or signed zeros (`nnan`,
    `ninf`, `nsz`), so top-k's NaN ranking and the -inf masks of
    group-limited routing keep their meaning; comparisons, min/max and
    divisions are left alone.

    Before:

    ```mlir
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    ```

    After:

    ```mlir
    %p = arith.mulf %a, %b fastmath<reassoc,contract> : f32
    %s = arith.addf %acc, %p fastmath<reassoc,contract> : f32
    ```
  }];
}

def MoEGPUOffloadPass : Pass<"moe-gpu-offload", "::mlir::func::FuncOp"> {
  let summary = "run every loop nest that touches memory as a GPU kernel; "
                "host code only sizes launches and manages device buffers";
  let description = [{
    The step of `moe-gpu-pipeline` that decides what runs on the device. It
    works on buffers after `moe-lower-linalg-to-loops`, where the parallel
    work is `scf.parallel` and the rest is sequential code, and makes the
    function a host program that never reads or writes a buffer itself:

    * each `scf.parallel` at host level becomes a `gpu.launch` with one
      thread per iteration (1-D blocks of `block-size` threads, the
      iterations delinearized, innermost dimension fastest, so that
      neighbouring threads touch neighbouring elements); an empty iteration
      space launches one block of idle threads rather than branching on the
      host around the launch, which would break the stream's run of
      asynchronous work. Parallel loops nested inside run sequentially in
      their thread;
    * sequential code that touches memory (the counting sort of
      `moe.dispatch`, a loop carrying a reduction) becomes a launch of a
      single thread, in order with the kernels around it. A scalar it
      computes that host code needs (a loop bound) is copied back through a
      one-element buffer; a buffer view computed from device data cannot be
      and is an error;
    * `memref.alloc`/`dealloc` at host level become `gpu.alloc`/`dealloc`
      (device memory), `memref.copy` between contiguous buffers becomes
      `gpu.memcpy` and any other copy a kernel. Inside kernels, buffers of
      static size become `memref.alloca` at the top of the kernel (thread-
      private, in registers or local memory), and copies become loops.

    Entry points take and return device buffers (any pointer the CUDA
    driver accepts in a kernel: `cuMemAlloc`, managed or registered host
    memory). Launches carry no async tokens: `gpu-to-llvm` runs each one on
    a stream it synchronizes, so the launches, copies and host code run in
    program order.

    Example:

    ```mlir
    scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c64) step (%c1, %c1) {
      ...
    }
    // becomes
    %total = arith.muli %n, %c64 : index
    // %grid = max(ceildiv(%total, 256), 1)
    gpu.launch blocks(...) in (%gx = %grid, ...) threads(...) in (%bx = %c256, ...) {
      // %id = block_id * 256 + thread_id; if %id < %total:
      // %i = %id / 64, %j = %id mod 64, then the loop body
    }
    ```
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "threads per block of the launches of parallel loops">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def MoEGPUEmulateOnHostPass
    : Pass<"moe-gpu-emulate-on-host", "::mlir::func::FuncOp"> {
  let summary = "run gpu.launch kernels as parallel loops on the host, for "
                "testing GPU code without a GPU";
  let description = [{
    Turns each `gpu.launch` into an `scf.parallel` over its blocks and
    threads whose body is the kernel's, and `gpu.alloc`/`dealloc`/`memcpy`
    into their `memref` counterparts, so that the output of
    `moe-gpu-offload` runs through the CPU lowering and can be checked
    against the reference on a machine without a GPU: the kernels' index
    arithmetic, guards, delinearization and buffer placement are the ones
    that run on the device. Only kernels without barriers, shared memory or
    warp operations have a meaning as independent iterations; others are
    rejected with an error.
  }];
  let dependentDialects = [
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

#endif // MOE_DIALECT_MOE_TRANSFORMS_PASSES_TD
