// Pins mgpuModuleLoad, which the GPU lowering of MLIR 22.1.8 calls instead of
// mgpuModuleLoadJIT when the kernels are a fatbin (or a cubin) assembled by
// ptxas; see runtime-abi.mlir for the other mgpu* functions. The lowering is
// upstream mlir-opt's, as that is what pins the ABI.
//
// REQUIRES: clang, ptxas
// RUN: mlir-opt %s --gpu-lower-to-nvvm-pipeline='cubin-chip=sm_90 cubin-features=+ptx80 cubin-format=fatbin' \
// RUN:   | mlir-translate --mlir-to-llvmir -o %t.ll
// RUN: FileCheck %s --check-prefix=ABI < %t.ll
// RUN: sed -e 's/@main(/@moe_gpu_main(/' %t.ll > %t.renamed.ll
// RUN: %clang -Wno-override-module %t.renamed.ll %S/Inputs/call-gpu-main.c \
// RUN:   -L%moe_lib_dir -lmoe_fake_cuda_runtime -Wl,-rpath,%moe_lib_dir \
// RUN:   -o %t.exe
// RUN: %t.exe 2>&1 | FileCheck %s --check-prefix=CALLS --match-full-lines

// ABI: declare ptr @mgpuModuleLoad(ptr, i64)
// ABI-NOT: @mgpuModuleLoadJIT

// A launch without async tokens runs on a stream of its own.
// CALLS:      mgpuModuleLoad(kind=fatbin, bytes={{[0-9]+}})
// CALLS-NEXT: mgpuModuleGetFunction(name=zero)
// CALLS-NEXT: mgpuStreamCreate(stream=1)
// CALLS-NEXT: mgpuLaunchKernel(name=zero, grid=2x3x4, block=32x4x1, smem=0, stream=1, nparams=3)
// CALLS-NEXT: mgpuStreamSynchronize(stream=1)
// CALLS-NEXT: mgpuStreamDestroy(stream=1)
// CALLS-NEXT: moe_gpu_main returned
// CALLS-NEXT: mgpuModuleUnload
// CALLS-NOT: {{.}}

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @zero(%out: memref<f32>) kernel {
      %zero = arith.constant 0.0 : f32
      memref.store %zero, %out[] : memref<f32>
      gpu.return
    }
  }

  func.func @main() {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c3 = arith.constant 3 : index
    %c4 = arith.constant 4 : index
    %c32 = arith.constant 32 : index
    %out = memref.alloc() : memref<f32>
    gpu.launch_func @kernels::@zero
        blocks in (%c2, %c3, %c4) threads in (%c32, %c4, %c1)
        args(%out : memref<f32>)
    memref.dealloc %out : memref<f32>
    return
  }
}
