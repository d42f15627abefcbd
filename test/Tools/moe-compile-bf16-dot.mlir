// moe-compile fits the module's #moe.target to the CPU it compiles for: an
// unset bf16_dot follows --cpu (vdpbf16ps for a CPU with AVX512-BF16, bf16
// extended to f32 for one without), and bf16_dot = avx512 for a CPU without
// the instruction is a clear error, not a crash in instruction selection.

// RUN: rm -rf %t && split-file %s %t
// RUN: moe-compile %t/unset.mlir --cpu=znver4 --emit=llvm-ir -o - | FileCheck %s --check-prefix=WITH
// RUN: moe-compile %t/unset.mlir --cpu=skylake-avx512 --emit=llvm-ir -o - | FileCheck %s --check-prefix=WITHOUT
// RUN: moe-compile %t/none.mlir --cpu=znver4 --emit=llvm-ir -o - | FileCheck %s --check-prefix=WITHOUT
// RUN: not moe-compile %t/avx512.mlir --cpu=skylake-avx512 --emit=obj -o %t/model.o 2>&1 | FileCheck %s --check-prefix=ERROR

// WITH: call <16 x float> @llvm.x86.avx512bf16.dpbf16ps.512(
// WITHOUT-NOT: dpbf16ps
// WITHOUT: fmul
// WITHOUT-NOT: dpbf16ps
// ERROR: moe-compile: the module's #moe.target has bf16_dot = avx512, but CPU 'skylake-avx512' has no AVX512-BF16: compile for a CPU with it, or set bf16_dot = none

//--- unset.mlir
module attributes {moe.target = #moe.target<kind = cpu, compute_units = 1>} {
  func.func @main(%rows: tensor<?x32xbf16>, %offsets: tensor<5xi32>,
      %wg: tensor<4x64x32xbf16>, %wu: tensor<4x64x32xbf16>,
      %wd: tensor<4x32x64xbf16>) -> tensor<?x32xbf16> {
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd)
        activation(silu_glu)
        tiling(#moe.expert_tiling<kernel = gemv, hidden_tile = 64, token_tile = 32>)
        : (tensor<?x32xbf16>, tensor<5xi32>, tensor<4x64x32xbf16>,
           tensor<4x64x32xbf16>, tensor<4x32x64xbf16>) -> tensor<?x32xbf16>
    return %y : tensor<?x32xbf16>
  }
}

//--- none.mlir
module attributes {moe.target = #moe.target<kind = cpu, compute_units = 1, bf16_dot = none>} {
  func.func @main(%rows: tensor<?x32xbf16>, %offsets: tensor<5xi32>,
      %wg: tensor<4x64x32xbf16>, %wu: tensor<4x64x32xbf16>,
      %wd: tensor<4x32x64xbf16>) -> tensor<?x32xbf16> {
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd)
        activation(silu_glu)
        tiling(#moe.expert_tiling<kernel = gemv, hidden_tile = 64, token_tile = 32>)
        : (tensor<?x32xbf16>, tensor<5xi32>, tensor<4x64x32xbf16>,
           tensor<4x64x32xbf16>, tensor<4x32x64xbf16>) -> tensor<?x32xbf16>
    return %y : tensor<?x32xbf16>
  }
}

//--- avx512.mlir
module attributes {moe.target = #moe.target<kind = cpu, compute_units = 1, bf16_dot = avx512>} {
  func.func @main(%rows: tensor<?x32xbf16>, %offsets: tensor<5xi32>,
      %wg: tensor<4x64x32xbf16>, %wu: tensor<4x64x32xbf16>,
      %wd: tensor<4x32x64xbf16>) -> tensor<?x32xbf16> {
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd)
        activation(silu_glu)
        tiling(#moe.expert_tiling<kernel = gemv, hidden_tile = 64, token_tile = 32>)
        : (tensor<?x32xbf16>, tensor<5xi32>, tensor<4x64x32xbf16>,
           tensor<4x64x32xbf16>, tensor<4x32x64xbf16>) -> tensor<?x32xbf16>
    return %y : tensor<?x32xbf16>
  }
}
