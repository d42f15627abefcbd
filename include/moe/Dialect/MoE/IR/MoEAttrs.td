//===- MoEAttrs.td - Attributes of the moe dialect ---------*- tablegen -*-===//
//
// `#moe.target`: the hardware description that the cost model plans for.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEATTRS_TD
#define MOE_DIALECT_MOE_IR_MOEATTRS_TD

include "moe/Dialect/MoE/IR/MoEBase.td"
include "moe/Dialect/MoE/IR/MoEEnums.td"

def MoE_TargetAttr : MoE_Attr<"Target", "target"> {
  let summary = "the hardware that the MoE cost model plans for";
  let description = [{
    Describes the machine a module is compiled for, in the terms the MoE
    passes need: how much fast memory holds a tile of expert weights, how
    wide the vectors are, how many cores or SMs share the work, and the two
    roofs of the roofline (memory bandwidth and peak FLOP/s).

    | parameter | CPU meaning | CUDA meaning |
    |---|---|---|
    | `kind` | `cpu` | `cuda` |
    | `fast_memory_bytes` | per-core L2 | shared memory per block |
    | `shared_cache_bytes` | shared L3 | L2 |
    | `vector_bits` | SIMD width (512 with AVX-512) | warp width x 32 bits |
    | `compute_units` | cores | SMs |
    | `bandwidth_gbps` | DRAM bandwidth, GB/s | HBM bandwidth, GB/s |
    | `peak_gflops` | f32 FMA peak, GFLOP/s | bf16 tensor-core peak, GFLOP/s |
    | `bf16_dot` | `avx512` with AVX512-BF16 (`vdpbf16ps`), else `none` | `none` |

    Every parameter but `kind` may be left out (or given as 0, or `unset`):
    it then takes the default for the kind, which for `cpu` is read from
    the host (caches from sysfs, cores, AVX-512 and AVX512-BF16 from the CPU
    features) and for `cuda` describes an H100 SXM. With `bf16_dot =
    avx512`, the expert kernels of bf16 models multiply with `vdpbf16ps`
    (pairs of bf16 products accumulated in f32); the code then needs a CPU
    with AVX512-BF16. `TargetAttr::withDefaults()` fills them in.

    Example:

    ```mlir
    module attributes {moe.target = #moe.target<kind = cpu,
        fast_memory_bytes = 1048576, shared_cache_bytes = 33554432,
        vector_bits = 512, compute_units = 2>} {}
    ```
  }];
  let parameters = (ins
    EnumParameter<MoE_TargetKind>:$kind,
    DefaultValuedParameter<"uint64_t", "0">:$fast_memory_bytes,
    DefaultValuedParameter<"uint64_t", "0">:$shared_cache_bytes,
    DefaultValuedParameter<"uint64_t", "0">:$vector_bits,
    DefaultValuedParameter<"uint64_t", "0">:$compute_units,
    DefaultValuedParameter<"uint64_t", "0">:$bandwidth_gbps,
    DefaultValuedParameter<"uint64_t", "0">:$peak_gflops,
    DefaultValuedParameter<"::mlir::moe::Bf16Dot",
                           "::mlir::moe::Bf16Dot::Unset">:$bf16_dot
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The description of the machine this process runs on: cache sizes
    /// from sysfs, the core count, and the vector width from the CPU
    /// features. Bandwidth and peak are estimates, not measurements.
    static TargetAttr getHostDefault(::mlir::MLIRContext *context);

    /// The default description of a CUDA target (an H100 SXM, sm_90).
    static TargetAttr getCudaDefault(::mlir::MLIRContext *context);

    /// This description with every unset (zero) parameter taken from the
    /// default for its kind.
    TargetAttr withDefaults() const;
  }];
}

def MoE_ExpertTilingAttr : MoE_Attr<"ExpertTiling", "expert_tiling"> {
  let summary = "how the lowering tiles and runs a moe.experts";
  let description = [{
    The tiling that `moe-tile-experts` chose for one `moe.experts` (or that
    a user wrote), read by its lowering:

    * `hidden_tile`: the F-tile. Per expert and token tile, the lowering
      walks F in tiles of this many hidden units: gate and up rows of the
      tile, the activation and the down columns of the tile run back to
      back, so the T x F intermediate exists only one tile at a time (the
      lowering rounds it to a multiple of the vector width dividing F).
    * `token_tile`: rows of an expert processed together; each weight
      element is read from memory once per token tile.
    * `kernel`: `gemv` (weights streamed row by row, vectors along the
      model dimension: the memory-bound decode form), `gemm` (rows
      transposed so that vectors run along tokens and each weight element
      is broadcast to a whole token tile: the compute-bound prefill form),
      or `auto` (the lowering picks per expert at run time: `gemm` for
      experts with at least `gemm_min_rows` rows).

    Example:

    ```mlir
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu)
        down_proj(%wd) activation(silu_glu) {tiling = #moe.expert_tiling<
        kernel = auto, hidden_tile = 128, token_tile = 32, gemm_min_rows = 8>}
        : (...) -> tensor<?x2048xf32>
    ```
  }];
  let parameters = (ins
    EnumParameter<MoE_ExpertKernel>:$kernel,
    "uint64_t":$hidden_tile,
    "uint64_t":$token_tile,
    DefaultValuedParameter<"uint64_t", "0">:$gemm_min_rows
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // MOE_DIALECT_MOE_IR_MOEATTRS_TD
