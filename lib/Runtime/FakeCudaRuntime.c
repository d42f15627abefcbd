/*===- FakeCudaRuntime.c - The mgpu* ABI without a GPU, for tests ---------===*\
|*                                                                            *|
|* libmoe_fake_cuda_runtime.so: a test-only stand-in for libmoe_cuda_runtime  *|
|* with the same mgpu* symbols, so that code lowered by gpu-to-llvm links and *|
|* runs on machines without a GPU. It is never installed and never used by    *|
|* the tools.                                                                 *|
|*                                                                            *|
|* Every call prints one line on stderr, the function's name and its          *|
|* arguments as `key=value` pairs, e.g.                                       *|
|*   mgpuModuleLoadJIT(version=8.0, target=sm_90, opt=2)                      *|
|*   mgpuLaunchKernel(name=scale, grid=128x1x1, block=1x1x1, smem=0,          *|
|*                    stream=1, nparams=5)     (on one line)                  *|
|* so that lit tests can FileCheck the sequence of calls a lowering makes.    *|
|* Streams and events are numbered from 1 in creation order (the NULL stream  *|
|* is 0). Memory is host memory: allocations, copies and memsets really       *|
|* happen, so a host program runs end to end; kernels are only logged, as     *|
|* PTX cannot run here. Misuse a real driver would reject (a blob that is not *|
|* PTX, a kernel the PTX does not define) prints `fake-cuda-runtime: ...` and *|
|* exits with status 1, as the real runtime does on errors.                   *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "moe/Runtime/MoECudaRuntime.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Noreturn void fail(const char *function, const char *message) {
  fprintf(stderr, "fake-cuda-runtime: %s: %s\n", function, message);
  exit(1);
}

/*===----------------------------------------------------------------------===*\
|* Modules and kernels                                                        *|
\*===----------------------------------------------------------------------===*/

typedef struct FakeModule {
  /* The PTX text, or NULL for a cubin or fatbin, whose kernels are not
   * checked. */
  const char *ptx;
} FakeModule;

typedef struct FakeFunction {
  char name[256];
} FakeFunction;

/* Copies the token after `directive` in `ptx` (e.g. "sm_90" after
 * ".target ") into `out`; "?" when the directive is missing. */
static void ptxDirective(const char *ptx, const char *directive, char *out,
                         size_t size) {
  const char *at = strstr(ptx, directive);
  size_t length = 0;
  if (at) {
    at += strlen(directive);
    while (at[length] && at[length] != ' ' && at[length] != '\t' &&
           at[length] != '\n' && at[length] != ',' && length + 1 < size)
      ++length;
  }
  if (length == 0) {
    snprintf(out, size, "?");
    return;
  }
  memcpy(out, at, length);
  out[length] = '\0';
}

/* What cuModuleLoadData would make of an image: an ELF cubin, a fatbin
 * (magic 0xba55ed50, little-endian) or NUL-terminated PTX text. */
static const char *moduleImageKind(const unsigned char *image, int64_t size) {
  if (size >= 4 && memcmp(image, "\177ELF", 4) == 0)
    return "cubin";
  if (size >= 4 && memcmp(image, "\x50\xed\x55\xba", 4) == 0)
    return "fatbin";
  if (strstr((const char *)image, ".target sm_"))
    return "ptx";
  return NULL;
}

void *mgpuModuleLoad(void *data, int64_t size) {
  const char *kind = data && size > 0 ? moduleImageKind(data, size) : NULL;
  fprintf(stderr, "mgpuModuleLoad(kind=%s, bytes=%lld)\n", kind ? kind : "?",
          (long long)size);
  if (!kind)
    fail("mgpuModuleLoad", "the image is no cubin, fatbin or PTX");
  FakeModule *module = calloc(1, sizeof(FakeModule));
  if (strcmp(kind, "ptx") == 0)
    module->ptx = data;
  return module;
}

void *mgpuModuleLoadJIT(void *data, int optLevel) {
  const char *ptx = data;
  if (!ptx || !strstr(ptx, ".target sm_"))
    fail("mgpuModuleLoadJIT", "the module is not PTX (no '.target sm_')");
  char version[32], target[32];
  ptxDirective(ptx, ".version ", version, sizeof(version));
  ptxDirective(ptx, ".target ", target, sizeof(target));
  fprintf(stderr, "mgpuModuleLoadJIT(version=%s, target=%s, opt=%d)\n", version,
          target, optLevel);
  FakeModule *module = calloc(1, sizeof(FakeModule));
  module->ptx = ptx;
  return module;
}

void mgpuModuleUnload(void *module) {
  fprintf(stderr, "mgpuModuleUnload\n");
  free(module);
}

/* Whether `ptx` declares a kernel `name`: `.entry name(` */
static int ptxDefinesKernel(const char *ptx, const char *name) {
  size_t length = strlen(name);
  for (const char *at = strstr(ptx, ".entry "); at;
       at = strstr(at + 1, ".entry ")) {
    const char *symbol = at + strlen(".entry ");
    if (strncmp(symbol, name, length) == 0 &&
        (symbol[length] == '(' || symbol[length] == ' ' ||
         symbol[length] == '\n'))
      return 1;
  }
  return 0;
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  fprintf(stderr, "mgpuModuleGetFunction(name=%s)\n", name);
  const FakeModule *fake = module;
  if (!fake)
    fail("mgpuModuleGetFunction", "no module");
  if (fake->ptx && !ptxDefinesKernel(fake->ptx, name))
    fail("mgpuModuleGetFunction", "the PTX defines no kernel of that name");
  FakeFunction *function = calloc(1, sizeof(FakeFunction));
  snprintf(function->name, sizeof(function->name), "%s", name);
  return function;
}

/* Streams and events are small integers disguised as handles, so that the
 * log shows which stream each call uses. */
static uintptr_t handleNumber(const void *handle) { return (uintptr_t)handle; }

void mgpuLaunchKernel(void *function, int64_t gridX, int64_t gridY,
                      int64_t gridZ, int64_t blockX, int64_t blockY,
                      int64_t blockZ, int32_t smem, void *stream, void **params,
                      void **extra, int64_t paramsCount) {
  (void)params;
  (void)extra;
  fprintf(stderr,
          "mgpuLaunchKernel(name=%s, grid=%lldx%lldx%lld, "
          "block=%lldx%lldx%lld, smem=%d, stream=%zu, nparams=%lld)\n",
          function ? ((FakeFunction *)function)->name : "?", (long long)gridX,
          (long long)gridY, (long long)gridZ, (long long)blockX,
          (long long)blockY, (long long)blockZ, (int)smem,
          (size_t)handleNumber(stream), (long long)paramsCount);
}

void mgpuLaunchClusterKernel(void *function, int64_t clusterX, int64_t clusterY,
                             int64_t clusterZ, int64_t gridX, int64_t gridY,
                             int64_t gridZ, int64_t blockX, int64_t blockY,
                             int64_t blockZ, int32_t smem, void *stream,
                             void **params, void **extra) {
  (void)params;
  (void)extra;
  fprintf(stderr,
          "mgpuLaunchClusterKernel(name=%s, cluster=%lldx%lldx%lld, "
          "grid=%lldx%lldx%lld, block=%lldx%lldx%lld, smem=%d, stream=%zu)\n",
          function ? ((FakeFunction *)function)->name : "?",
          (long long)clusterX, (long long)clusterY, (long long)clusterZ,
          (long long)gridX, (long long)gridY, (long long)gridZ,
          (long long)blockX, (long long)blockY, (long long)blockZ, (int)smem,
          (size_t)handleNumber(stream));
}

/*===----------------------------------------------------------------------===*\
|* Streams and events                                                         *|
\*===----------------------------------------------------------------------===*/

static atomic_uintptr_t streamCount, eventCount;

void *mgpuStreamCreate(void) {
  void *stream = (void *)(atomic_fetch_add(&streamCount, 1) + 1);
  fprintf(stderr, "mgpuStreamCreate(stream=%zu)\n",
          (size_t)handleNumber(stream));
  return stream;
}

void mgpuStreamDestroy(void *stream) {
  fprintf(stderr, "mgpuStreamDestroy(stream=%zu)\n",
          (size_t)handleNumber(stream));
}

void mgpuStreamSynchronize(void *stream) {
  fprintf(stderr, "mgpuStreamSynchronize(stream=%zu)\n",
          (size_t)handleNumber(stream));
}

void mgpuStreamWaitEvent(void *stream, void *event) {
  fprintf(stderr, "mgpuStreamWaitEvent(stream=%zu, event=%zu)\n",
          (size_t)handleNumber(stream), (size_t)handleNumber(event));
}

void *mgpuEventCreate(void) {
  void *event = (void *)(atomic_fetch_add(&eventCount, 1) + 1);
  fprintf(stderr, "mgpuEventCreate(event=%zu)\n", (size_t)handleNumber(event));
  return event;
}

void mgpuEventDestroy(void *event) {
  fprintf(stderr, "mgpuEventDestroy(event=%zu)\n", (size_t)handleNumber(event));
}

void mgpuEventSynchronize(void *event) {
  fprintf(stderr, "mgpuEventSynchronize(event=%zu)\n",
          (size_t)handleNumber(event));
}

void mgpuEventRecord(void *event, void *stream) {
  fprintf(stderr, "mgpuEventRecord(event=%zu, stream=%zu)\n",
          (size_t)handleNumber(event), (size_t)handleNumber(stream));
}

/*===----------------------------------------------------------------------===*\
|* Memory                                                                     *|
\*===----------------------------------------------------------------------===*/

/* Each allocation is preceded by a header holding its size, so that
 * mgpuMemFree can log it; 64 bytes keep the memory as aligned as the
 * driver's. */
enum { HeaderBytes = 64 };

void *mgpuMemAlloc(uint64_t bytes, void *stream, int8_t isHostShared) {
  /* As with the i16 of mgpuMemset16, only the low byte of the i8 is
   * defined; the conversion to uint8_t keeps just that byte. */
  fprintf(stderr, "mgpuMemAlloc(bytes=%llu, stream=%zu, host_shared=%u)\n",
          (unsigned long long)bytes, (size_t)handleNumber(stream),
          (unsigned)(uint8_t)isHostShared);
  if (bytes == 0)
    return NULL;
  char *block =
      aligned_alloc(HeaderBytes, (HeaderBytes + bytes + 63) / 64 * 64);
  if (!block)
    fail("mgpuMemAlloc", "out of host memory");
  memcpy(block, &bytes, sizeof(bytes));
  return block + HeaderBytes;
}

void mgpuMemFree(void *ptr, void *stream) {
  uint64_t bytes = 0;
  if (ptr)
    memcpy(&bytes, (char *)ptr - HeaderBytes, sizeof(bytes));
  fprintf(stderr, "mgpuMemFree(bytes=%llu, stream=%zu)\n",
          (unsigned long long)bytes, (size_t)handleNumber(stream));
  if (ptr)
    free((char *)ptr - HeaderBytes);
}

void mgpuMemcpy(void *dst, void *src, uint64_t bytes, void *stream) {
  fprintf(stderr, "mgpuMemcpy(bytes=%llu, stream=%zu)\n",
          (unsigned long long)bytes, (size_t)handleNumber(stream));
  if (bytes)
    memmove(dst, src, bytes);
}

void mgpuMemset32(void *dst, int32_t value, uint64_t count, void *stream) {
  fprintf(stderr, "mgpuMemset32(count=%llu, value=%d, stream=%zu)\n",
          (unsigned long long)count, (int)value, (size_t)handleNumber(stream));
  int32_t *elements = dst;
  for (uint64_t i = 0; i < count; ++i)
    elements[i] = value;
}

void mgpuMemset16(void *dst, int16_t value, uint64_t count, void *stream) {
  /* MLIR declares the i16 without signext, and callers leave the upper bits
   * of the register as they like (a constant -2 arrives as 0xfffe), while
   * clang assumes a sign-extended argument and would print those bits.
   * Going through memory keeps exactly the 16 bits. */
  volatile int16_t bits = value;
  int16_t element = bits;
  fprintf(stderr, "mgpuMemset16(count=%llu, value=%d, stream=%zu)\n",
          (unsigned long long)count, (int)element,
          (size_t)handleNumber(stream));
  int16_t *elements = dst;
  for (uint64_t i = 0; i < count; ++i)
    elements[i] = element;
}

/* The elements of a memref descriptor {allocated, aligned, offset,
 * sizes[rank], strides[rank]}. */
static int64_t memrefElements(int64_t rank, const void *descriptor) {
  const int64_t *sizes =
      (const int64_t *)((const char *)descriptor + 2 * sizeof(void *) +
                        sizeof(int64_t));
  int64_t elements = 1;
  for (int64_t dim = 0; dim < rank; ++dim)
    elements *= sizes[dim];
  return elements;
}

void mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                               int64_t elementSizeBytes) {
  fprintf(stderr,
          "mgpuMemHostRegisterMemRef(rank=%lld, elements=%lld, "
          "element_bytes=%lld)\n",
          (long long)rank, (long long)memrefElements(rank, descriptor),
          (long long)elementSizeBytes);
}

void mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                                 int64_t elementSizeBytes) {
  fprintf(stderr,
          "mgpuMemHostUnregisterMemRef(rank=%lld, elements=%lld, "
          "element_bytes=%lld)\n",
          (long long)rank, (long long)memrefElements(rank, descriptor),
          (long long)elementSizeBytes);
}

void mgpuSetDefaultDevice(int32_t device) {
  fprintf(stderr, "mgpuSetDefaultDevice(device=%d)\n", (int)device);
}

/*===----------------------------------------------------------------------===*\
|* The functions for scripts and tools                                        *|
|*                                                                            *|
|* Plain host malloc/free/memmove, not logged: with them, a runner written    *|
|* against the real runtime (scripts/gpu/moe_cuda.py) runs a model whose      *|
|* kernels moe-gpu-pipeline emulated on the host (emulate-on-host: its        *|
|* buffers are malloc'ed host memory) end to end, and its results can be      *|
|* checked on a machine without a GPU.                                        *|
\*===----------------------------------------------------------------------===*/

int moe_cuda_device_count(void) { return 0; }

int moe_cuda_device_name(int device, char *buffer, int length) {
  (void)device;
  if (buffer && length > 0)
    snprintf(buffer, (size_t)length, "fake-cuda-runtime (host memory)");
  return 0;
}

void *moe_cuda_alloc(size_t bytes) {
  if (bytes == 0)
    return NULL;
  void *ptr = aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!ptr)
    fail("moe_cuda_alloc", "out of host memory");
  return ptr;
}

void moe_cuda_free(void *ptr) { free(ptr); }

void moe_cuda_copy(void *dst, const void *src, size_t bytes) {
  if (bytes)
    memmove(dst, src, bytes);
}
