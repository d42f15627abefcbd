/*===- MoECudaRuntime.c - The mgpu* functions over the CUDA driver API ----===*\
|*                                                                            *|
|* Implements include/moe/Runtime/MoECudaRuntime.h. The driver library is     *|
|* opened with dlopen on the first call (once per process, pthread_once) and  *|
|* its entry points are resolved under the versioned names that cuda.h maps   *|
|* the API names to (cuMemAlloc is cuMemAlloc_v2, ...), so nothing here needs *|
|* the CUDA toolkit at build time. The few driver types used are declared     *|
|* below with the driver's ABI. Every failure is fatal (see the header).      *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "moe/Runtime/MoECudaRuntime.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*===----------------------------------------------------------------------===*\
|* The driver ABI (cuda.h, CUDA 11.8 and later)                               *|
\*===----------------------------------------------------------------------===*/

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef int CUjit_option;

enum {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_DEINITIALIZED = 4,
  CUDA_ERROR_STUB_LIBRARY = 34,
  CUDA_ERROR_INVALID_DEVICE = 101,
  CU_JIT_ERROR_LOG_BUFFER = 5,
  CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
  CU_JIT_OPTIMIZATION_LEVEL = 7,
  CU_MEM_ATTACH_GLOBAL = 0x1,
  CU_STREAM_NON_BLOCKING = 0x1,
  CU_EVENT_DISABLE_TIMING = 0x2,
  CU_MEMHOSTREGISTER_PORTABLE = 0x1,
  CU_MEMHOSTREGISTER_DEVICEMAP = 0x2,
  CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
  CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION = 4,
};

/* CUlaunchAttribute: an int id padded to 8 bytes, then a 64-byte union
 * whose widest members hold pointers. */
typedef struct CUlaunchAttribute {
  int id;
  char pad[4];
  union {
    char bytes[64];
    void *alignment;
    struct {
      unsigned x, y, z;
    } clusterDim;
  } value;
} CUlaunchAttribute;

typedef struct CUlaunchConfig {
  unsigned gridDimX, gridDimY, gridDimZ;
  unsigned blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  CUstream hStream;
  CUlaunchAttribute *attrs;
  unsigned numAttrs;
} CUlaunchConfig;

/* X(API name, exported symbol, parameters). Errors name the API name, the
 * one the CUDA documentation uses. */
#define MOE_CUDA_DRIVER_FUNCTIONS(X)                                           \
  X(cuInit, "cuInit", (unsigned flags))                                        \
  X(cuGetErrorName, "cuGetErrorName", (CUresult error, const char **name))     \
  X(cuDeviceGetCount, "cuDeviceGetCount", (int *count))                        \
  X(cuDeviceGet, "cuDeviceGet", (CUdevice * device, int ordinal))              \
  X(cuDeviceGetName, "cuDeviceGetName",                                        \
    (char *name, int length, CUdevice device))                                 \
  X(cuDeviceGetAttribute, "cuDeviceGetAttribute",                              \
    (int *value, int attribute, CUdevice device))                              \
  X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain",                      \
    (CUcontext * context, CUdevice device))                                    \
  X(cuCtxSetCurrent, "cuCtxSetCurrent", (CUcontext context))                   \
  X(cuCtxSynchronize, "cuCtxSynchronize", (void))                              \
  X(cuMemAlloc, "cuMemAlloc_v2", (CUdeviceptr * ptr, size_t bytes))            \
  X(cuMemAllocManaged, "cuMemAllocManaged",                                    \
    (CUdeviceptr * ptr, size_t bytes, unsigned flags))                         \
  X(cuMemFree, "cuMemFree_v2", (CUdeviceptr ptr))                              \
  X(cuMemAllocAsync, "cuMemAllocAsync",                                        \
    (CUdeviceptr * ptr, size_t bytes, CUstream stream))                        \
  X(cuMemFreeAsync, "cuMemFreeAsync", (CUdeviceptr ptr, CUstream stream))      \
  X(cuMemcpyAsync, "cuMemcpyAsync",                                            \
    (CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream stream))         \
  X(cuMemsetD32Async, "cuMemsetD32Async",                                      \
    (CUdeviceptr dst, unsigned value, size_t count, CUstream stream))          \
  X(cuMemsetD16Async, "cuMemsetD16Async",                                      \
    (CUdeviceptr dst, unsigned short value, size_t count, CUstream stream))    \
  X(cuMemHostRegister, "cuMemHostRegister_v2",                                 \
    (void *ptr, size_t bytes, unsigned flags))                                 \
  X(cuMemHostUnregister, "cuMemHostUnregister", (void *ptr))                   \
  X(cuModuleLoadData, "cuModuleLoadData",                                      \
    (CUmodule * module, const void *image))                                    \
  X(cuModuleLoadDataEx, "cuModuleLoadDataEx",                                  \
    (CUmodule * module, const void *image, unsigned numOptions,                \
     CUjit_option *options, void **optionValues))                              \
  X(cuModuleGetFunction, "cuModuleGetFunction",                                \
    (CUfunction * function, CUmodule module, const char *name))                \
  X(cuModuleUnload, "cuModuleUnload", (CUmodule module))                       \
  X(cuFuncSetAttribute, "cuFuncSetAttribute",                                  \
    (CUfunction function, int attribute, int value))                           \
  X(cuLaunchKernel, "cuLaunchKernel",                                          \
    (CUfunction function, unsigned gridX, unsigned gridY, unsigned gridZ,      \
     unsigned blockX, unsigned blockY, unsigned blockZ, unsigned smem,         \
     CUstream stream, void **params, void **extra))                            \
  X(cuLaunchKernelEx, "cuLaunchKernelEx",                                      \
    (const CUlaunchConfig *config, CUfunction function, void **params,         \
     void **extra))                                                            \
  X(cuStreamCreate, "cuStreamCreate", (CUstream * stream, unsigned flags))     \
  X(cuStreamSynchronize, "cuStreamSynchronize", (CUstream stream))             \
  X(cuStreamDestroy, "cuStreamDestroy_v2", (CUstream stream))                  \
  X(cuStreamWaitEvent, "cuStreamWaitEvent",                                    \
    (CUstream stream, CUevent event, unsigned flags))                          \
  X(cuEventCreate, "cuEventCreate", (CUevent * event, unsigned flags))         \
  X(cuEventRecord, "cuEventRecord", (CUevent event, CUstream stream))          \
  X(cuEventSynchronize, "cuEventSynchronize", (CUevent event))                 \
  X(cuEventDestroy, "cuEventDestroy_v2", (CUevent event))

static struct {
#define MOE_DECLARE_DRIVER_FUNCTION(name, symbol, params)                      \
  CUresult(*name) params;
  MOE_CUDA_DRIVER_FUNCTIONS(MOE_DECLARE_DRIVER_FUNCTION)
#undef MOE_DECLARE_DRIVER_FUNCTION
} driver;

/* Set once by loadDriver: why the driver cannot be used (empty when it
 * can), and what cuInit returned. */
static pthread_once_t driverOnce = PTHREAD_ONCE_INIT;
static char driverLoadError[1024];
static CUresult driverInitResult;

/*===----------------------------------------------------------------------===*\
|* Fatal errors                                                               *|
\*===----------------------------------------------------------------------===*/

/* Set by the first fatal error. exit() runs the global destructors of the
 * program, and the ones that gpu-to-llvm emits unload modules: a second
 * error there (or in another thread) must not call exit() again, which is
 * undefined behaviour, and must not report follow-on errors of the first. */
static atomic_int exiting;

static _Noreturn void exitWithError(void) {
  if (atomic_exchange(&exiting, 1))
    _exit(1);
  exit(1);
}

/* Used only when cuGetErrorName cannot answer, as with the toolkit's stub
 * library, which fails every call including that one. */
static const char *fallbackErrorName(CUresult result) {
  switch (result) {
  case 1:
    return "CUDA_ERROR_INVALID_VALUE";
  case 2:
    return "CUDA_ERROR_OUT_OF_MEMORY";
  case 3:
    return "CUDA_ERROR_NOT_INITIALIZED";
  case 4:
    return "CUDA_ERROR_DEINITIALIZED";
  case 34:
    return "CUDA_ERROR_STUB_LIBRARY";
  case 35:
    return "CUDA_ERROR_INSUFFICIENT_DRIVER";
  case 100:
    return "CUDA_ERROR_NO_DEVICE";
  case 101:
    return "CUDA_ERROR_INVALID_DEVICE";
  case 999:
    return "CUDA_ERROR_UNKNOWN";
  default:
    return NULL;
  }
}

static _Noreturn void failCall(const char *call, CUresult result) {
  const char *name = NULL;
  if (!driver.cuGetErrorName ||
      driver.cuGetErrorName(result, &name) != CUDA_SUCCESS || !name)
    name = fallbackErrorName(result);
  if (name)
    fprintf(stderr, "moe-cuda-runtime: %s failed: %s (%d)\n", call, name,
            result);
  else
    fprintf(stderr, "moe-cuda-runtime: %s failed: CUDA error %d\n", call,
            result);
  if (result == CUDA_ERROR_STUB_LIBRARY)
    fprintf(stderr, "moe-cuda-runtime: note: the library loaded is the CUDA "
                    "toolkit's stub libcuda.so, which cannot run anything; "
                    "the NVIDIA driver provides the real libcuda.so.1\n");
  exitWithError();
}

static _Noreturn void failWith(const char *message) {
  fprintf(stderr, "moe-cuda-runtime: %s\n", message);
  exitWithError();
}

/*===----------------------------------------------------------------------===*\
|* Loading the driver and entering the default device's context              *|
\*===----------------------------------------------------------------------===*/

static void loadDriver(void) {
  const char *override = getenv("MOE_CUDA_DRIVER_LIBRARY");
  const char *path = override && *override ? override : "libcuda.so.1";
  const char *origin = path == override ? ", from MOE_CUDA_DRIVER_LIBRARY" : "";
  void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    snprintf(driverLoadError, sizeof(driverLoadError),
             "cannot load %s (the NVIDIA driver library%s): %s", path, origin,
             dlerror());
    return;
  }
#define MOE_RESOLVE_DRIVER_FUNCTION(name, symbol, params)                      \
  *(void **)&driver.name = dlsym(library, symbol);                             \
  if (!driver.name) {                                                          \
    snprintf(driverLoadError, sizeof(driverLoadError),                         \
             "%s (the NVIDIA driver library%s) has no %s; the driver is too "  \
             "old",                                                            \
             path, origin, symbol);                                            \
    memset(&driver, 0, sizeof(driver));                                        \
    dlclose(library);                                                          \
    return;                                                                    \
  }
  MOE_CUDA_DRIVER_FUNCTIONS(MOE_RESOLVE_DRIVER_FUNCTION)
#undef MOE_RESOLVE_DRIVER_FUNCTION
  driverInitResult = driver.cuInit(0);
}

/* Whether the driver is loaded and initialized, without reporting why
 * not: for the functions that must never exit. */
static int driverUsable(void) {
  pthread_once(&driverOnce, loadDriver);
  return driverLoadError[0] == '\0' && driverInitResult == CUDA_SUCCESS;
}

static void requireDriver(void) {
  pthread_once(&driverOnce, loadDriver);
  if (driverLoadError[0] != '\0')
    failWith(driverLoadError);
  if (driverInitResult != CUDA_SUCCESS)
    failCall("cuInit", driverInitResult);
}

/* The primary context of each device, retained on first use and kept for
 * the life of the process: modules are unloaded by global destructors that
 * can run after anything that would release it. */
enum { MaxDevices = 64 };
static _Atomic(CUcontext) primaryContexts[MaxDevices];
static pthread_mutex_t primaryContextsMutex = PTHREAD_MUTEX_INITIALIZER;
static atomic_int defaultDevice;
/* The context last made current on this thread by this library. */
static _Thread_local CUcontext currentContext;

/* A release function may run in a global destructor after the driver has
 * shut itself down at process exit (its destructors can run before the
 * program's), and then the driver has already freed everything: the
 * release has nothing left to do rather than failed. */
static int driverShutDown(CUresult result, int releasing) {
  return releasing && result == CUDA_ERROR_DEINITIALIZED;
}

/* Calls a driver function and exits on failure; the macro only exists to
 * name the call in the error. */
#define MOE_CUDA_CHECK(name, args)                                             \
  do {                                                                         \
    CUresult moeResult = driver.name args;                                     \
    if (moeResult != CUDA_SUCCESS)                                             \
      failCall(#name, moeResult);                                              \
  } while (0)

/* As MOE_CUDA_CHECK, for the calls that release something. */
#define MOE_CUDA_CHECK_RELEASE(name, args)                                     \
  do {                                                                         \
    CUresult moeResult = driver.name args;                                     \
    if (moeResult != CUDA_SUCCESS && !driverShutDown(moeResult, 1))            \
      failCall(#name, moeResult);                                              \
  } while (0)

static CUcontext retainPrimaryContext(int ordinal, int releasing) {
  CUcontext context =
      atomic_load_explicit(&primaryContexts[ordinal], memory_order_acquire);
  if (context)
    return context;
  pthread_mutex_lock(&primaryContextsMutex);
  context =
      atomic_load_explicit(&primaryContexts[ordinal], memory_order_relaxed);
  if (!context) {
    CUdevice device;
    const char *call = "cuDeviceGet";
    CUresult result = driver.cuDeviceGet(&device, ordinal);
    if (result == CUDA_SUCCESS) {
      call = "cuDevicePrimaryCtxRetain";
      result = driver.cuDevicePrimaryCtxRetain(&context, device);
    }
    if (result != CUDA_SUCCESS) {
      pthread_mutex_unlock(&primaryContextsMutex);
      if (driverShutDown(result, releasing))
        return NULL;
      if (result == CUDA_ERROR_INVALID_DEVICE) {
        int count = 0;
        driver.cuDeviceGetCount(&count);
        fprintf(stderr,
                "moe-cuda-runtime: there is no CUDA device %d (the default "
                "device); the machine has %d\n",
                ordinal, count);
      }
      failCall(call, result);
    }
    atomic_store_explicit(&primaryContexts[ordinal], context,
                          memory_order_release);
  }
  pthread_mutex_unlock(&primaryContextsMutex);
  return context;
}

/* Makes the default device's primary context current on the calling
 * thread; every function that calls the driver starts here. Returns 0
 * only for a release function after the driver shut down. */
static int enterContextFor(int releasing) {
  requireDriver();
  int ordinal = atomic_load(&defaultDevice);
  if (ordinal < 0 || ordinal >= MaxDevices) {
    char message[128];
    snprintf(message, sizeof(message),
             "there is no CUDA device %d (the default device)", ordinal);
    failWith(message);
  }
  CUcontext context = retainPrimaryContext(ordinal, releasing);
  if (!context)
    return 0;
  if (context != currentContext) {
    CUresult result = driver.cuCtxSetCurrent(context);
    if (driverShutDown(result, releasing))
      return 0;
    if (result != CUDA_SUCCESS)
      failCall("cuCtxSetCurrent", result);
    currentContext = context;
  }
  return 1;
}

static void enterContext(void) { enterContextFor(0); }

/* For the functions that release something: whether there is anything to
 * do. Nothing after a fatal error (exit() still runs the global destructors
 * that unload modules) or after the driver shut down. */
static int enterContextToRelease(void) {
  if (atomic_load(&exiting))
    return 0;
  return enterContextFor(1);
}

static CUdeviceptr devicePointer(const void *ptr) {
  return (CUdeviceptr)(uintptr_t)ptr;
}

/*===----------------------------------------------------------------------===*\
|* Modules and kernels                                                        *|
\*===----------------------------------------------------------------------===*/

void *mgpuModuleLoad(void *data, int64_t size) {
  (void)size;
  enterContext();
  CUmodule module = NULL;
  MOE_CUDA_CHECK(cuModuleLoadData, (&module, data));
  return module;
}

void *mgpuModuleLoadJIT(void *data, int optLevel) {
  enterContext();
  char errorLog[16384];
  errorLog[0] = '\0';
  CUjit_option options[] = {CU_JIT_OPTIMIZATION_LEVEL, CU_JIT_ERROR_LOG_BUFFER,
                            CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {(void *)(intptr_t)optLevel, errorLog,
                    (void *)(uintptr_t)sizeof(errorLog)};
  CUmodule module = NULL;
  CUresult result = driver.cuModuleLoadDataEx(
      &module, data, sizeof(options) / sizeof(options[0]), options, values);
  if (result != CUDA_SUCCESS) {
    errorLog[sizeof(errorLog) - 1] = '\0';
    if (errorLog[0] != '\0')
      fprintf(stderr, "moe-cuda-runtime: the PTX JIT compiler says:\n%s\n",
              errorLog);
    failCall("cuModuleLoadDataEx", result);
  }
  return module;
}

void mgpuModuleUnload(void *module) {
  if (!module || !enterContextToRelease())
    return;
  MOE_CUDA_CHECK_RELEASE(cuModuleUnload, ((CUmodule)module));
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  enterContext();
  CUfunction function = NULL;
  CUresult result =
      driver.cuModuleGetFunction(&function, (CUmodule)module, name);
  if (result != CUDA_SUCCESS) {
    fprintf(stderr, "moe-cuda-runtime: no kernel named '%s' in the module\n",
            name);
    failCall("cuModuleGetFunction", result);
  }
  return function;
}

/* Narrows a launch dimension to the driver's unsigned int: truncating a
 * 64-bit count would silently launch a different grid. */
static unsigned launchDimension(const char *launcher, const char *what,
                                int64_t value) {
  if (value < 0 || (uint64_t)value > UINT32_MAX) {
    char message[160];
    snprintf(message, sizeof(message),
             "%s: %s dimension %lld does not fit the driver's 32 bits",
             launcher, what, (long long)value);
    failWith(message);
  }
  return (unsigned)value;
}

/* Kernels get 48 KiB of dynamic shared memory unless they opt into more,
 * up to the device's opt-in limit (227 KiB on sm_90). Checking the limit
 * here names the problem, which the launch would report as an invalid
 * value. */
static void allowDynamicSharedMemory(CUfunction function, int32_t smem) {
  if (smem < 0)
    failWith("a kernel launch asks for a negative amount of shared memory");
  if (smem <= 48 * 1024)
    return;
  int ordinal = atomic_load(&defaultDevice);
  CUdevice device;
  int limit = 0;
  MOE_CUDA_CHECK(cuDeviceGet, (&device, ordinal));
  MOE_CUDA_CHECK(
      cuDeviceGetAttribute,
      (&limit, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, device));
  if (smem > limit) {
    char message[160];
    snprintf(message, sizeof(message),
             "a kernel launch asks for %d bytes of dynamic shared memory; "
             "device %d allows at most %d",
             (int)smem, ordinal, limit);
    failWith(message);
  }
  MOE_CUDA_CHECK(
      cuFuncSetAttribute,
      (function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem));
}

void mgpuLaunchKernel(void *function, int64_t gridX, int64_t gridY,
                      int64_t gridZ, int64_t blockX, int64_t blockY,
                      int64_t blockZ, int32_t smem, void *stream, void **params,
                      void **extra, int64_t paramsCount) {
  (void)paramsCount; /* The driver reads the count from the kernel. */
  enterContext();
  const char *launcher = "mgpuLaunchKernel";
  unsigned gx = launchDimension(launcher, "grid", gridX);
  unsigned gy = launchDimension(launcher, "grid", gridY);
  unsigned gz = launchDimension(launcher, "grid", gridZ);
  unsigned bx = launchDimension(launcher, "block", blockX);
  unsigned by = launchDimension(launcher, "block", blockY);
  unsigned bz = launchDimension(launcher, "block", blockZ);
  allowDynamicSharedMemory((CUfunction)function, smem);
  MOE_CUDA_CHECK(cuLaunchKernel,
                 ((CUfunction)function, gx, gy, gz, bx, by, bz, (unsigned)smem,
                  (CUstream)stream, params, extra));
}

void mgpuLaunchClusterKernel(void *function, int64_t clusterX, int64_t clusterY,
                             int64_t clusterZ, int64_t gridX, int64_t gridY,
                             int64_t gridZ, int64_t blockX, int64_t blockY,
                             int64_t blockZ, int32_t smem, void *stream,
                             void **params, void **extra) {
  enterContext();
  const char *launcher = "mgpuLaunchClusterKernel";
  CUlaunchAttribute cluster;
  memset(&cluster, 0, sizeof(cluster));
  cluster.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
  cluster.value.clusterDim.x = launchDimension(launcher, "cluster", clusterX);
  cluster.value.clusterDim.y = launchDimension(launcher, "cluster", clusterY);
  cluster.value.clusterDim.z = launchDimension(launcher, "cluster", clusterZ);
  CUlaunchConfig config;
  memset(&config, 0, sizeof(config));
  config.gridDimX = launchDimension(launcher, "grid", gridX);
  config.gridDimY = launchDimension(launcher, "grid", gridY);
  config.gridDimZ = launchDimension(launcher, "grid", gridZ);
  config.blockDimX = launchDimension(launcher, "block", blockX);
  config.blockDimY = launchDimension(launcher, "block", blockY);
  config.blockDimZ = launchDimension(launcher, "block", blockZ);
  allowDynamicSharedMemory((CUfunction)function, smem);
  config.sharedMemBytes = (unsigned)smem;
  config.hStream = (CUstream)stream;
  config.attrs = &cluster;
  config.numAttrs = 1;
  MOE_CUDA_CHECK(cuLaunchKernelEx,
                 (&config, (CUfunction)function, params, extra));
}

/*===----------------------------------------------------------------------===*\
|* Streams and events                                                         *|
\*===----------------------------------------------------------------------===*/

void *mgpuStreamCreate(void) {
  enterContext();
  CUstream stream = NULL;
  /* Non-blocking: the streams of a model must not serialize with work
   * that other code queues on the legacy NULL stream. */
  MOE_CUDA_CHECK(cuStreamCreate, (&stream, CU_STREAM_NON_BLOCKING));
  return stream;
}

void mgpuStreamDestroy(void *stream) {
  if (!enterContextToRelease())
    return;
  MOE_CUDA_CHECK_RELEASE(cuStreamDestroy, ((CUstream)stream));
}

void mgpuStreamSynchronize(void *stream) {
  enterContext();
  MOE_CUDA_CHECK(cuStreamSynchronize, ((CUstream)stream));
}

void mgpuStreamWaitEvent(void *stream, void *event) {
  enterContext();
  MOE_CUDA_CHECK(cuStreamWaitEvent, ((CUstream)stream, (CUevent)event, 0));
}

void *mgpuEventCreate(void) {
  enterContext();
  CUevent event = NULL;
  MOE_CUDA_CHECK(cuEventCreate, (&event, CU_EVENT_DISABLE_TIMING));
  return event;
}

void mgpuEventDestroy(void *event) {
  if (!enterContextToRelease())
    return;
  MOE_CUDA_CHECK_RELEASE(cuEventDestroy, ((CUevent)event));
}

void mgpuEventSynchronize(void *event) {
  enterContext();
  MOE_CUDA_CHECK(cuEventSynchronize, ((CUevent)event));
}

void mgpuEventRecord(void *event, void *stream) {
  enterContext();
  MOE_CUDA_CHECK(cuEventRecord, ((CUevent)event, (CUstream)stream));
}

/*===----------------------------------------------------------------------===*\
|* Memory                                                                     *|
\*===----------------------------------------------------------------------===*/

void *mgpuMemAlloc(uint64_t bytes, void *stream, int8_t isHostShared) {
  if (bytes == 0)
    return NULL;
  enterContext();
  CUdeviceptr ptr = 0;
  if (isHostShared)
    MOE_CUDA_CHECK(cuMemAllocManaged,
                   (&ptr, (size_t)bytes, CU_MEM_ATTACH_GLOBAL));
  else if (stream)
    /* The stream-ordered allocator: a buffer of a lowered function is
     * allocated and freed in the order of its stream, without the device-
     * wide synchronization of cuMemAlloc/cuMemFree, so that a function's
     * kernels, copies and buffers are one run of asynchronous work. */
    MOE_CUDA_CHECK(cuMemAllocAsync, (&ptr, (size_t)bytes, (CUstream)stream));
  else
    MOE_CUDA_CHECK(cuMemAlloc, (&ptr, (size_t)bytes));
  return (void *)(uintptr_t)ptr;
}

void mgpuMemFree(void *ptr, void *stream) {
  if (!ptr || !enterContextToRelease())
    return;
  /* Freed in stream order: the kernels queued before it on the stream may
   * still read the buffer, and the allocator reuses it only after them. A
   * buffer freed without a stream (the caller's result) may still be read
   * by queued work on any stream: wait for the device first. */
  if (stream) {
    MOE_CUDA_CHECK_RELEASE(cuMemFreeAsync,
                           (devicePointer(ptr), (CUstream)stream));
    return;
  }
  MOE_CUDA_CHECK_RELEASE(cuCtxSynchronize, ());
  MOE_CUDA_CHECK_RELEASE(cuMemFree, (devicePointer(ptr)));
}

/* Blocks until work queued on the legacy NULL stream is done: what makes
 * a NULL-stream copy or memset synchronous. */
static void finishIfNullStream(void *stream) {
  if (!stream)
    MOE_CUDA_CHECK(cuStreamSynchronize, (NULL));
}

static void copyBytes(void *dst, const void *src, size_t bytes, void *stream) {
  if (bytes == 0)
    return;
  enterContext();
  MOE_CUDA_CHECK(cuMemcpyAsync, (devicePointer(dst), devicePointer(src), bytes,
                                 (CUstream)stream));
  finishIfNullStream(stream);
}

void mgpuMemcpy(void *dst, void *src, uint64_t bytes, void *stream) {
  copyBytes(dst, src, (size_t)bytes, stream);
}

void mgpuMemset32(void *dst, int32_t value, uint64_t count, void *stream) {
  if (count == 0)
    return;
  enterContext();
  MOE_CUDA_CHECK(cuMemsetD32Async, (devicePointer(dst), (unsigned)value,
                                    (size_t)count, (CUstream)stream));
  finishIfNullStream(stream);
}

void mgpuMemset16(void *dst, int16_t value, uint64_t count, void *stream) {
  if (count == 0)
    return;
  enterContext();
  MOE_CUDA_CHECK(cuMemsetD16Async, (devicePointer(dst), (unsigned short)value,
                                    (size_t)count, (CUstream)stream));
  finishIfNullStream(stream);
}

/* The bytes a memref's elements span, from the lowest to the highest
 * element address (strides may be anything the layout allows). Returns 0
 * for an empty memref. */
static size_t memrefSpan(int64_t rank, void *descriptor,
                         int64_t elementSizeBytes, char **start) {
  struct {
    void *allocated;
    char *aligned;
    int64_t offset;
    int64_t sizesAndStrides[];
  } *memref = descriptor;
  const int64_t *sizes = memref->sizesAndStrides;
  const int64_t *strides = memref->sizesAndStrides + rank;
  int64_t lowest = 0, highest = 0;
  for (int64_t dim = 0; dim < rank; ++dim) {
    if (sizes[dim] <= 0)
      return 0;
    int64_t reach = (sizes[dim] - 1) * strides[dim];
    if (reach < 0)
      lowest += reach;
    else
      highest += reach;
  }
  *start = memref->aligned + (memref->offset + lowest) * elementSizeBytes;
  return (size_t)(highest - lowest + 1) * (size_t)elementSizeBytes;
}

void mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                               int64_t elementSizeBytes) {
  char *start = NULL;
  size_t bytes = memrefSpan(rank, descriptor, elementSizeBytes, &start);
  if (bytes == 0)
    return;
  enterContext();
  /* Portable: registered for every context, so that a later
   * mgpuSetDefaultDevice does not make it pageable again. */
  MOE_CUDA_CHECK(cuMemHostRegister,
                 (start, bytes,
                  CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP));
}

void mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                                 int64_t elementSizeBytes) {
  char *start = NULL;
  if (memrefSpan(rank, descriptor, elementSizeBytes, &start) == 0 ||
      !enterContextToRelease())
    return;
  MOE_CUDA_CHECK_RELEASE(cuMemHostUnregister, (start));
}

void mgpuSetDefaultDevice(int32_t device) {
  atomic_store(&defaultDevice, device);
}

/*===----------------------------------------------------------------------===*\
|* For scripts and tools                                                      *|
\*===----------------------------------------------------------------------===*/

int moe_cuda_device_count(void) {
  int count = 0;
  if (!driverUsable() || driver.cuDeviceGetCount(&count) != CUDA_SUCCESS)
    return 0;
  return count;
}

int moe_cuda_device_name(int ordinal, char *buffer, int length) {
  if (!buffer || length <= 0 || !driverUsable())
    return -1;
  CUdevice device;
  if (driver.cuDeviceGet(&device, ordinal) != CUDA_SUCCESS ||
      driver.cuDeviceGetName(buffer, length, device) != CUDA_SUCCESS)
    return -1;
  buffer[length - 1] = '\0';
  return 0;
}

void *moe_cuda_alloc(size_t bytes) { return mgpuMemAlloc(bytes, NULL, 0); }

void moe_cuda_free(void *ptr) {
  if (!ptr)
    return;
  enterContext();
  /* Kernels on any stream may still use the buffer. */
  MOE_CUDA_CHECK(cuCtxSynchronize, ());
  MOE_CUDA_CHECK(cuMemFree, (devicePointer(ptr)));
}

void moe_cuda_copy(void *dst, const void *src, size_t bytes) {
  copyBytes(dst, src, bytes, NULL);
}
