/*===- MoERuntime.c - The moe-mlir runtime library ------------------------===*\
|*                                                                            *|
|* Aligned buffers, a monotonic clock, the read-bandwidth probe and the cache *|
|* flush (OpenMP over all cores) and memrefCopy. Plain C11 and OpenMP; no     *|
|* MLIR.                                                                      *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "moe/Runtime/MoERuntime.h"

#include <malloc.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* `bytes` bytes aligned to `alignment` (a power of two), NULL when out of
 * memory. */
static void *allocateAligned(size_t bytes, size_t alignment) {
  /* aligned_alloc wants a multiple of the alignment, and a non-zero size so
   * that the result is a real, freeable buffer. */
  size_t rounded = (bytes + alignment - 1) / alignment * alignment;
  if (rounded < bytes)
    return NULL; /* overflow */
  if (rounded == 0)
    rounded = alignment;
  return aligned_alloc(alignment, rounded);
}

void *moe_aligned_alloc(size_t bytes) {
  if (bytes < MOE_RUNTIME_HUGE_PAGE_BYTES)
    return allocateAligned(bytes, MOE_RUNTIME_ALIGNMENT);
  void *buffer = allocateAligned(bytes, MOE_RUNTIME_HUGE_PAGE_BYTES);
#ifdef MADV_HUGEPAGE
  /* Advice only: without THP the buffer keeps 4 KiB pages. Measured on
   * Qwen3-MoE bf16 at T = 1, cold: 2.19 -> 1.51 ms per call. */
  if (buffer)
    (void)madvise(buffer, bytes, MADV_HUGEPAGE);
#endif
  return buffer;
}

void moe_aligned_free(void *ptr) { free(ptr); }

uint64_t moe_now_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

int moe_num_threads(void) { return omp_get_max_threads(); }

/* Keeps the compiler from dropping the sums the probe computes. */
static volatile uint64_t moeBandwidthSink;

double moe_measure_read_bandwidth_gbps(size_t bytes, int repeats) {
  if (bytes == 0)
    bytes = (size_t)1 << 30;
  if (repeats <= 0)
    repeats = 5;
  size_t count = bytes / sizeof(uint64_t);
  if (count == 0)
    count = 1;
  uint64_t *buffer = (uint64_t *)moe_aligned_alloc(count * sizeof(uint64_t));
  if (!buffer)
    return -1.0;

    /* First touch with the schedule the reads use: each thread's pages are
     * mapped on its own NUMA node, as a model's weights would be. */
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < count; ++i)
    buffer[i] = i;

  double bestSeconds = 0.0;
  for (int run = 0; run < repeats; ++run) {
    uint64_t sum = 0;
    uint64_t start = moe_now_ns();
    /* Integer sums vectorize without reassociation concerns, so the loop
     * runs at the memory's speed, not the adder's. */
#pragma omp parallel for simd schedule(static) reduction(+ : sum)
    for (size_t i = 0; i < count; ++i)
      sum += buffer[i];
    uint64_t stop = moe_now_ns();
    moeBandwidthSink = sum;
    double seconds = (double)(stop - start) * 1e-9;
    if (seconds > 0.0 && (bestSeconds == 0.0 || seconds < bestSeconds))
      bestSeconds = seconds;
  }
  moe_aligned_free(buffer);
  if (bestSeconds == 0.0)
    return -1.0;
  return (double)(count * sizeof(uint64_t)) / bestSeconds * 1e-9;
}

size_t moe_last_level_cache_bytes(void) {
#ifdef _SC_LEVEL3_CACHE_SIZE
  long bytes = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (bytes > 0)
    return (size_t)bytes;
#endif
#ifdef _SC_LEVEL2_CACHE_SIZE
  long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (l2 > 0)
    return (size_t)l2;
#endif
  return 0;
}

/* The flush buffer of moe_flush_caches, kept between calls. */
static uint64_t *moeFlushBuffer;
static size_t moeFlushCount;

/* Keeps the compiler from dropping the sums of the flush. */
static volatile uint64_t moeFlushSink;

size_t moe_flush_caches(size_t bytes) {
  if (bytes == 0) {
    size_t minimum = (size_t)256 << 20, maximum = (size_t)2 << 30;
    bytes = 4 * moe_last_level_cache_bytes();
    if (bytes < minimum)
      bytes = minimum;
    if (bytes > maximum)
      bytes = maximum;
  }
  size_t count = bytes / sizeof(uint64_t);
  if (count == 0)
    count = 1;
  if (count > moeFlushCount) {
    moe_flush_caches_release();
    /* 4 KiB pages on purpose: reading half a million of them also evicts
     * the TLB's translations of the weights, as a model's other layers
     * would between two calls of this one. */
    moeFlushBuffer =
        (uint64_t *)allocateAligned(count * sizeof(uint64_t), 4096);
    if (!moeFlushBuffer)
      return 0;
    moeFlushCount = count;
    /* Written by the threads that read it, as in the bandwidth probe. */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; ++i)
      moeFlushBuffer[i] = i;
  }
  const uint64_t *buffer = moeFlushBuffer;
  uint64_t sum = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : sum)
  for (size_t i = 0; i < count; ++i)
    sum += buffer[i];
  moeFlushSink = sum;
  return count * sizeof(uint64_t);
}

void moe_flush_caches_release(void) {
  moe_aligned_free(moeFlushBuffer);
  moeFlushBuffer = NULL;
  moeFlushCount = 0;
}

/* The buffers the heap functions of compiled code keep for reuse: an
 * unordered set of (buffer, usable bytes), under one lock (only buffers of
 * at least MOE_RUNTIME_CACHED_BUFFER_BYTES come here, a few per call). */
typedef struct {
  void *buffer;
  size_t bytes;
} MoECachedBuffer;

static MoECachedBuffer moeCachedBuffers[MOE_RUNTIME_CACHED_BUFFERS];
static size_t moeCachedBufferCount;
static size_t moeCachedBytes;
static pthread_mutex_t moeCachedBuffersLock = PTHREAD_MUTEX_INITIALIZER;

/* The smallest kept buffer of `bytes` to `bytes` + 25 %, taken out of the
 * cache; NULL when there is none. */
static void *takeCachedBuffer(size_t bytes, size_t alignment) {
  size_t most = bytes + bytes / 4;
  void *found = NULL;
  pthread_mutex_lock(&moeCachedBuffersLock);
  size_t best = moeCachedBufferCount;
  for (size_t i = 0; i < moeCachedBufferCount; ++i) {
    MoECachedBuffer entry = moeCachedBuffers[i];
    if (entry.bytes < bytes || entry.bytes > most ||
        (uintptr_t)entry.buffer % alignment != 0)
      continue;
    if (best == moeCachedBufferCount ||
        entry.bytes < moeCachedBuffers[best].bytes)
      best = i;
  }
  if (best < moeCachedBufferCount) {
    found = moeCachedBuffers[best].buffer;
    moeCachedBytes -= moeCachedBuffers[best].bytes;
    moeCachedBuffers[best] = moeCachedBuffers[--moeCachedBufferCount];
  }
  pthread_mutex_unlock(&moeCachedBuffersLock);
  return found;
}

static void *allocateForCompiledCode(size_t bytes, size_t alignment) {
  if (bytes < MOE_RUNTIME_CACHED_BUFFER_BYTES) {
    if (alignment <= MOE_RUNTIME_ALIGNMENT)
      return malloc(bytes);
    return allocateAligned(bytes, alignment);
  }
  if (alignment < MOE_RUNTIME_ALIGNMENT)
    alignment = MOE_RUNTIME_ALIGNMENT;
  void *buffer = takeCachedBuffer(bytes, alignment);
  if (buffer)
    return buffer;
  if (alignment == MOE_RUNTIME_ALIGNMENT)
    return moe_aligned_alloc(bytes);
  return allocateAligned(bytes, alignment);
}

void *_mlir_memref_to_llvm_alloc(size_t bytes) {
  return allocateForCompiledCode(bytes, 1);
}

void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t bytes) {
  return allocateForCompiledCode(bytes, alignment);
}

void _mlir_memref_to_llvm_free(void *ptr) {
  if (!ptr)
    return;
  size_t bytes = malloc_usable_size(ptr);
  if (bytes >= MOE_RUNTIME_CACHED_BUFFER_BYTES) {
    int kept = 0;
    pthread_mutex_lock(&moeCachedBuffersLock);
    if (moeCachedBufferCount < MOE_RUNTIME_CACHED_BUFFERS &&
        moeCachedBytes + bytes <= MOE_RUNTIME_CACHED_BUFFER_LIMIT) {
      moeCachedBuffers[moeCachedBufferCount].buffer = ptr;
      moeCachedBuffers[moeCachedBufferCount].bytes = bytes;
      ++moeCachedBufferCount;
      moeCachedBytes += bytes;
      kept = 1;
    }
    pthread_mutex_unlock(&moeCachedBuffersLock);
    if (kept)
      return;
  }
  free(ptr);
}

void moe_release_cached_buffers(void) {
  pthread_mutex_lock(&moeCachedBuffersLock);
  for (size_t i = 0; i < moeCachedBufferCount; ++i)
    free(moeCachedBuffers[i].buffer);
  moeCachedBufferCount = 0;
  moeCachedBytes = 0;
  pthread_mutex_unlock(&moeCachedBuffersLock);
}

/* A view of a ranked memref descriptor as MLIR lays it out. */
typedef struct {
  char *aligned;
  int64_t offset;
  const int64_t *sizes;
  const int64_t *strides;
} MoEStridedView;

static MoEStridedView moeViewOf(const MoEUnrankedMemRef *memref) {
  char *base = (char *)memref->descriptor;
  MoEStridedView view;
  memcpy(&view.aligned, base + sizeof(void *), sizeof(void *));
  memcpy(&view.offset, base + 2 * sizeof(void *), sizeof(int64_t));
  view.sizes = (const int64_t *)(base + 2 * sizeof(void *) + sizeof(int64_t));
  view.strides = view.sizes + memref->rank;
  return view;
}

void memrefCopy(int64_t elementSize, MoEUnrankedMemRef *src,
                MoEUnrankedMemRef *dst) {
  int64_t rank = src->rank;
  MoEStridedView from = moeViewOf(src);
  MoEStridedView to = moeViewOf(dst);
  char *srcBase = from.aligned + from.offset * elementSize;
  char *dstBase = to.aligned + to.offset * elementSize;
  if (rank == 0) {
    memcpy(dstBase, srcBase, (size_t)elementSize);
    return;
  }
  for (int64_t d = 0; d < rank; ++d)
    if (from.sizes[d] == 0)
      return;

  /* Merge the innermost dims that are contiguous in both buffers into one
   * run of `runElements` elements, copied with one memcpy. */
  int64_t runElements = 1;
  int64_t outerRank = rank;
  while (outerRank > 0 && from.strides[outerRank - 1] == runElements &&
         to.strides[outerRank - 1] == runElements) {
    runElements *= from.sizes[outerRank - 1];
    --outerRank;
  }
  size_t runBytes = (size_t)(runElements * elementSize);
  if (runElements == 1) {
    /* The innermost dim is strided: copy element by element along it. */
    runBytes = (size_t)elementSize;
  }

  /* Odometer over the outer dims (the innermost strided dim included when
   * no run formed). */
  int64_t indices[outerRank > 0 ? outerRank : 1];
  memset(indices, 0, sizeof(indices));
  int64_t srcOffset = 0, dstOffset = 0;
  for (;;) {
    memcpy(dstBase + dstOffset * elementSize, srcBase + srcOffset * elementSize,
           runBytes);
    int64_t d = outerRank - 1;
    for (; d >= 0; --d) {
      ++indices[d];
      srcOffset += from.strides[d];
      dstOffset += to.strides[d];
      if (indices[d] < from.sizes[d])
        break;
      srcOffset -= from.strides[d] * from.sizes[d];
      dstOffset -= to.strides[d] * to.sizes[d];
      indices[d] = 0;
    }
    if (d < 0)
      return;
  }
}
