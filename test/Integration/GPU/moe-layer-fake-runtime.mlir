// A moe layer compiled by moe-compile --target=cuda (moe-gpu-pipeline) runs
// its host code against the fake runtime, which logs every mgpu* call and
// simulates device memory on the host: the kernels are loaded once when the
// program starts, every launch has its kernel, grid and block, buffers are
// device buffers freed after use, and the result is a device buffer of
// T x D. No GPU is needed; the kernels themselves are checked by
// ptxas-examples.test and executed (emulated) by parity-emulated.test.
//
// REQUIRES: clang
// RUN: rm -rf %t && mkdir -p %t
// RUN: moe-compile %s --target=cuda --emit=obj -o %t/layer.o --header %t/layer.h
// RUN: %clang -I%t %S/Inputs/call-layer.c %t/layer.o -L%moe_lib_dir \
// RUN:   -lmoe_fake_cuda_runtime -lmoe_runtime -lm -Wl,-rpath,%moe_lib_dir \
// RUN:   -o %t/layer.exe
// RUN: %t/layer.exe 2>&1 | FileCheck %s

// The kernel modules are loaded (PTX for sm_90, JIT-compiled at -O3 by the
// driver) before main runs.
// CHECK: mgpuModuleLoadJIT(version=8.0, target=sm_90, opt=3)
// CHECK-NOT: mgpuLaunchKernel
// The whole layer is one run of asynchronous work on one stream: no host
// synchronization until the end.
// CHECK: mgpuStreamCreate(stream=[[STREAM:[0-9]+]])
// CHECK-NOT: mgpuStreamSynchronize
// The router: one thread per token (5 of a block of 256).
// CHECK: mgpuMemAlloc(bytes=40, stream=[[STREAM]], host_shared=0)
// CHECK: mgpuModuleGetFunction(name=layer_kernel)
// CHECK-NEXT: mgpuLaunchKernel(name=layer_kernel, grid=1x1x1, block=256x1x1, smem=0, stream=[[STREAM]]
// The dispatch: a parallel scan in five kernels (counts and bases per chunk
// and expert, counts and offsets per expert, the row of each of the
// T x K = 10 assignments, the token of each row); then the 10 rows of 64
// are gathered by one thread per element. No kernel runs a single thread.
// CHECK-NOT: block=1x1x1
// CHECK: mgpuMemAlloc(bytes=2560, stream=[[STREAM]], host_shared=0)
// CHECK-NEXT: mgpuModuleGetFunction(name=layer_kernel)
// CHECK-NEXT: mgpuLaunchKernel(name=layer_kernel, grid=3x1x1, block=256x1x1, smem=0, stream=[[STREAM]]
// The experts: one thread per (row, hidden unit), 10 x 32, then per (row,
// output feature), 10 x 64.
// CHECK-NOT: block=1x1x1
// CHECK: mgpuLaunchKernel(name=layer_kernel, grid=2x1x1, block=256x1x1, smem=0, stream=[[STREAM]]
// CHECK-NEXT: mgpuModuleGetFunction(name=layer_kernel)
// CHECK-NEXT: mgpuLaunchKernel(name=layer_kernel, grid=3x1x1, block=256x1x1, smem=0, stream=[[STREAM]]
// Every buffer but the result is freed, and the host waits for the device
// once, before it returns.
// CHECK: mgpuMemFree(bytes=40, stream=[[STREAM]])
// CHECK: mgpuStreamSynchronize(stream=[[STREAM]])
// CHECK-NEXT: mgpuStreamDestroy(stream=[[STREAM]])
// CHECK-NEXT: result 5x64
// CHECK-NEXT: mgpuMemFree(bytes=1280, stream=0)
// CHECK-NEXT: layer returned
// CHECK: mgpuModuleUnload

func.func @layer(%x: tensor<?x64xf32>, %router: tensor<8x64xf32>,
                 %gate: tensor<8x32x64xf32>, %up: tensor<8x32x64xf32>,
                 %down: tensor<8x64x32xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x router(%router) gate_proj(%gate) up_proj(%up)
      down_proj(%down) top_k(2) score(softmax) activation(silu_glu)
      : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x32x64xf32>,
         tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
