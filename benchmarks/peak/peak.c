/* peak.c - the measured FMA peak of this CPU on all cores.
 *
 * The compute side of the benchmark limit (BENCHMARKS.md): a register-only
 * loop of independent FMAs on every OpenMP thread, best of several runs.
 *
 *   f32_fma_gflops   AVX-512 vfmadd231ps (16 lanes x 2 flops); AVX2 where
 *                    the CPU has no AVX-512
 *   bf16_dot_gflops  AVX512-BF16 vdpbf16ps (16 lanes x 2 bf16 products
 *                    x 2 flops); "none" where the CPU lacks avx512_bf16
 *
 * Each kernel keeps 16 accumulators (more than FMA latency x FMA pipes on
 * any current x86 core), so the loop is bound by FMA throughput alone. The
 * kernels carry their own target attributes and are picked at run time, so
 * the file builds with any x86-64 flags. benchmarks/run.py builds it with
 *
 *   clang-22 -O2 -march=native -fopenmp peak.c -o peak
 *   ./peak [--runs N] [--iterations N]
 */

#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Keeps the compiler from dropping the accumulators. */
static volatile float sink;

static double now_seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* 16 independent chains acc = acc * a + b (converging, never overflowing);
 * returns the flops done. */
__attribute__((target("avx512f"))) static double fma_avx512(long iterations) {
  __m512 a = _mm512_set1_ps(0.99999f), b = _mm512_set1_ps(1e-5f);
  __m512 acc[16];
  for (int i = 0; i < 16; ++i)
    acc[i] = _mm512_set1_ps((float)i);
  for (long n = 0; n < iterations; ++n) {
    /* Spelled out so that every accumulator stays in a register. */
    acc[0] = _mm512_fmadd_ps(acc[0], a, b);
    acc[1] = _mm512_fmadd_ps(acc[1], a, b);
    acc[2] = _mm512_fmadd_ps(acc[2], a, b);
    acc[3] = _mm512_fmadd_ps(acc[3], a, b);
    acc[4] = _mm512_fmadd_ps(acc[4], a, b);
    acc[5] = _mm512_fmadd_ps(acc[5], a, b);
    acc[6] = _mm512_fmadd_ps(acc[6], a, b);
    acc[7] = _mm512_fmadd_ps(acc[7], a, b);
    acc[8] = _mm512_fmadd_ps(acc[8], a, b);
    acc[9] = _mm512_fmadd_ps(acc[9], a, b);
    acc[10] = _mm512_fmadd_ps(acc[10], a, b);
    acc[11] = _mm512_fmadd_ps(acc[11], a, b);
    acc[12] = _mm512_fmadd_ps(acc[12], a, b);
    acc[13] = _mm512_fmadd_ps(acc[13], a, b);
    acc[14] = _mm512_fmadd_ps(acc[14], a, b);
    acc[15] = _mm512_fmadd_ps(acc[15], a, b);
  }
  __m512 total = acc[0];
  for (int i = 1; i < 16; ++i)
    total = _mm512_add_ps(total, acc[i]);
  sink = _mm512_reduce_add_ps(total);
  return (double)iterations * 16 * 16 * 2;
}

__attribute__((target("avx2,fma"))) static double fma_avx2(long iterations) {
  __m256 a = _mm256_set1_ps(0.99999f), b = _mm256_set1_ps(1e-5f);
  __m256 acc[16];
  for (int i = 0; i < 16; ++i)
    acc[i] = _mm256_set1_ps((float)i);
  for (long n = 0; n < iterations; ++n) {
    acc[0] = _mm256_fmadd_ps(acc[0], a, b);
    acc[1] = _mm256_fmadd_ps(acc[1], a, b);
    acc[2] = _mm256_fmadd_ps(acc[2], a, b);
    acc[3] = _mm256_fmadd_ps(acc[3], a, b);
    acc[4] = _mm256_fmadd_ps(acc[4], a, b);
    acc[5] = _mm256_fmadd_ps(acc[5], a, b);
    acc[6] = _mm256_fmadd_ps(acc[6], a, b);
    acc[7] = _mm256_fmadd_ps(acc[7], a, b);
    acc[8] = _mm256_fmadd_ps(acc[8], a, b);
    acc[9] = _mm256_fmadd_ps(acc[9], a, b);
    acc[10] = _mm256_fmadd_ps(acc[10], a, b);
    acc[11] = _mm256_fmadd_ps(acc[11], a, b);
    acc[12] = _mm256_fmadd_ps(acc[12], a, b);
    acc[13] = _mm256_fmadd_ps(acc[13], a, b);
    acc[14] = _mm256_fmadd_ps(acc[14], a, b);
    acc[15] = _mm256_fmadd_ps(acc[15], a, b);
  }
  __m256 total = acc[0];
  for (int i = 1; i < 16; ++i)
    total = _mm256_add_ps(total, acc[i]);
  float lanes[8];
  _mm256_storeu_ps(lanes, total);
  sink = lanes[0] + lanes[7];
  return (double)iterations * 16 * 8 * 2;
}

/* 16 independent chains acc += dot(a, b) over bf16 pairs; the products are
 * tiny, so the sums stay far from overflow. */
__attribute__((target("avx512f,avx512bf16"))) static double
dot_bf16(long iterations) {
  __m512 small = _mm512_set1_ps(1e-3f);
  __m512bh a = _mm512_cvtne2ps_pbh(small, small);
  __m512bh b = _mm512_cvtne2ps_pbh(small, small);
  __m512 acc[16];
  for (int i = 0; i < 16; ++i)
    acc[i] = _mm512_set1_ps((float)i);
  for (long n = 0; n < iterations; ++n) {
    acc[0] = _mm512_dpbf16_ps(acc[0], a, b);
    acc[1] = _mm512_dpbf16_ps(acc[1], a, b);
    acc[2] = _mm512_dpbf16_ps(acc[2], a, b);
    acc[3] = _mm512_dpbf16_ps(acc[3], a, b);
    acc[4] = _mm512_dpbf16_ps(acc[4], a, b);
    acc[5] = _mm512_dpbf16_ps(acc[5], a, b);
    acc[6] = _mm512_dpbf16_ps(acc[6], a, b);
    acc[7] = _mm512_dpbf16_ps(acc[7], a, b);
    acc[8] = _mm512_dpbf16_ps(acc[8], a, b);
    acc[9] = _mm512_dpbf16_ps(acc[9], a, b);
    acc[10] = _mm512_dpbf16_ps(acc[10], a, b);
    acc[11] = _mm512_dpbf16_ps(acc[11], a, b);
    acc[12] = _mm512_dpbf16_ps(acc[12], a, b);
    acc[13] = _mm512_dpbf16_ps(acc[13], a, b);
    acc[14] = _mm512_dpbf16_ps(acc[14], a, b);
    acc[15] = _mm512_dpbf16_ps(acc[15], a, b);
  }
  __m512 total = acc[0];
  for (int i = 1; i < 16; ++i)
    total = _mm512_add_ps(total, acc[i]);
  sink = _mm512_reduce_add_ps(total);
  /* Each lane: two bf16 products and their sum into the f32 lane. */
  return (double)iterations * 16 * 16 * 2 * 2;
}

typedef double (*Kernel)(long iterations);

/* GFLOP/s of `kernel` on every thread at once, best of `runs`. */
static double measure(Kernel kernel, long iterations, int runs) {
  double best = 0.0;
  /* The first (untimed) region starts the threads and warms the clocks. */
#pragma omp parallel
  kernel(iterations / 10 + 1);
  for (int run = 0; run < runs; ++run) {
    double flops = 0.0;
    double start = now_seconds();
#pragma omp parallel reduction(+ : flops)
    flops += kernel(iterations);
    double seconds = now_seconds() - start;
    double gflops = flops / seconds * 1e-9;
    if (gflops > best)
      best = gflops;
  }
  return best;
}

int main(int argc, char **argv) {
  int runs = 7;
  long iterations = 20000000;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
      runs = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
      iterations = atol(argv[++i]);
    } else {
      fprintf(stderr, "usage: %s [--runs N] [--iterations N]\n", argv[0]);
      return 2;
    }
  }
  if (runs < 1 || iterations < 1) {
    fprintf(stderr, "peak: --runs and --iterations must be positive\n");
    return 2;
  }

  __builtin_cpu_init();
  int avx512 = __builtin_cpu_supports("avx512f");
  int bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
  printf("threads=%d\n", omp_get_max_threads());
  printf("f32_isa=%s\n", avx512 ? "avx512" : "avx2");
  printf("f32_fma_gflops=%.1f\n",
         measure(avx512 ? fma_avx512 : fma_avx2, iterations, runs));
  if (bf16)
    printf("bf16_dot_gflops=%.1f\n", measure(dot_bf16, iterations, runs));
  else
    printf("bf16_dot_gflops=none\n");
  return 0;
}
