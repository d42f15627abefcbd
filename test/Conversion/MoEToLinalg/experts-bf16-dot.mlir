// RUN: moe-opt %s --convert-moe-to-linalg --canonicalize --cse --split-input-file | FileCheck %s --enable-var-scope
// RUN: moe-opt %s --split-input-file --moe-cpu-pipeline | FileCheck %s --check-prefix=LLVM

// With bf16_dot = avx512 and every operand bf16, the expert kernels multiply
// pairs of bf16 with vdpbf16ps (x86vector.avx512.dot) instead of extending
// to f32 for FMAs.
//
// gemm: each token tile's rows go into the pair layout [D/2, 2 x tile]
// (xt[p, 2t + i] = rows[t, 2p + i]): a pair is one 32-bit word, so with
// D/2 a multiple of 16 this is a transposition of 32-bit words in 16 x 16
// blocks (rows read as vector<32xbf16>, bitcast to vector<16xi32>,
// shuffled, bitcast back). One vector<32xbf16> of it holds 16 tokens'
// pairs. A weight pair (two bf16 along D) is broadcast to all 16 lanes as
// one i32. The activation's f32 rows 2q and 2q + 1 interleave into row q of
// the bf16 hidden tile ([F-tile / 2, 2 x tile]), which the down projection
// reads the same way.

// CHECK-LABEL: func.func @experts_gemm
// CHECK-SAME: %{{.+}}: tensor<?x32xbf16>, %{{.+}}: tensor<5xi32>, %[[WG:[a-z0-9]+]]: tensor<4x64x32xbf16>, %[[WU:[a-z0-9]+]]: tensor<4x64x32xbf16>, %[[WD:[a-z0-9]+]]: tensor<4x32x64xbf16>
// CHECK-DAG: bufferization.alloc_tensor() : tensor<16x64xbf16>
// CHECK-DAG: bufferization.alloc_tensor() : tensor<32x32xf32>
// CHECK: vector.transfer_read %{{.+}}[%{{.+}}, %c0], %{{.+}} {in_bounds = [true]} : tensor<?x32xbf16>, vector<32xbf16>
// CHECK: vector.bitcast %{{.+}} : vector<32xbf16> to vector<16xi32>
// CHECK: vector.shuffle %{{.+}}, %{{.+}} [0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30] : vector<16xi32>, vector<16xi32>
// CHECK: %[[WORDS_OUT:.+]] = vector.bitcast %{{.+}} : vector<16xi32> to vector<32xbf16>
// CHECK: vector.transfer_write %[[WORDS_OUT]], %{{.+}} {in_bounds = [true]} : vector<32xbf16>, tensor<16x64xbf16>
// CHECK: scf.for %[[P:[a-z0-9]+]] = %c0 to %c16 step %c1 iter_args({{.+}}) -> (vector<16xf32>,
// CHECK: %[[TOKENS:.+]] = vector.transfer_read %[[XT:.+]][%[[P]], %{{.+}}], %{{.+}} {in_bounds = [true]} : tensor<16x64xbf16>, vector<32xbf16>
// CHECK: %[[D:.+]] = arith.muli %[[P]], %c2
// CHECK: %[[PAIR:.+]] = vector.transfer_read %[[WG]][%{{.+}}, %{{.+}}, %[[D]]], %{{.+}} {in_bounds = [true]} : tensor<4x64x32xbf16>, vector<2xbf16>
// CHECK: %[[WORD:.+]] = vector.bitcast %[[PAIR]] : vector<2xbf16> to vector<1xi32>
// CHECK: %[[SCALAR:.+]] = vector.extract %[[WORD]][0]
// CHECK: %[[WORDS:.+]] = vector.broadcast %[[SCALAR]] : i32 to vector<16xi32>
// CHECK: %[[WEIGHT:.+]] = vector.bitcast %[[WORDS]] : vector<16xi32> to vector<32xbf16>
// CHECK: x86vector.avx512.dot %{{.+}}, %[[WEIGHT]], %[[TOKENS]] : vector<32xbf16> -> vector<16xf32>
// CHECK: vector.transfer_read %[[WU]]
// CHECK: math.exp %{{.+}} : vector<16xf32>
// CHECK: %[[BOTH:.+]] = vector.interleave %{{.+}}, %{{.+}} : vector<16xf32> -> vector<32xf32>
// CHECK: %[[ROUNDED:.+]] = arith.truncf %[[BOTH]] : vector<32xf32> to vector<32xbf16>
// CHECK: vector.transfer_write %[[ROUNDED]], %{{.+}} {in_bounds = [true]} : vector<32xbf16>, tensor<16x64xbf16>
// CHECK: scf.for %[[Q:[a-z0-9]+]] = %c0 to %c16 step %c1 iter_args({{.+}}) -> (vector<16xf32>,
// CHECK: vector.transfer_read %{{.+}}[%[[Q]], %{{.+}}], %{{.+}} {in_bounds = [true]} : tensor<16x64xbf16>, vector<32xbf16>
// CHECK: vector.transfer_read %[[WD]][%{{.+}}, %{{.+}}, %{{.+}}], %{{.+}} {in_bounds = [true]} : tensor<4x32x64xbf16>, vector<2xbf16>
// CHECK: x86vector.avx512.dot
// CHECK-NOT: vector.fma
// CHECK: return

// LLVM-LABEL: llvm.func @experts_gemm
// LLVM: llvm.call_intrinsic "llvm.x86.avx512bf16.dpbf16ps.512"
module attributes {moe.target = #moe.target<kind = cpu, compute_units = 1, bf16_dot = avx512>} {
  func.func @experts_gemm(%rows: tensor<?x32xbf16>, %offsets: tensor<5xi32>,
      %wg: tensor<4x64x32xbf16>, %wu: tensor<4x64x32xbf16>,
      %wd: tensor<4x32x64xbf16>) -> tensor<?x32xbf16> {
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd)
        activation(silu_glu)
        tiling(#moe.expert_tiling<kernel = gemm, hidden_tile = 32, token_tile = 32>)
        : (tensor<?x32xbf16>, tensor<5xi32>, tensor<4x64x32xbf16>,
           tensor<4x64x32xbf16>, tensor<4x32x64xbf16>) -> tensor<?x32xbf16>
    return %y : tensor<?x32xbf16>
  }
}

// -----

// With D/2 not a multiple of 16 (D = 16: 8 pairs), a linalg.generic writes
// the pair layout through a [D/2, tile, 2] view of the same buffer.

// CHECK-LABEL: func.func @experts_gemm_unblocked
// CHECK: %[[VIEW:.+]] = tensor.expand_shape %{{.+}} {{\[}}[0], [1, 2]] output_shape [8, 32, 2] : tensor<8x64xbf16> into tensor<8x32x2xbf16>
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #{{.+}}], iterator_types = ["parallel", "parallel", "parallel"]} ins(%{{.+}} : tensor<?x16xbf16>) outs(%{{.+}} : tensor<8x?x2xbf16>)
// CHECK: tensor.collapse_shape %{{.+}} {{\[}}[0], [1, 2]] : tensor<8x32x2xbf16> into tensor<8x64xbf16>
// CHECK: x86vector.avx512.dot
// CHECK: return
module attributes {moe.target = #moe.target<kind = cpu, compute_units = 1, bf16_dot = avx512>} {
  func.func @experts_gemm_unblocked(%rows: tensor<?x16xbf16>, %offsets: tensor<5xi32>,
      %wg: tensor<4x64x16xbf16>, %wu: tensor<4x64x16xbf16>,
      %wd: tensor<4x16x64xbf16>) -> tensor<?x16xbf16> {
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd)
        activation(silu_glu)
        tiling(#moe.expert_tiling<kernel = gemm, hidden_tile = 32, token_tile = 32>)
        : (tensor<?x16xbf16>, tensor<5xi32>, tensor<4x64x16xbf16>,
           tensor<4x64x16xbf16>, tensor<4x16x64xbf16>) -> tensor<?x16xbf16>
    return %y : tensor<?x16xbf16>
  }
}

// -----

// gemv: the dot products step 32 bf16 along the reduction (D = 48: one full
// step and a masked, zero-padded one); the hidden tile is bf16, rounded
// after the activation, and the down dot products read it 32 at a time.

// CHECK-LABEL: func.func @experts_gemv
// CHECK-SAME: %{{.+}}: tensor<?x48xbf16>, %{{.+}}: tensor<5xi32>, %[[WG:[a-z0-9]+]]: tensor<4x64x48xbf16>
// CHECK: bufferization.alloc_tensor(%{{.+}}) : tensor<?x64xbf16>
// CHECK: %[[X:.+]] = vector.transfer_read %[[SLICE:.+]][%{{.+}}, %c0], %{{.+}} {in_bounds = [true]} : tensor<?x48xbf16>, vector<32xbf16>
// CHECK: %[[G:.+]] = vector.transfer_read %[[WG]][%{{.+}}, %{{.+}}, %c0], %{{.+}} {in_bounds = [true]} : tensor<4x64x48xbf16>, vector<32xbf16>
// CHECK: x86vector.avx512.dot %{{.+}}, %[[G]], %[[X]] : vector<32xbf16> -> vector<16xf32>
// CHECK: vector.transfer_read %[[SLICE]][%{{.+}}, %c32], %{{.+}} : tensor<?x48xbf16>, vector<32xbf16>
// CHECK: vector.reduction <add>
// CHECK: %[[H:.+]] = arith.truncf %{{.+}} : f32 to bf16
// CHECK: tensor.insert %[[H]] into %{{.+}} : tensor<?x64xbf16>
// CHECK: vector.transfer_read %{{.+}} : tensor<?x64xbf16>, vector<32xbf16>
// CHECK: x86vector.avx512.dot
// CHECK-NOT: vector.fma
// CHECK: return
module attributes {moe.target = #moe.target<kind = cpu, compute_units = 1, bf16_dot = avx512>} {
  func.func @experts_gemv(%rows: tensor<?x48xbf16>, %offsets: tensor<5xi32>,
      %wg: tensor<4x64x48xbf16>, %wu: tensor<4x64x48xbf16>,
      %wd: tensor<4x48x64xbf16>) -> tensor<?x48xbf16> {
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd)
        activation(silu_glu)
        tiling(#moe.expert_tiling<kernel = gemv, hidden_tile = 64, token_tile = 32>)
        : (tensor<?x48xbf16>, tensor<5xi32>, tensor<4x64x48xbf16>,
           tensor<4x64x48xbf16>, tensor<4x48x64xbf16>) -> tensor<?x48xbf16>
    return %y : tensor<?x48xbf16>
  }
}

// -----

// Without the instruction (bf16_dot = none), or with f32 rows, the kernels
// extend bf16 to f32 and use FMAs.

// CHECK-LABEL: func.func @without_bf16_dot
// CHECK-NOT: x86vector
// CHECK: arith.extf %{{.+}} : vector<16xbf16> to vector<16xf32>
// CHECK: vector.fma
// CHECK-NOT: x86vector
// CHECK: return
module attributes {moe.target = #moe.target<kind = cpu, compute_units = 1, bf16_dot = none>} {
  func.func @without_bf16_dot(%rows: tensor<?x16xbf16>, %offsets: tensor<5xi32>,
      %wg: tensor<4x64x16xbf16>, %wu: tensor<4x64x16xbf16>,
      %wd: tensor<4x16x64xbf16>) -> tensor<?x16xbf16> {
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd)
        activation(silu_glu)
        tiling(#moe.expert_tiling<kernel = gemv, hidden_tile = 32, token_tile = 32>)
        : (tensor<?x16xbf16>, tensor<5xi32>, tensor<4x64x16xbf16>,
           tensor<4x64x16xbf16>, tensor<4x16x64xbf16>) -> tensor<?x16xbf16>
    return %y : tensor<?x16xbf16>
  }
}

// -----

// CHECK-LABEL: func.func @f32_rows_bf16_weights
// CHECK-NOT: x86vector
// CHECK: vector.fma
// CHECK-NOT: x86vector
// CHECK: return
module attributes {moe.target = #moe.target<kind = cpu, compute_units = 1, bf16_dot = avx512>} {
  func.func @f32_rows_bf16_weights(%rows: tensor<?x16xf32>, %offsets: tensor<5xi32>,
      %wg: tensor<4x64x16xbf16>, %wu: tensor<4x64x16xbf16>,
      %wd: tensor<4x16x64xbf16>) -> tensor<?x16xf32> {
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd)
        activation(silu_glu)
        tiling(#moe.expert_tiling<kernel = gemm, hidden_tile = 32, token_tile = 32>)
        : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x64x16xbf16>,
           tensor<4x64x16xbf16>, tensor<4x16x64xbf16>) -> tensor<?x16xf32>
    return %y : tensor<?x16xf32>
  }
}
