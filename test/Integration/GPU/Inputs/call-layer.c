/* Calls the `@layer` entry point of moe-layer-fake-runtime.mlir, compiled by
 * moe-compile --target=cuda, with T = 5 rows: the fake runtime simulates
 * device memory on the host, so host buffers stand in for device ones. The
 * result is released the way the header says (a device buffer). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "layer.h"

void mgpuMemFree(void *ptr, void *stream);

static moe_memref_2d_f32 matrix(int64_t rows, int64_t cols) {
  float *data = calloc((size_t)(rows * cols), sizeof(float));
  moe_memref_2d_f32 m = {data, data, 0, {rows, cols}, {cols, 1}};
  return m;
}

static moe_memref_3d_f32 tensor3(int64_t a, int64_t b, int64_t c) {
  float *data = calloc((size_t)(a * b * c), sizeof(float));
  moe_memref_3d_f32 t = {data, data, 0, {a, b, c}, {b * c, c, 1}};
  return t;
}

int main(void) {
  moe_memref_2d_f32 x = matrix(5, 64), router = matrix(8, 64), result;
  moe_memref_3d_f32 gate = tensor3(8, 32, 64), up = tensor3(8, 32, 64),
                    down = tensor3(8, 64, 32);
  _mlir_ciface_layer(&result, &x, &router, &gate, &up, &down);
  fprintf(stderr, "result %lldx%lld\n", (long long)result.sizes[0],
          (long long)result.sizes[1]);
  mgpuMemFree(result.allocated, NULL);
  fprintf(stderr, "layer returned\n");
  return 0;
}
