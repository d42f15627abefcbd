//===- MoERuntimeTest.cpp - libmoe_runtime.so -----------------------------===//
//
// The C runtime: aligned allocation, the heap functions of compiled code
// (their cache of large buffers), the monotonic clock, the bandwidth
// probe and the cache flush on small buffers, and memrefCopy over
// contiguous, strided, transposed, rank-0 and empty memrefs (what
// finalize-memref-to-llvm calls for copies between non-contiguous buffers).
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/MoERuntime.h"

#include "gtest/gtest.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <vector>

namespace {

/// A ranked memref descriptor as MLIR lays it out.
template <int Rank> struct Descriptor {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[Rank];
  int64_t strides[Rank];
};

template <int Rank> MoEUnrankedMemRef unranked(Descriptor<Rank> &descriptor) {
  return {Rank, &descriptor};
}

TEST(MoERuntimeTest, AlignedAllocation) {
  for (size_t bytes : {0, 1, 63, 64, 65, 4096, 1 << 20}) {
    void *ptr = moe_aligned_alloc(bytes);
    ASSERT_NE(ptr, nullptr) << bytes;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(ptr) % MOE_RUNTIME_ALIGNMENT, 0u)
        << bytes;
    moe_aligned_free(ptr);
  }
  moe_aligned_free(nullptr);
  // Out of memory is NULL, not an abort.
  EXPECT_EQ(moe_aligned_alloc(SIZE_MAX - 8), nullptr);
}

TEST(MoERuntimeTest, LargeBuffersStartOnAHugePage) {
  // Weights-sized buffers are aligned to 2 MiB (and advised for huge
  // pages), whole and writable; smaller ones keep the cache-line alignment.
  for (size_t bytes : {MOE_RUNTIME_HUGE_PAGE_BYTES,
                       MOE_RUNTIME_HUGE_PAGE_BYTES + 1, size_t(9) << 20}) {
    auto *ptr = static_cast<unsigned char *>(moe_aligned_alloc(bytes));
    ASSERT_NE(ptr, nullptr) << bytes;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(ptr) % MOE_RUNTIME_HUGE_PAGE_BYTES,
              0u)
        << bytes;
    std::memset(ptr, 1, bytes);
    EXPECT_EQ(ptr[bytes - 1], 1);
    moe_aligned_free(ptr);
  }
  EXPECT_EQ(moe_aligned_alloc(SIZE_MAX - (size_t(1) << 20)), nullptr);
}

TEST(MoERuntimeTest, CompiledCodeHeapReusesLargeBuffers) {
  moe_release_cached_buffers();
  // A large buffer comes back for a request of about its size...
  size_t bytes = MOE_RUNTIME_CACHED_BUFFER_BYTES * 4;
  void *first = _mlir_memref_to_llvm_alloc(bytes);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % MOE_RUNTIME_ALIGNMENT, 0u);
  std::memset(first, 1, bytes);
  _mlir_memref_to_llvm_free(first);
  void *again = _mlir_memref_to_llvm_alloc(bytes - 100);
  EXPECT_EQ(again, first);
  // ...but not for one much smaller (it would waste the rest) or larger.
  _mlir_memref_to_llvm_free(again);
  void *smaller = _mlir_memref_to_llvm_alloc(bytes / 2);
  EXPECT_NE(smaller, first);
  void *larger = _mlir_memref_to_llvm_alloc(bytes * 2);
  EXPECT_NE(larger, first);
  // A kept buffer is taken once: two requests get two buffers.
  void *taken = _mlir_memref_to_llvm_alloc(bytes);
  void *other = _mlir_memref_to_llvm_alloc(bytes);
  EXPECT_EQ(taken, first);
  EXPECT_NE(other, taken);
  // A buffer from these functions may still be released with free().
  std::free(other);
  for (void *buffer : {smaller, larger, taken})
    _mlir_memref_to_llvm_free(buffer);
  // Small buffers, an aligned request and NULL.
  void *small = _mlir_memref_to_llvm_alloc(100);
  ASSERT_NE(small, nullptr);
  _mlir_memref_to_llvm_free(small);
  void *aligned = _mlir_memref_to_llvm_aligned_alloc(4096, bytes);
  ASSERT_NE(aligned, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(aligned) % 4096, 0u);
  _mlir_memref_to_llvm_free(aligned);
  _mlir_memref_to_llvm_free(nullptr);
  moe_release_cached_buffers();
}

TEST(MoERuntimeTest, ClockIsMonotonic) {
  uint64_t before = moe_now_ns();
  volatile uint64_t spin = 0;
  for (int i = 0; i < 100000; ++i)
    spin = spin + i;
  uint64_t after = moe_now_ns();
  EXPECT_GT(after, before);
  EXPECT_GE(moe_num_threads(), 1);
}

TEST(MoERuntimeTest, BandwidthProbeReturnsARate) {
  // A small buffer: this checks the plumbing, not the machine.
  double gbps = moe_measure_read_bandwidth_gbps(8 << 20, 2);
  EXPECT_GT(gbps, 0.01);
  EXPECT_LT(gbps, 1e5);
}

TEST(MoERuntimeTest, CacheFlushReadsTheBufferItKeeps) {
  // A small buffer: this checks the plumbing, not that caches are evicted.
  EXPECT_EQ(moe_flush_caches(1 << 20), size_t(1) << 20);
  // A second call of the same or a smaller size reuses the buffer.
  EXPECT_EQ(moe_flush_caches(1 << 20), size_t(1) << 20);
  EXPECT_EQ(moe_flush_caches(4096), size_t(4096));
  // It grows when asked for more.
  EXPECT_EQ(moe_flush_caches(2 << 20), size_t(2) << 20);
  moe_flush_caches_release();
  moe_flush_caches_release(); // twice is harmless
  EXPECT_EQ(moe_flush_caches(8), size_t(8));
  moe_flush_caches_release();
}

TEST(MoERuntimeTest, CopyStridedToContiguous) {
  // src: the 3x4 window at column 1 of a 3x5 row-major buffer.
  std::vector<float> source(15);
  std::iota(source.begin(), source.end(), 0.0f);
  std::vector<float> target(12, -1.0f);
  Descriptor<2> src{source.data(), source.data(), 1, {3, 4}, {5, 1}};
  Descriptor<2> dst{target.data(), target.data(), 0, {3, 4}, {4, 1}};
  MoEUnrankedMemRef from = unranked(src), to = unranked(dst);
  memrefCopy(sizeof(float), &from, &to);
  EXPECT_EQ(target,
            (std::vector<float>{1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14}));
}

TEST(MoERuntimeTest, CopyTransposed) {
  // The first 4 columns of a 3x5 buffer read with strides [1, 5]: their
  // 4x3 transpose, copied element by element.
  std::vector<float> source(15);
  std::iota(source.begin(), source.end(), 0.0f);
  std::vector<float> target(12, -1.0f);
  Descriptor<2> src{source.data(), source.data(), 0, {4, 3}, {1, 5}};
  Descriptor<2> dst{target.data(), target.data(), 0, {4, 3}, {3, 1}};
  MoEUnrankedMemRef from = unranked(src), to = unranked(dst);
  memrefCopy(sizeof(float), &from, &to);
  EXPECT_EQ(target,
            (std::vector<float>{0, 5, 10, 1, 6, 11, 2, 7, 12, 3, 8, 13}));
}

TEST(MoERuntimeTest, CopyIntoStridedTarget) {
  // A contiguous 2x2x2 block into every other row of a 2x4x2 buffer.
  std::vector<float> source(8);
  std::iota(source.begin(), source.end(), 1.0f);
  std::vector<float> target(16, 0.0f);
  Descriptor<3> src{source.data(), source.data(), 0, {2, 2, 2}, {4, 2, 1}};
  Descriptor<3> dst{target.data(), target.data(), 0, {2, 2, 2}, {8, 4, 1}};
  MoEUnrankedMemRef from = unranked(src), to = unranked(dst);
  memrefCopy(sizeof(float), &from, &to);
  EXPECT_EQ(target, (std::vector<float>{1, 2, 0, 0, 3, 4, 0, 0, 5, 6, 0, 0, 7,
                                        8, 0, 0}));
}

TEST(MoERuntimeTest, CopyRankZeroAndEmpty) {
  // Rank 0: a descriptor without sizes and strides.
  float value = 3.5f, result = 0.0f;
  struct {
    float *allocated, *aligned;
    int64_t offset;
  } src{&value, &value, 0}, dst{&result, &result, 0};
  MoEUnrankedMemRef from{0, &src}, to{0, &dst};
  memrefCopy(sizeof(float), &from, &to);
  EXPECT_EQ(result, 3.5f);

  // A 0x4 memref copies nothing (and reads nothing).
  Descriptor<2> emptySrc{nullptr, nullptr, 0, {0, 4}, {4, 1}};
  Descriptor<2> emptyDst{nullptr, nullptr, 0, {0, 4}, {4, 1}};
  MoEUnrankedMemRef emptyFrom = unranked(emptySrc),
                    emptyTo = unranked(emptyDst);
  memrefCopy(sizeof(float), &emptyFrom, &emptyTo);
}

} // namespace
