// Runs a kernel on the GPU through libmoe_cuda_runtime.so: host data goes to
// the device, is doubled by 8 blocks of 128 threads (the last one partly
// idle) and comes back. Only where a CUDA device is usable.
//
// REQUIRES: clang, cuda-device
// RUN: %mlir_opt_gpu %s | mlir-translate --mlir-to-llvmir -o %t.ll
// RUN: %clang -Wno-override-module %t.ll %S/Inputs/check-scale.c \
// RUN:   -L%moe_lib_dir -lmoe_cuda_runtime -Wl,-rpath,%moe_lib_dir -o %t.exe
// RUN: %t.exe | FileCheck %s

// CHECK: scaled 1000 elements: ok

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @scale(%values: memref<?xf32>, %count: index) kernel {
      %block = gpu.block_id x
      %threads = gpu.block_dim x
      %thread = gpu.thread_id x
      %first = arith.muli %block, %threads : index
      %i = arith.addi %first, %thread : index
      %inside = arith.cmpi ult, %i, %count : index
      scf.if %inside {
        %value = memref.load %values[%i] : memref<?xf32>
        %doubled = arith.addf %value, %value : f32
        memref.store %doubled, %values[%i] : memref<?xf32>
      }
      gpu.return
    }
  }

  func.func @scale_on_gpu(%host: memref<?xf32>)
      attributes {llvm.emit_c_interface} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c127 = arith.constant 127 : index
    %c128 = arith.constant 128 : index
    %count = memref.dim %host, %c0 : memref<?xf32>
    %padded = arith.addi %count, %c127 : index
    %blocks = arith.divui %padded, %c128 : index
    %t0 = gpu.wait async
    %device, %t1 = gpu.alloc async [%t0] (%count) : memref<?xf32>
    %t2 = gpu.memcpy async [%t1] %device, %host : memref<?xf32>, memref<?xf32>
    %t3 = gpu.launch_func async [%t2] @kernels::@scale
        blocks in (%blocks, %c1, %c1) threads in (%c128, %c1, %c1)
        args(%device : memref<?xf32>, %count : index)
    %t4 = gpu.memcpy async [%t3] %host, %device : memref<?xf32>, memref<?xf32>
    %t5 = gpu.dealloc async [%t4] %device : memref<?xf32>
    gpu.wait [%t5]
    return
  }
}
