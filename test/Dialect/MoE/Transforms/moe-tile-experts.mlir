// RUN: moe-opt %s --moe-tile-experts --split-input-file | FileCheck %s --check-prefix=TARGET
// RUN: moe-opt %s --moe-tile-experts="fast-memory-bytes=65536" --split-input-file | FileCheck %s --check-prefix=SMALL
// RUN: moe-opt %s --moe-tile-experts="fast-memory-bytes=4194304" --split-input-file | FileCheck %s --check-prefix=LARGE
// RUN: moe-opt %s --moe-tile-experts="fast-memory-bytes=4194304 overwrite=true" --split-input-file | FileCheck %s --check-prefix=OVERWRITE

// OLMoE-sized experts (D 2048, F 1024, f32) on a target with 1 MiB of L2
// per core and AVX-512 (16 f32 lanes; the gemm register block covers 32
// tokens):
// * token tile: the transposed rows and output accumulators (2 x D x tile
//   x 4 B) get the budget: 1 MiB / 16 KiB = 64 tokens;
// * F-tile: the hidden tile (F-tile x token tile x 4 B) gets an eighth:
//   128 KiB / 256 B = 512, capped at 256 (a multiple of 16 dividing F);
// * gemm from half a vector of rows (8) per expert.
// With 64 KiB the token tile stays at one register block (32) and the
// F-tile shrinks to 8 KiB / 128 B = 64; with 4 MiB the token tile grows to
// its cap of 8 register blocks (4 MiB / 16 KiB = 256 tokens).

module attributes {moe.target = #moe.target<kind = cpu, fast_memory_bytes = 1048576, shared_cache_bytes = 33554432, vector_bits = 512, compute_units = 2>} {
  // TARGET-LABEL: func.func @olmoe_experts
  // TARGET: moe.experts {{.+}} tiling(<kernel = auto, hidden_tile = 256, token_tile = 64, gemm_min_rows = 8>)
  // SMALL-LABEL: func.func @olmoe_experts
  // SMALL: tiling(<kernel = auto, hidden_tile = 64, token_tile = 32, gemm_min_rows = 8>)
  // LARGE-LABEL: func.func @olmoe_experts
  // LARGE: tiling(<kernel = auto, hidden_tile = 256, token_tile = 256, gemm_min_rows = 8>)
  func.func @olmoe_experts(%rows: tensor<?x2048xf32>, %offsets: tensor<65xi32>,
      %wg: tensor<64x1024x2048xf32>, %wu: tensor<64x1024x2048xf32>,
      %wd: tensor<64x2048x1024xf32>) -> tensor<?x2048xf32> {
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu)
        down_proj(%wd) activation(silu_glu)
        : (tensor<?x2048xf32>, tensor<65xi32>, tensor<64x1024x2048xf32>,
           tensor<64x1024x2048xf32>, tensor<64x2048x1024xf32>)
        -> tensor<?x2048xf32>
    return %y : tensor<?x2048xf32>
  }
}

// -----

// The tile buffers are f32 whatever the weights, so bf16 weights and plain
// activations (no gate) get the same tiles as f32 SwiGLU experts.

module attributes {moe.target = #moe.target<kind = cpu, fast_memory_bytes = 1048576, vector_bits = 512>} {
  // TARGET-LABEL: func.func @bf16_experts
  // TARGET: tiling(<kernel = auto, hidden_tile = 256, token_tile = 64, gemm_min_rows = 8>)
  func.func @bf16_experts(%rows: tensor<?x2048xbf16>, %offsets: tensor<65xi32>,
      %wg: tensor<64x1024x2048xbf16>, %wu: tensor<64x1024x2048xbf16>,
      %wd: tensor<64x2048x1024xbf16>) -> tensor<?x2048xbf16> {
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu)
        down_proj(%wd) activation(silu_glu)
        : (tensor<?x2048xbf16>, tensor<65xi32>, tensor<64x1024x2048xbf16>,
           tensor<64x1024x2048xbf16>, tensor<64x2048x1024xbf16>)
        -> tensor<?x2048xbf16>
    return %y : tensor<?x2048xbf16>
  }

  // TARGET-LABEL: func.func @plain_experts
  // TARGET: tiling(<kernel = auto, hidden_tile = 256, token_tile = 64, gemm_min_rows = 8>)
  func.func @plain_experts(%rows: tensor<?x2048xf32>, %offsets: tensor<9xi32>,
      %wu: tensor<8x1024x2048xf32>, %wd: tensor<8x2048x1024xf32>)
      -> tensor<?x2048xf32> {
    %y = moe.experts %rows, %offsets up_proj(%wu) down_proj(%wd)
        activation(gelu)
        : (tensor<?x2048xf32>, tensor<9xi32>, tensor<8x1024x2048xf32>,
           tensor<8x2048x1024xf32>) -> tensor<?x2048xf32>
    return %y : tensor<?x2048xf32>
  }
}

// -----

// A hidden size that is not a multiple of the vector width is one tile;
// a small model dimension lets the token tile grow to its cap (8 register
// blocks = 256 tokens).

module attributes {moe.target = #moe.target<kind = cpu, fast_memory_bytes = 1048576, vector_bits = 512>} {
  // TARGET-LABEL: func.func @odd_hidden
  // TARGET: tiling(<kernel = auto, hidden_tile = 40, token_tile = 256, gemm_min_rows = 8>)
  func.func @odd_hidden(%rows: tensor<?x24xf32>, %offsets: tensor<9xi32>,
      %wg: tensor<8x40x24xf32>, %wu: tensor<8x40x24xf32>,
      %wd: tensor<8x24x40xf32>) -> tensor<?x24xf32> {
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu)
        down_proj(%wd) activation(silu_glu)
        : (tensor<?x24xf32>, tensor<9xi32>, tensor<8x40x24xf32>,
           tensor<8x40x24xf32>, tensor<8x24x40xf32>) -> tensor<?x24xf32>
    return %y : tensor<?x24xf32>
  }
}

// -----

// A tiling that is already there (written by a user) is kept, unless
// overwrite=true.

module attributes {moe.target = #moe.target<kind = cpu, fast_memory_bytes = 1048576, vector_bits = 512>} {
  // TARGET-LABEL: func.func @user_tiling
  // TARGET: tiling(<kernel = gemm, hidden_tile = 128, token_tile = 64>)
  // OVERWRITE-LABEL: func.func @user_tiling
  // OVERWRITE: tiling(<kernel = auto, hidden_tile = 256, token_tile = 256, gemm_min_rows = 8>)
  func.func @user_tiling(%rows: tensor<?x2048xf32>, %offsets: tensor<65xi32>,
      %wg: tensor<64x1024x2048xf32>, %wu: tensor<64x1024x2048xf32>,
      %wd: tensor<64x2048x1024xf32>) -> tensor<?x2048xf32> {
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu)
        down_proj(%wd) activation(silu_glu)
        tiling(#moe.expert_tiling<kernel = gemm, hidden_tile = 128, token_tile = 64>)
        : (tensor<?x2048xf32>, tensor<65xi32>, tensor<64x1024x2048xf32>,
           tensor<64x1024x2048xf32>, tensor<64x2048x1024xf32>)
        -> tensor<?x2048xf32>
    return %y : tensor<?x2048xf32>
  }
}
