// moe-compile --target=cuda: the GPU pipeline, the kernels' PTX, and a
// shared library whose host code calls libmoe_cuda_runtime.so.

// RUN: rm -rf %t && mkdir -p %t
// RUN: moe-compile %s --target=cuda --emit=ptx -o %t/kernels.ptx
// RUN: FileCheck %s --check-prefix=PTX < %t/kernels.ptx
// PTX: //--- layer_kernel.ptx
// PTX: .version 8.0
// PTX-NEXT: .target sm_90
// PTX: .visible .entry layer_kernel(
// PTX: //--- layer_kernel_0.ptx

// RUN: moe-compile %s --target=cuda --gpu-chip=sm_80 --emit=ptx -o - | FileCheck %s --check-prefix=SM80
// SM80: .target sm_80

// RUN: moe-compile %s --target=cuda --emit=shared -o %t/layer.so --header %t/layer.h
// RUN: nm -D %t/layer.so | FileCheck %s --check-prefix=SHARED
// SHARED-DAG: T _mlir_ciface_layer
// SHARED-DAG: U mgpuLaunchKernel
// SHARED-DAG: U mgpuModuleLoadJIT
// SHARED-DAG: U mgpuMemAlloc
// RUN: FileCheck %s --check-prefix=HEADER < %t/layer.h
// HEADER: _mlir_ciface_layer(

// RUN: moe-compile %s --target=cuda --emit=llvm-ir -o - | FileCheck %s --check-prefix=LLVMIR
// LLVMIR: @llvm.global_ctors
// LLVMIR: call ptr @mgpuModuleLoadJIT(

// Bad combinations are errors that say what was expected.
// RUN: not moe-compile %s --emit=ptx -o - 2>&1 | FileCheck %s --check-prefix=NOTCUDA
// NOTCUDA: moe-compile: --emit=ptx needs --target=cuda and --gpu-format=isa
// RUN: not moe-compile %s --target=cuda --gpu-format=cubin -o %t/x.o 2>&1 | FileCheck %s --check-prefix=BADFORMAT
// BADFORMAT: moe-compile: --gpu-format must be isa, bin or fatbin, got 'cubin'

func.func @layer(%x: tensor<?x64xf32>, %router: tensor<8x64xf32>,
                 %gate: tensor<8x32x64xf32>, %up: tensor<8x32x64xf32>,
                 %down: tensor<8x64x32xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x router(%router) gate_proj(%gate) up_proj(%up)
      down_proj(%down) top_k(2) score(softmax) activation(silu_glu)
      : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x32x64xf32>,
         tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
