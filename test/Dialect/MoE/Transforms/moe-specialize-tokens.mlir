// RUN: moe-opt %s --moe-tile-experts --moe-specialize-tokens --split-input-file | FileCheck %s --enable-var-scope
// RUN: moe-opt %s --moe-specialize-tokens="threshold=5" --split-input-file | FileCheck %s --check-prefix=OPTION

// A layer on a dynamic token count: the body becomes an scf.if on T with a
// decode variant (gemv experts) and a prefill variant (gemm experts, gemv
// for an expert with fewer than gemm_min_rows rows: kernel auto). The
// threshold is the cost model's: T from which an average expert has
// gemm_min_rows = 8 rows, 8 x E / K = 8 x 64 / 8 = 64 tokens. Each variant
// gets the cost model's tiles for its kernel (gemv: an F-tile of up to
// 4096 and at most F / cores, here 1024 / 2 = 512; gemm: 256).

module attributes {moe.target = #moe.target<kind = cpu, fast_memory_bytes = 1048576, vector_bits = 512, compute_units = 2>} {
  // CHECK-LABEL: func.func @olmoe
  // CHECK-SAME: (%[[X:.+]]: tensor<?x2048xf32>,
  // CHECK: %[[T:.+]] = tensor.dim %[[X]], %c0
  // CHECK: %[[DECODE:.+]] = arith.cmpi ult, %[[T]], %c64
  // CHECK: %[[Y:.+]] = scf.if %[[DECODE]] -> (tensor<?x2048xf32>) {
  // CHECK: moe.route
  // CHECK: moe.dispatch
  // CHECK: moe.experts {{.+}} tiling(<kernel = gemv, hidden_tile = 512, token_tile = 64>)
  // CHECK: moe.combine
  // CHECK: scf.yield
  // CHECK: } else {
  // CHECK: moe.route
  // CHECK: moe.experts {{.+}} tiling(<kernel = auto, hidden_tile = 256, token_tile = 64, gemm_min_rows = 8>)
  // CHECK: scf.yield
  // CHECK: return %[[Y]]

  // OPTION-LABEL: func.func @olmoe
  // OPTION: arith.cmpi ult, %{{.+}}, %c5
  func.func @olmoe(%x: tensor<?x2048xf32>, %wr: tensor<64x2048xf32>,
      %wg: tensor<64x1024x2048xf32>, %wu: tensor<64x1024x2048xf32>,
      %wd: tensor<64x2048x1024xf32>) -> tensor<?x2048xf32> {
    %w, %i = moe.route %x, %wr top_k(8)
        : (tensor<?x2048xf32>, tensor<64x2048xf32>)
        -> (tensor<?x8xf32>, tensor<?x8xi32>)
    %rows, %offsets, %row_of = moe.dispatch %x, %i num_experts(64)
        : (tensor<?x2048xf32>, tensor<?x8xi32>)
        -> (tensor<?x2048xf32>, tensor<65xi32>, tensor<?x8xi32>)
    %out = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu)
        down_proj(%wd) activation(silu_glu)
        : (tensor<?x2048xf32>, tensor<65xi32>, tensor<64x1024x2048xf32>,
           tensor<64x1024x2048xf32>, tensor<64x2048x1024xf32>)
        -> tensor<?x2048xf32>
    %y = moe.combine %out, %w, %row_of
        : (tensor<?x2048xf32>, tensor<?x8xf32>, tensor<?x8xi32>)
        -> tensor<?x2048xf32>
    return %y : tensor<?x2048xf32>
  }
}

// -----

// Static token counts are specialized at compile time: T = 1 is decode,
// T = 512 is prefill; no scf.if.

module attributes {moe.target = #moe.target<kind = cpu, fast_memory_bytes = 1048576, vector_bits = 512>} {
  // CHECK-LABEL: func.func @decode_static
  // CHECK-NOT: scf.if
  // CHECK: tiling(<kernel = gemv,
  func.func @decode_static(%rows: tensor<1x64xf32>, %offsets: tensor<9xi32>,
      %wu: tensor<8x128x64xf32>, %wd: tensor<8x64x128xf32>)
      -> tensor<1x64xf32> {
    %y = moe.experts %rows, %offsets up_proj(%wu) down_proj(%wd)
        activation(relu)
        : (tensor<1x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>,
           tensor<8x64x128xf32>) -> tensor<1x64xf32>
    return %y : tensor<1x64xf32>
  }

  // CHECK-LABEL: func.func @prefill_static
  // CHECK-NOT: scf.if
  // CHECK: tiling(<kernel = auto,
  func.func @prefill_static(%rows: tensor<512x64xf32>, %offsets: tensor<9xi32>,
      %wu: tensor<8x128x64xf32>, %wd: tensor<8x64x128xf32>)
      -> tensor<512x64xf32> {
    %y = moe.experts %rows, %offsets up_proj(%wu) down_proj(%wd)
        activation(relu)
        : (tensor<512x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>,
           tensor<8x64x128xf32>) -> tensor<512x64xf32>
    return %y : tensor<512x64xf32>
  }
}

// -----

// A kernel a user fixed is kept in both variants; functions without
// moe.experts are left alone.

module attributes {moe.target = #moe.target<kind = cpu, fast_memory_bytes = 1048576, vector_bits = 512>} {
  // CHECK-LABEL: func.func @user_kernel
  // CHECK: scf.if
  // CHECK: tiling(<kernel = gemm, hidden_tile = 64, token_tile = 32>)
  // CHECK: } else {
  // CHECK: tiling(<kernel = gemm, hidden_tile = 64, token_tile = 32>)
  func.func @user_kernel(%rows: tensor<?x64xf32>, %offsets: tensor<9xi32>,
      %wu: tensor<8x128x64xf32>, %wd: tensor<8x64x128xf32>)
      -> tensor<?x64xf32> {
    %y = moe.experts %rows, %offsets up_proj(%wu) down_proj(%wd)
        activation(relu)
        tiling(#moe.expert_tiling<kernel = gemm, hidden_tile = 64, token_tile = 32>)
        : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>,
           tensor<8x64x128xf32>) -> tensor<?x64xf32>
    return %y : tensor<?x64xf32>
  }

  // CHECK-LABEL: func.func @dense
  // CHECK-NOT: scf.if
  func.func @dense(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
    return %x : tensor<?x64xf32>
  }
}
