/*===- MoERuntime.h - The moe-mlir runtime library, plain C ABI ---*- C -*-===*\
|*                                                                            *|
|* libmoe_runtime.so: what compiled moe models and the moe tools call at run  *|
|* time. A plain C ABI with no MLIR dependency, so that a C program linking   *|
|* a model compiled by moe-compile needs nothing else (besides libomp):       *|
|* 64-byte aligned buffers, a monotonic clock, a memory-bandwidth probe, a    *|
|* cache flush for cold benchmarks, and `memrefCopy`, which code lowered by   *|
|* MLIR's memref-to-llvm conversion calls for copies between strided          *|
|* (non-contiguous) buffers.                                                  *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef MOE_RUNTIME_MOERUNTIME_H
#define MOE_RUNTIME_MOERUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The library is built with hidden visibility; only what this header
 *  declares is exported. */
#if defined(_WIN32)
#define MOE_RUNTIME_EXPORT
#else
#define MOE_RUNTIME_EXPORT __attribute__((visibility("default")))
#endif

/** The alignment of every buffer moe_aligned_alloc returns: one cache
 *  line, and one AVX-512 register. */
#define MOE_RUNTIME_ALIGNMENT 64

/** Buffers of at least this many bytes are aligned to it and advised for
 *  transparent huge pages (see moe_aligned_alloc). */
#define MOE_RUNTIME_HUGE_PAGE_BYTES ((size_t)2 << 20)

/** Allocates `bytes` bytes aligned to MOE_RUNTIME_ALIGNMENT (a zero-byte
 *  request gets a valid, freeable pointer). A buffer of at least
 *  MOE_RUNTIME_HUGE_PAGE_BYTES (a model's weights) is aligned to that and
 *  advised for transparent huge pages before its first touch
 *  (madvise(MADV_HUGEPAGE), which works where the system's THP setting is
 *  `madvise` or `always`): one TLB entry then maps 2 MiB instead of 4 KiB,
 *  and a decode step that streams its experts' weights cold from DRAM does
 *  not wait on a page walk every 4 KiB. Returns NULL when out of memory.
 *  Free with moe_aligned_free (or free(): it comes from aligned_alloc). */
MOE_RUNTIME_EXPORT void *moe_aligned_alloc(size_t bytes);

/** Frees a buffer from moe_aligned_alloc; NULL is ignored. */
MOE_RUNTIME_EXPORT void moe_aligned_free(void *ptr);

/** Nanoseconds on a monotonic clock (CLOCK_MONOTONIC): only differences
 *  mean anything. */
MOE_RUNTIME_EXPORT uint64_t moe_now_ns(void);

/** The number of threads an OpenMP parallel region uses by default
 *  (OMP_NUM_THREADS, or the cores available to the process). */
MOE_RUNTIME_EXPORT int moe_num_threads(void);

/** Measures the sustained read bandwidth of main memory in GB/s (1e9 bytes
 *  per second): every OpenMP thread sums its static share of a buffer of
 *  `bytes` bytes (0 picks 1 GiB; use a size much larger than the last-level
 *  cache), and the best of `repeats` runs (<= 0 picks 5) counts. The buffer
 *  is first written by the same threads, so its pages are local to them.
 *  Returns a negative number when the buffer cannot be allocated. */
MOE_RUNTIME_EXPORT double moe_measure_read_bandwidth_gbps(size_t bytes,
                                                          int repeats);

/** The size in bytes of the last-level data cache as the system reports it
 *  (sysconf), or 0 when it does not say. */
MOE_RUNTIME_EXPORT size_t moe_last_level_cache_bytes(void);

/** Evicts the caches before a cold timed call: every OpenMP thread sums its
 *  static share of a flush buffer of `bytes` bytes (0 picks 4x the
 *  last-level cache, at least 256 MiB and at most 2 GiB), so that what the
 *  previous call read is no longer in any core's caches. The buffer is
 *  allocated and written on the first call and kept for the later ones (it
 *  grows when a call asks for more; moe_flush_caches_release frees it).
 *  Call it from one thread at a time. Returns the bytes read, or 0 when the
 *  buffer cannot be allocated. */
MOE_RUNTIME_EXPORT size_t moe_flush_caches(size_t bytes);

/** Frees the buffer of moe_flush_caches (the next call allocates it again). */
MOE_RUNTIME_EXPORT void moe_flush_caches_release(void);

/** The heap functions of compiled code: the CPU and GPU pipelines lower
 *  memref.alloc and memref.dealloc to calls of these (MLIR's
 *  finalize-memref-to-llvm with use-generic-functions) instead of malloc
 *  and free.
 *
 *  Buffers of at least MOE_RUNTIME_CACHED_BUFFER_BYTES (a prefill's
 *  dispatched rows and expert outputs, megabytes per call) are kept when
 *  freed and handed out again to a later request of about their size
 *  (at least that size, at most a quarter more): glibc returns such
 *  buffers to the system, so every call used to fault in and zero their
 *  pages anew (OLMoE f32 at T = 256: ~8,000 page faults a call). A kept
 *  buffer of at least MOE_RUNTIME_HUGE_PAGE_BYTES also stays on the huge
 *  pages moe_aligned_alloc gave it. The cache keeps at most
 *  MOE_RUNTIME_CACHED_BUFFERS buffers and MOE_RUNTIME_CACHED_BUFFER_LIMIT
 *  bytes; past that a freed buffer goes back to libc. Smaller buffers go
 *  to malloc and free as before. Every buffer comes from malloc or
 *  aligned_alloc, so a buffer the compiled code returns may still be
 *  released with free() (what moe-compile's C users do); one released that
 *  way simply never comes back to the cache. Thread-safe. */
#define MOE_RUNTIME_CACHED_BUFFER_BYTES ((size_t)256 << 10)
#define MOE_RUNTIME_CACHED_BUFFERS 64
#define MOE_RUNTIME_CACHED_BUFFER_LIMIT ((size_t)2 << 30)
MOE_RUNTIME_EXPORT void *_mlir_memref_to_llvm_alloc(size_t bytes);
MOE_RUNTIME_EXPORT void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment,
                                                            size_t bytes);
MOE_RUNTIME_EXPORT void _mlir_memref_to_llvm_free(void *ptr);

/** Frees the buffers the heap functions above keep (for a program that is
 *  done with its models and wants the memory back). */
MOE_RUNTIME_EXPORT void moe_release_cached_buffers(void);

/** A memref of any rank as MLIR passes it to runtime functions: the rank
 *  and a pointer to a ranked descriptor
 *  {allocated, aligned, offset, sizes[rank], strides[rank]}. */
typedef struct MoEUnrankedMemRef {
  int64_t rank;
  void *descriptor;
} MoEUnrankedMemRef;

/** Copies the elements (of `elementSize` bytes) of `src` into `dst`, which
 *  have the same shape and may have any strides; runs of contiguous
 *  elements are copied with memcpy. MLIR's finalize-memref-to-llvm lowers
 *  a memref.copy between non-contiguous memrefs to a call of this
 *  function. */
MOE_RUNTIME_EXPORT void memrefCopy(int64_t elementSize, MoEUnrankedMemRef *src,
                                   MoEUnrankedMemRef *dst);

#ifdef __cplusplus
}
#endif

#endif /* MOE_RUNTIME_MOERUNTIME_H */
