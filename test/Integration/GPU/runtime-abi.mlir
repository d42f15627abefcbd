// Pins the runtime's interface: the mgpu* functions that the GPU lowering of
// MLIR 22.1.8 calls, with the exact LLVM types that MoECudaRuntime.c and
// FakeCudaRuntime.c (lib/Runtime) implement, and the sequence of calls a
// lowered program makes, run against the fake runtime (which logs each call
// and simulates memory on the host). With runtime-abi-fatbin.mlir
// (mgpuModuleLoad) this covers every mgpu* function the runtimes export.
//
// REQUIRES: clang
// RUN: %mlir_opt_gpu %s | mlir-translate --mlir-to-llvmir -o %t.ll
// RUN: FileCheck %s --check-prefix=ABI --match-full-lines < %t.ll
//
// `void main(void)` would exit with a garbage status: call it from C.
// RUN: sed -e 's/@main(/@moe_gpu_main(/' %t.ll > %t.renamed.ll
// RUN: %clang -Wno-override-module %t.renamed.ll %S/Inputs/call-gpu-main.c \
// RUN:   -L%moe_lib_dir -lmoe_fake_cuda_runtime -Wl,-rpath,%moe_lib_dir \
// RUN:   -o %t.exe
// RUN: %t.exe 2>&1 | FileCheck %s --check-prefix=CALLS --match-full-lines

// ABI-DAG: declare ptr @mgpuModuleLoadJIT(ptr, i32)
// ABI-DAG: declare ptr @mgpuModuleGetFunction(ptr, ptr)
// ABI-DAG: declare void @mgpuModuleUnload(ptr)
// ABI-DAG: declare void @mgpuLaunchKernel(ptr, i64, i64, i64, i64, i64, i64, i32, ptr, ptr, ptr, i64)
// ABI-DAG: declare void @mgpuLaunchClusterKernel(ptr, i64, i64, i64, i64, i64, i64, i64, i64, i64, i32, ptr, ptr, ptr)
// ABI-DAG: declare ptr @mgpuStreamCreate()
// ABI-DAG: declare void @mgpuStreamSynchronize(ptr)
// ABI-DAG: declare void @mgpuStreamDestroy(ptr)
// ABI-DAG: declare void @mgpuStreamWaitEvent(ptr, ptr)
// ABI-DAG: declare ptr @mgpuEventCreate()
// ABI-DAG: declare void @mgpuEventRecord(ptr, ptr)
// ABI-DAG: declare void @mgpuEventSynchronize(ptr)
// ABI-DAG: declare void @mgpuEventDestroy(ptr)
// ABI-DAG: declare ptr @mgpuMemAlloc(i64, ptr, i8)
// ABI-DAG: declare void @mgpuMemFree(ptr, ptr)
// ABI-DAG: declare void @mgpuMemcpy(ptr, ptr, i64, ptr)
// ABI-DAG: declare void @mgpuMemset32(ptr, i32, i64, ptr)
// ABI-DAG: declare void @mgpuMemset16(ptr, i16, i64, ptr)
// ABI-DAG: declare void @mgpuMemHostRegisterMemRef(i64, ptr, i64)
// ABI-DAG: declare void @mgpuMemHostUnregisterMemRef(i64, ptr, i64)
// ABI-DAG: declare void @mgpuSetDefaultDevice(i32)
// The kernels are PTX for sm_90, loaded by a global constructor.
// ABI-DAG: @llvm.global_ctors = {{.*}} @kernels_load, {{.*}}
// ABI-DAG: @llvm.global_dtors = {{.*}} @kernels_unload, {{.*}}
// ABI-DAG: @kernels_binary = internal constant {{.*}}.target sm_90{{.*}}

// CALLS:      mgpuModuleLoadJIT(version=8.0, target=sm_90, opt=2)
// CALLS-NEXT: mgpuSetDefaultDevice(device=0)
// CALLS-NEXT: mgpuMemAlloc(bytes=512, stream=0, host_shared=1)
// CALLS-NEXT: mgpuStreamCreate(stream=1)
// CALLS-NEXT: mgpuMemAlloc(bytes=512, stream=1, host_shared=0)
// CALLS-NEXT: mgpuMemcpy(bytes=512, stream=1)
// CALLS-NEXT: mgpuModuleGetFunction(name=scale)
// CALLS-NEXT: mgpuLaunchKernel(name=scale, grid=128x1x1, block=1x1x1, smem=0, stream=1, nparams=5)
// CALLS-NEXT: mgpuMemcpy(bytes=512, stream=1)
// CALLS-NEXT: mgpuEventCreate(event=1)
// CALLS-NEXT: mgpuEventRecord(event=1, stream=1)
// CALLS-NEXT: mgpuStreamCreate(stream=2)
// CALLS-NEXT: mgpuMemAlloc(bytes=64, stream=2, host_shared=0)
// CALLS-NEXT: mgpuMemset32(count=16, value=7, stream=2)
// CALLS-NEXT: mgpuMemAlloc(bytes=32, stream=2, host_shared=0)
// CALLS-NEXT: mgpuMemset16(count=16, value=-2, stream=2)
// CALLS-NEXT: mgpuEventCreate(event=2)
// CALLS-NEXT: mgpuEventRecord(event=2, stream=2)
// CALLS-NEXT: mgpuStreamCreate(stream=3)
// CALLS-NEXT: mgpuStreamWaitEvent(stream=3, event=1)
// CALLS-NEXT: mgpuStreamWaitEvent(stream=3, event=2)
// CALLS-NEXT: mgpuEventDestroy(event=1)
// CALLS-NEXT: mgpuEventDestroy(event=2)
// CALLS-NEXT: mgpuModuleGetFunction(name=fill)
// CALLS-NEXT: mgpuLaunchClusterKernel(name=fill, cluster=2x1x1, grid=4x1x1, block=32x1x1, smem=0, stream=3)
// CALLS-NEXT: mgpuMemFree(bytes=512, stream=3)
// CALLS-NEXT: mgpuMemFree(bytes=64, stream=3)
// CALLS-NEXT: mgpuMemFree(bytes=32, stream=3)
// CALLS-NEXT: mgpuMemFree(bytes=512, stream=3)
// CALLS-NEXT: mgpuStreamSynchronize(stream=3)
// CALLS-NEXT: mgpuStreamDestroy(stream=3)
// CALLS-NEXT: mgpuMemHostRegisterMemRef(rank=1, elements=128, element_bytes=4)
// CALLS-NEXT: mgpuMemHostUnregisterMemRef(rank=1, elements=128, element_bytes=4)
// CALLS-NEXT: moe_gpu_main returned
// CALLS-NEXT: mgpuModuleUnload
// CALLS-NOT: {{.}}

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @scale(%buf: memref<128xf32>) kernel {
      %i = gpu.block_id x
      %v = memref.load %buf[%i] : memref<128xf32>
      %r = arith.addf %v, %v : f32
      memref.store %r, %buf[%i] : memref<128xf32>
      gpu.return
    }
    gpu.func @fill(%buf: memref<128xf32>) kernel {
      gpu.return
    }
  }

  func.func @main() {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c4 = arith.constant 4 : index
    %c32 = arith.constant 32 : index
    %c128 = arith.constant 128 : index
    %device = arith.constant 0 : i32
    %word = arith.constant 7 : i32
    %half = arith.constant -2 : i16
    gpu.set_default_device %device

    %host = memref.alloc() : memref<128xf32>
    %shared = gpu.alloc host_shared () : memref<128xf32>

    %t0 = gpu.wait async
    %buf, %t1 = gpu.alloc async [%t0] () : memref<128xf32>
    %t2 = gpu.memcpy async [%t1] %buf, %host : memref<128xf32>, memref<128xf32>
    %t3 = gpu.launch_func async [%t2] @kernels::@scale
        blocks in (%c128, %c1, %c1) threads in (%c1, %c1, %c1)
        args(%buf : memref<128xf32>)
    %t4 = gpu.memcpy async [%t3] %host, %buf : memref<128xf32>, memref<128xf32>

    // A second stream; joining the two records an event on each.
    %u0 = gpu.wait async
    %words, %u1 = gpu.alloc async [%u0] () : memref<16xi32>
    %u2 = gpu.memset async [%u1] %words, %word : memref<16xi32>, i32
    %halves, %u3 = gpu.alloc async [%u2] () : memref<16xi16>
    %u4 = gpu.memset async [%u3] %halves, %half : memref<16xi16>, i16
    %j0 = gpu.wait async [%t4, %u4]
    %j1 = gpu.launch_func async [%j0] @kernels::@fill
        clusters in (%c2, %c1, %c1) blocks in (%c4, %c1, %c1)
        threads in (%c32, %c1, %c1) args(%shared : memref<128xf32>)
    %j2 = gpu.dealloc async [%j1] %buf : memref<128xf32>
    %j3 = gpu.dealloc async [%j2] %words : memref<16xi32>
    %j4 = gpu.dealloc async [%j3] %halves : memref<16xi16>
    %j5 = gpu.dealloc async [%j4] %shared : memref<128xf32>
    gpu.wait [%j5]

    %unranked = memref.cast %host : memref<128xf32> to memref<*xf32>
    gpu.host_register %unranked : memref<*xf32>
    gpu.host_unregister %unranked : memref<*xf32>
    memref.dealloc %host : memref<128xf32>
    return
  }

  // Never called: a token from outside the function is an event, and waiting
  // for it is the one use of mgpuEventSynchronize.
  func.func @wait_for_event(%event: !gpu.async.token) {
    gpu.wait [%event]
    return
  }
}
