/* Calls the lowered `@scale_on_gpu` of scale-cuda.mlir on a host buffer and
 * checks that every element came back doubled (exact in f32). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* memref<?xf32> as MLIR's C interface passes it. */
typedef struct {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t size;
  int64_t stride;
} MemRef1D;

void _mlir_ciface_scale_on_gpu(MemRef1D *values);

int main(void) {
  enum { Count = 1000 };
  float *values = malloc(Count * sizeof(float));
  for (int i = 0; i < Count; ++i)
    values[i] = 0.5f * (float)i - 3.0f;
  MemRef1D memref = {values, values, 0, Count, 1};
  _mlir_ciface_scale_on_gpu(&memref);
  for (int i = 0; i < Count; ++i) {
    float expected = 2.0f * (0.5f * (float)i - 3.0f);
    if (values[i] != expected) {
      printf("element %d: %g, expected %g\n", i, values[i], expected);
      return 1;
    }
  }
  printf("scaled %d elements: ok\n", Count);
  free(values);
  return 0;
}
