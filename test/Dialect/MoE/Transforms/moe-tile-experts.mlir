// RUN: moe-opt %s --moe-tile-experts --split-input-file | FileCheck %s --check-prefix=TARGET
// RUN: moe-opt %s --moe-tile-experts="fast-memory-bytes=262144" --split-input-file | FileCheck %s --check-prefix=SMALL
// RUN: moe-opt %s --moe-tile-experts="fast-memory-bytes=4194304" --split-input-file | FileCheck %s --check-prefix=LARGE
// RUN: moe-opt %s --moe-tile-experts="fast-memory-bytes=4194304 overwrite=true" --split-input-file | FileCheck %s --check-prefix=OVERWRITE

// OLMoE-sized experts (D 2048, F 1024, f32) on a target with 1 MiB of L2
// per core and AVX-512 (16 f32 lanes; the gemm register block covers 32
// tokens):
// * token tile: the transposed rows and output accumulators (2 x D x tile
//   x 4 B) get half the budget: 512 KiB / 16 KiB = 32 tokens;
// * F-tile: gate, up and down tiles (3 x D x 4 B = 24 KiB per hidden unit)
//   plus the hidden tile (2 x 32 x 4 B) share the other half: 21 units,
//   rounded down to a multiple of 16 that divides F = 16;
// * gemm from 32 / 4 = 8 rows per expert.
// With 256 KiB the F-tile stays at one vector (16) and the token tile at
// one register block (32); with 4 MiB both grow: 128 tokens, and 80
// hidden units rounded to a divisor of 1024: 64.

module attributes {moe.target = #moe.target<kind = cpu, fast_memory_bytes = 1048576, shared_cache_bytes = 33554432, vector_bits = 512, compute_units = 2>} {
  // TARGET-LABEL: func.func @olmoe_experts
  // TARGET: moe.experts {{.+}} tiling(<kernel = auto, hidden_tile = 16, token_tile = 32, gemm_min_rows = 8>)
  // SMALL-LABEL: func.func @olmoe_experts
  // SMALL: tiling(<kernel = auto, hidden_tile = 16, token_tile = 32, gemm_min_rows = 8>)
  // LARGE-LABEL: func.func @olmoe_experts
  // LARGE: tiling(<kernel = auto, hidden_tile = 64, token_tile = 128, gemm_min_rows = 8>)
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

// bf16 weights take half the bytes per hidden unit: twice the F-tile (41
// units -> 32) at the same budget. Plain activations (no gate) read two
// matrices per hidden unit instead of three.

module attributes {moe.target = #moe.target<kind = cpu, fast_memory_bytes = 1048576, vector_bits = 512>} {
  // TARGET-LABEL: func.func @bf16_experts
  // TARGET: tiling(<kernel = auto, hidden_tile = 32, token_tile = 32, gemm_min_rows = 8>)
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
  // TARGET: tiling(<kernel = auto, hidden_tile = 16, token_tile = 32, gemm_min_rows = 8>)
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
  // OVERWRITE: tiling(<kernel = auto, hidden_tile = 64, token_tile = 128, gemm_min_rows = 8>)
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
