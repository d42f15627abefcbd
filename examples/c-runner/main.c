/*===- main.c - Call a moe model compiled by moe-compile from C -----------===*\
|*                                                                            *|
|* Runs examples/c-runner/moe_layer.mlir, compiled to a shared library with   *|
|* its header by moe-compile, on T tokens of deterministic inputs and prints  *|
|* the result, one token per line. The inputs are simple formulas so that a   *|
|* reference implementation can rebuild them exactly (test/Examples).         *|
|*                                                                            *|
|*   moe-compile moe_layer.mlir --emit=shared -o libmoe_layer.so \            *|
|*     --header=moe_layer.h                                                   *|
|*   clang-22 -O2 -I. -I<moe-mlir>/include main.c -L. -lmoe_layer \           *|
|*     -L<build>/lib -lmoe_runtime -Wl,-rpath,.:<build>/lib -lm -o runner     *|
|*   ./runner 5                                                               *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "moe_layer.h"

#include "moe/Runtime/MoERuntime.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { D = 16, E = 4, F = 32, S = 64 };

/* A row-major buffer of `count` floats from moe_aligned_alloc, element i set
 * to scale * sin(seed + 0.37 * i), computed in double and rounded once. */
static float *makeInput(size_t count, double seed, double scale) {
  float *data = (float *)moe_aligned_alloc(count * sizeof(float));
  if (!data) {
    fprintf(stderr, "c-runner: out of memory\n");
    exit(1);
  }
  for (size_t i = 0; i < count; ++i)
    data[i] = (float)(scale * sin(seed + 0.37 * (double)i));
  return data;
}

/* Descriptors of identity-layout (row-major) buffers. */
static moe_memref_2d_f32 describe2d(float *data, int64_t rows, int64_t cols) {
  moe_memref_2d_f32 memref = {data, data, 0, {rows, cols}, {cols, 1}};
  return memref;
}

static moe_memref_3d_f32 describe3d(float *data, int64_t n, int64_t rows,
                                    int64_t cols) {
  moe_memref_3d_f32 memref = {
      data, data, 0, {n, rows, cols}, {rows * cols, cols, 1}};
  return memref;
}

int main(int argc, char **argv) {
  int64_t tokens = argc > 1 ? atoll(argv[1]) : 4;
  if (tokens < 1) {
    fprintf(stderr, "usage: %s [tokens >= 1]\n", argv[0]);
    return 1;
  }

  float *x = makeInput((size_t)tokens * D, 0.0, 1.0);
  float *router = makeInput(E * D, 1.0, 0.5);
  float *gate = makeInput(E * F * D, 2.0, 0.25);
  float *up = makeInput(E * F * D, 3.0, 0.25);
  float *down = makeInput(E * D * F, 4.0, 0.25);
  float *sharedGate = makeInput(S * D, 5.0, 0.25);
  float *sharedUp = makeInput(S * D, 6.0, 0.25);
  float *sharedDown = makeInput(D * S, 7.0, 0.25);

  moe_memref_2d_f32 xArg = describe2d(x, tokens, D);
  moe_memref_2d_f32 routerArg = describe2d(router, E, D);
  moe_memref_3d_f32 gateArg = describe3d(gate, E, F, D);
  moe_memref_3d_f32 upArg = describe3d(up, E, F, D);
  moe_memref_3d_f32 downArg = describe3d(down, E, D, F);
  moe_memref_2d_f32 sharedGateArg = describe2d(sharedGate, S, D);
  moe_memref_2d_f32 sharedUpArg = describe2d(sharedUp, S, D);
  moe_memref_2d_f32 sharedDownArg = describe2d(sharedDown, D, S);

  /* The result comes back through the first argument: a new buffer. */
  moe_memref_2d_f32 y;
  uint64_t start = moe_now_ns();
  _mlir_ciface_moe_layer(&y, &xArg, &routerArg, &gateArg, &upArg, &downArg,
                         &sharedGateArg, &sharedUpArg, &sharedDownArg);
  uint64_t stop = moe_now_ns();

  printf("y: %lldx%lld\n", (long long)y.sizes[0], (long long)y.sizes[1]);
  for (int64_t t = 0; t < y.sizes[0]; ++t) {
    for (int64_t d = 0; d < y.sizes[1]; ++d)
      printf("%s%.9g", d ? " " : "",
             y.aligned[y.offset + t * y.strides[0] + d * y.strides[1]]);
    printf("\n");
  }
  fprintf(stderr, "c-runner: %lld tokens in %.3f ms on %d threads\n",
          (long long)tokens, (double)(stop - start) * 1e-6, moe_num_threads());

  free(y.allocated);
  moe_aligned_free(x);
  moe_aligned_free(router);
  moe_aligned_free(gate);
  moe_aligned_free(up);
  moe_aligned_free(down);
  moe_aligned_free(sharedGate);
  moe_aligned_free(sharedUp);
  moe_aligned_free(sharedDown);
  return 0;
}
