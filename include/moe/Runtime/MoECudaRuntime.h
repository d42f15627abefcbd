/*===- MoECudaRuntime.h - The CUDA runtime of moe models ----------*- C -*-===*\
|*                                                                            *|
|* libmoe_cuda_runtime.so: the `mgpu*` functions that MLIR 22.1.8's           *|
|* gpu-to-llvm conversion and GPU module translation emit calls to (Debian    *|
|* ships no CUDA runtime wrappers), over the CUDA driver API, plus a few      *|
|* functions for scripts and tools that move data without a framework.        *|
|*                                                                            *|
|* The library neither includes cuda.h nor links libcuda: it loads            *|
|* libcuda.so.1 with dlopen on first use, so that it builds on machines       *|
|* without the CUDA toolkit and a program linked against it starts (and can   *|
|* ask moe_cuda_device_count) on machines without the NVIDIA driver. The      *|
|* environment variable MOE_CUDA_DRIVER_LIBRARY names another driver library  *|
|* to load instead (a path or a soname; tests point it at a missing file or   *|
|* at the toolkit's stub libcuda.so).                                         *|
|*                                                                            *|
|* Errors are fatal. A compiled model has no way to handle a failed CUDA call *|
|* and must never go on computing with garbage, so every mgpu* and            *|
|* moe_cuda_alloc/free/copy function that fails prints one line on stderr,    *|
|* naming the driver call and the CUDA error, e.g.                            *|
|*   moe-cuda-runtime: cuLaunchKernel failed: CUDA_ERROR_INVALID_VALUE (1)    *|
|* and exits the process with status 1. The same holds when the driver        *|
|* library cannot be loaded:                                                  *|
|*   moe-cuda-runtime: cannot load libcuda.so.1 (the NVIDIA driver library):  *|
|*   <dlerror text>                                                           *|
|* Only moe_cuda_device_count and moe_cuda_device_name never exit.            *|
|*                                                                            *|
|* Every call runs in the primary context of the default device (device 0,   *|
|* or the one mgpuSetDefaultDevice chose), which the library retains once and *|
|* makes current on each calling thread. The functions are thread-safe.       *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef MOE_RUNTIME_MOECUDARUNTIME_H
#define MOE_RUNTIME_MOECUDARUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The library is built with hidden visibility; only what this header
 *  declares is exported. */
#if defined(_WIN32)
#define MOE_CUDA_RUNTIME_EXPORT
#else
#define MOE_CUDA_RUNTIME_EXPORT __attribute__((visibility("default")))
#endif

/*===----------------------------------------------------------------------===*\
|* The mgpu* ABI. The LLVM declarations that MLIR 22.1.8 emits are quoted     *|
|* above each function (`ptr` is any pointer, i64 is int64_t); the C types    *|
|* here must stay ABI-identical to them. Modules, functions, streams and      *|
|* events are the driver's opaque handles (CUmodule, CUfunction, CUstream,    *|
|* CUevent) passed as void *.                                                 *|
\*===----------------------------------------------------------------------===*/

/** `declare ptr @mgpuModuleLoad(ptr, i64)`: loads a cubin or fatbin image
 *  (gpu-module-to-binary format=bin|fatbin); the driver reads the image's
 *  size from its header, so `size` is not needed. */
MOE_CUDA_RUNTIME_EXPORT void *mgpuModuleLoad(void *data, int64_t size);

/** `declare ptr @mgpuModuleLoadJIT(ptr, i32)`: compiles and loads a
 *  NUL-terminated PTX module (format=isa) at the driver JIT optimization
 *  level `optLevel` (0-4). A failure prints the JIT's error log. */
MOE_CUDA_RUNTIME_EXPORT void *mgpuModuleLoadJIT(void *data, int optLevel);

/** `declare void @mgpuModuleUnload(ptr)`. */
MOE_CUDA_RUNTIME_EXPORT void mgpuModuleUnload(void *module);

/** `declare ptr @mgpuModuleGetFunction(ptr, ptr)`: the kernel named by the
 *  NUL-terminated string `name`. */
MOE_CUDA_RUNTIME_EXPORT void *mgpuModuleGetFunction(void *module,
                                                    const char *name);

/** `declare void @mgpuLaunchKernel(ptr, i64, i64, i64, i64, i64, i64, i32,
 *  ptr, ptr, ptr, i64)`: launches `function` on `stream` with a grid of
 *  gridX x gridY x gridZ blocks of blockX x blockY x blockZ threads and
 *  `smem` bytes of dynamic shared memory (more than the 48 KiB default is
 *  opted into per function). `params` points to `paramsCount` pointers to
 *  the kernel's arguments; `extra` is the driver's alternative packing
 *  (NULL from MLIR). */
MOE_CUDA_RUNTIME_EXPORT void
mgpuLaunchKernel(void *function, int64_t gridX, int64_t gridY, int64_t gridZ,
                 int64_t blockX, int64_t blockY, int64_t blockZ, int32_t smem,
                 void *stream, void **params, void **extra,
                 int64_t paramsCount);

/** `declare void @mgpuLaunchClusterKernel(ptr, i64, i64, i64, i64, i64, i64,
 *  i64, i64, i64, i32, ptr, ptr, ptr)`: as mgpuLaunchKernel, in thread-block
 *  clusters of clusterX x clusterY x clusterZ blocks (gpu.launch_func with
 *  `clusters in`, sm_90 and later); the grid is still counted in blocks.
 *  MLIR passes no parameter count here. */
MOE_CUDA_RUNTIME_EXPORT void mgpuLaunchClusterKernel(
    void *function, int64_t clusterX, int64_t clusterY, int64_t clusterZ,
    int64_t gridX, int64_t gridY, int64_t gridZ, int64_t blockX, int64_t blockY,
    int64_t blockZ, int32_t smem, void *stream, void **params, void **extra);

/** `declare ptr @mgpuStreamCreate()`: a new non-blocking stream. */
MOE_CUDA_RUNTIME_EXPORT void *mgpuStreamCreate(void);

/** `declare void @mgpuStreamDestroy(ptr)`. */
MOE_CUDA_RUNTIME_EXPORT void mgpuStreamDestroy(void *stream);

/** `declare void @mgpuStreamSynchronize(ptr)`: waits for all work queued on
 *  `stream`. */
MOE_CUDA_RUNTIME_EXPORT void mgpuStreamSynchronize(void *stream);

/** `declare void @mgpuStreamWaitEvent(ptr, ptr)`: makes later work on
 *  `stream` wait for `event`. */
MOE_CUDA_RUNTIME_EXPORT void mgpuStreamWaitEvent(void *stream, void *event);

/** `declare ptr @mgpuEventCreate()`: an event without timing, which is the
 *  cheapest kind to record and wait for. */
MOE_CUDA_RUNTIME_EXPORT void *mgpuEventCreate(void);

/** `declare void @mgpuEventDestroy(ptr)`. */
MOE_CUDA_RUNTIME_EXPORT void mgpuEventDestroy(void *event);

/** `declare void @mgpuEventSynchronize(ptr)`. */
MOE_CUDA_RUNTIME_EXPORT void mgpuEventSynchronize(void *event);

/** `declare void @mgpuEventRecord(ptr, ptr)`: records `event` on
 *  `stream`. */
MOE_CUDA_RUNTIME_EXPORT void mgpuEventRecord(void *event, void *stream);

/** `declare ptr @mgpuMemAlloc(i64, ptr, i8)`: `bytes` bytes of device
 *  memory, from the stream-ordered allocator (cuMemAllocAsync) when a
 *  stream is given, so that allocation does not synchronize the device; or
 *  with `isHostShared` managed memory that the host and every device can
 *  address (gpu.alloc host_shared, which MLIR emits with a NULL stream). A
 *  zero-byte request returns NULL without calling the driver. */
MOE_CUDA_RUNTIME_EXPORT void *mgpuMemAlloc(uint64_t bytes, void *stream,
                                           int8_t isHostShared);

/** `declare void @mgpuMemFree(ptr, ptr)`: frees memory from mgpuMemAlloc
 *  in the order of `stream` (cuMemFreeAsync: the work queued before it may
 *  still use the buffer); without a stream, after the device has finished
 *  all queued work. NULL is ignored. */
MOE_CUDA_RUNTIME_EXPORT void mgpuMemFree(void *ptr, void *stream);

/** `declare void @mgpuMemcpy(ptr, ptr, i64, ptr)`: copies `bytes` bytes
 *  between any two of host, device and managed memory (unified addressing),
 *  queued on `stream`; with a NULL stream the copy has finished when the
 *  call returns. */
MOE_CUDA_RUNTIME_EXPORT void mgpuMemcpy(void *dst, void *src, uint64_t bytes,
                                        void *stream);

/** `declare void @mgpuMemset32(ptr, i32, i64, ptr)`: sets `count` 32-bit
 *  elements to `value`, queued on `stream` (finished on return for a NULL
 *  stream). */
MOE_CUDA_RUNTIME_EXPORT void mgpuMemset32(void *dst, int32_t value,
                                          uint64_t count, void *stream);

/** `declare void @mgpuMemset16(ptr, i16, i64, ptr)`: as mgpuMemset32 with
 *  16-bit elements. */
MOE_CUDA_RUNTIME_EXPORT void mgpuMemset16(void *dst, int16_t value,
                                          uint64_t count, void *stream);

/** `declare void @mgpuMemHostRegisterMemRef(i64, ptr, i64)`: page-locks
 *  the host memory a memref spans so that kernels can address it
 *  (gpu.host_register). `descriptor` points to a ranked memref descriptor
 *  {allocated, aligned, offset, sizes[rank], strides[rank]}, as in an
 *  unranked memref; `elementSizeBytes` is the element size. */
MOE_CUDA_RUNTIME_EXPORT void
mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                          int64_t elementSizeBytes);

/** `declare void @mgpuMemHostUnregisterMemRef(i64, ptr, i64)`: undoes
 *  mgpuMemHostRegisterMemRef for the same memref. */
MOE_CUDA_RUNTIME_EXPORT void
mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                            int64_t elementSizeBytes);

/** `declare void @mgpuSetDefaultDevice(i32)`: the device that later calls
 *  on every thread use (gpu.set_default_device). */
MOE_CUDA_RUNTIME_EXPORT void mgpuSetDefaultDevice(int32_t device);

/*===----------------------------------------------------------------------===*\
|* For scripts and tools (a Python ctypes driver, moe-cuda-info).             *|
\*===----------------------------------------------------------------------===*/

/** The number of CUDA devices; 0 when the driver library cannot be loaded,
 *  fails to initialize or finds no device. Never exits. */
MOE_CUDA_RUNTIME_EXPORT int moe_cuda_device_count(void);

/** Writes the NUL-terminated name of `device` (e.g. "NVIDIA H100 80GB
 *  HBM3") into `buffer` of `length` bytes, truncated to fit. Returns 0, or
 *  -1 when there is no such device or no usable driver. Never exits. */
MOE_CUDA_RUNTIME_EXPORT int moe_cuda_device_name(int device, char *buffer,
                                                 int length);

/** `bytes` bytes of device memory on the default device (NULL for 0). */
MOE_CUDA_RUNTIME_EXPORT void *moe_cuda_alloc(size_t bytes);

/** Frees memory from moe_cuda_alloc after the device has finished all the
 *  work queued so far; NULL is ignored. */
MOE_CUDA_RUNTIME_EXPORT void moe_cuda_free(void *ptr);

/** Copies `bytes` bytes between host and device memory in either direction
 *  (unified addressing); the copy has finished when the call returns. */
MOE_CUDA_RUNTIME_EXPORT void moe_cuda_copy(void *dst, const void *src,
                                           size_t bytes);

#ifdef __cplusplus
}
#endif

#endif /* MOE_RUNTIME_MOECUDARUNTIME_H */
