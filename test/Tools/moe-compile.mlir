// REQUIRES: clang
// moe-compile lowers a module with moe-cpu-pipeline, optimizes it at -O3 for
// this CPU and writes the LLVM dialect, LLVM IR, an object file or a shared
// library, plus a C header; a C program built against the header and the
// library gets the results that a C reference computes.

// RUN: rm -rf %t && split-file %s %t
// RUN: moe-compile %t/model.mlir --emit=mlir -o - | FileCheck %s --check-prefix=MLIR
// RUN: moe-compile %t/model.mlir --emit=llvm-ir -o %t/model.ll
// RUN: FileCheck %s --check-prefix=IR < %t/model.ll
// RUN: not grep "define .*@main(" %t/model.ll
// RUN: moe-compile %t/model.mlir --emit=obj -o %t/model.o
// RUN: llvm-nm %t/model.o | FileCheck %s --check-prefix=OBJ
// RUN: moe-compile %t/model.mlir --emit=shared -o %t/libmodel.so --header=%t/model.h
// RUN: FileCheck %s --check-prefix=HEADER < %t/model.h
// RUN: llvm-nm -D --defined-only %t/libmodel.so | FileCheck %s --check-prefix=SO
// RUN: %clang -std=c11 -Wall -Werror -I%t %t/main.c -L%t -lmodel -Wl,-rpath,%t -lm -o %t/main
// RUN: %t/main | FileCheck %s --check-prefix=EXEC

// MLIR-NOT: func.func
// MLIR: llvm.func @main({{.*}} attributes {llvm.emit_c_interface, moe.signature = (memref<4x8xf32>, memref<8x16xf32>, memref<?x16xf32>) -> (memref<4x16xf32>, memref<?x16xf32>)}
// MLIR: omp.parallel
// MLIR: llvm.func @_mlir_ciface_main(

// The functions behind the C wrappers are internal (and inlined into them):
// the library exports only the wrappers (a `main` would clash with the C
// program's own).
// IR-DAG: define void @_mlir_ciface_main(
// IR-DAG: define float @_mlir_ciface_total(
// IR-DAG: "target-cpu"=

// OBJ-DAG: T _mlir_ciface_main
// OBJ-DAG: T _mlir_ciface_total
// OBJ-NOT: T main

// SO: T _mlir_ciface_main
// SO-NEXT: T _mlir_ciface_total
// SO-NOT: T

// HEADER: #ifndef MOE_MODEL_H
// HEADER: typedef struct moe_memref_2d_f32 {
// HEADER-NEXT:   float *allocated;
// HEADER-NEXT:   float *aligned;
// HEADER-NEXT:   int64_t offset;
// HEADER-NEXT:   int64_t sizes[2];
// HEADER-NEXT:   int64_t strides[2];
// HEADER-NEXT: } moe_memref_2d_f32;
// HEADER: /* @main(tensor<4x8xf32>, tensor<8x16xf32>, tensor<?x16xf32>) -> (tensor<4x16xf32>, tensor<?x16xf32>) */
// HEADER-NEXT: typedef struct main_results {
// HEADER-NEXT:   moe_memref_2d_f32 result0;
// HEADER-NEXT:   moe_memref_2d_f32 result1;
// HEADER-NEXT: } main_results;
// HEADER-NEXT: void _mlir_ciface_main(main_results *results, moe_memref_2d_f32 *arg0, moe_memref_2d_f32 *arg1, moe_memref_2d_f32 *arg2);
// HEADER: /* @total(tensor<4x8xf32>, f32) -> (f32) */
// HEADER-NEXT: float _mlir_ciface_total(moe_memref_2d_f32 *arg0, float arg1);

// EXEC-DAG: exp(a b): 4x16, max error ok
// EXEC-DAG: rows^2: 3x16, max error ok
// EXEC-DAG: total: ok

// Errors are one line and a non-zero exit.
// RUN: not moe-compile %t/model.mlir --emit=shared 2>&1 | FileCheck %s --check-prefix=STDOUT
// STDOUT: {{^}}moe-compile: --emit=shared needs an output file (-o){{$}}
// RUN: not moe-compile %t/dotted.mlir --emit=obj -o %t/dotted.o --header=%t/dotted.h 2>&1 | FileCheck %s --check-prefix=NAME
// NAME: {{^}}moe-compile: @my.model is not a C identifier, so its C wrapper cannot be declared; rename the function{{$}}
// RUN: not moe-compile %t/model.mlir --emit=obj -o %t/missing/dir/model.o 2>&1 | FileCheck %s --check-prefix=OUTPUT
// OUTPUT: {{^}}moe-compile: cannot open output file '{{.*}}model.o': No such file or directory{{$}}

//--- model.mlir
func.func @main(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>, %rows: tensor<?x16xf32>)
    -> (tensor<4x16xf32>, tensor<?x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<4x16xf32>
  %filled = linalg.fill ins(%zero : f32) outs(%init : tensor<4x16xf32>) -> tensor<4x16xf32>
  %product = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x16xf32>)
      outs(%filled : tensor<4x16xf32>) -> tensor<4x16xf32>
  %exp = linalg.generic {
      indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%product : tensor<4x16xf32>) outs(%init : tensor<4x16xf32>) {
  ^bb0(%x: f32, %out: f32):
    %e = math.exp %x : f32
    linalg.yield %e : f32
  } -> tensor<4x16xf32>
  %c0 = arith.constant 0 : index
  %n = tensor.dim %rows, %c0 : tensor<?x16xf32>
  %empty = tensor.empty(%n) : tensor<?x16xf32>
  %squares = scf.forall (%i) in (%n) shared_outs(%acc = %empty) -> tensor<?x16xf32> {
    %row = tensor.extract_slice %rows[%i, 0] [1, 16] [1, 1] : tensor<?x16xf32> to tensor<16xf32>
    %row_init = tensor.empty() : tensor<16xf32>
    %square = linalg.generic {
        indexing_maps = [affine_map<(j) -> (j)>, affine_map<(j) -> (j)>],
        iterator_types = ["parallel"]}
        ins(%row : tensor<16xf32>) outs(%row_init : tensor<16xf32>) {
    ^bb0(%x: f32, %out: f32):
      %s = arith.mulf %x, %x : f32
      linalg.yield %s : f32
    } -> tensor<16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %square into %acc[%i, 0] [1, 16] [1, 1]
          : tensor<16xf32> into tensor<?x16xf32>
    }
  }
  return %exp, %squares : tensor<4x16xf32>, tensor<?x16xf32>
}

func.func @total(%a: tensor<4x8xf32>, %scale: f32) -> f32 {
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<f32>
  %filled = linalg.fill ins(%zero : f32) outs(%init : tensor<f32>) -> tensor<f32>
  %sum = linalg.reduce ins(%a : tensor<4x8xf32>) outs(%filled : tensor<f32>) dimensions = [0, 1]
    (%x: f32, %acc: f32) {
      %s = arith.addf %x, %acc : f32
      linalg.yield %s : f32
    }
  %value = tensor.extract %sum[] : tensor<f32>
  %scaled = arith.mulf %value, %scale : f32
  return %scaled : f32
}

//--- dotted.mlir
func.func @"my.model"(%a: tensor<4xf32>) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}

//--- main.c
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static moe_memref_2d_f32 view(float *data, int64_t rows, int64_t columns) {
  moe_memref_2d_f32 m = {data, data, 0, {rows, columns}, {columns, 1}};
  return m;
}

static float at(const moe_memref_2d_f32 *m, int64_t i, int64_t j) {
  return m->aligned[m->offset + i * m->strides[0] + j * m->strides[1]];
}

int main(void) {
  float a[4 * 8], b[8 * 16], rows[3 * 16];
  for (int i = 0; i < 4 * 8; ++i) a[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
  for (int i = 0; i < 8 * 16; ++i) b[i] = (float)((i * 5) % 13) / 13.0f - 0.5f;
  for (int i = 0; i < 3 * 16; ++i) rows[i] = (float)i / 8.0f - 3.0f;
  moe_memref_2d_f32 A = view(a, 4, 8), B = view(b, 8, 16), R = view(rows, 3, 16);

  main_results out;
  _mlir_ciface_main(&out, &A, &B, &R);
  double error = 0;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 16; ++j) {
      double s = 0;
      for (int k = 0; k < 8; ++k)
        s += (double)a[i * 8 + k] * b[k * 16 + j];
      error = fmax(error, fabs(exp(s) - at(&out.result0, i, j)) / exp(s));
    }
  printf("exp(a b): %ldx%ld, max error %s\n", (long)out.result0.sizes[0],
         (long)out.result0.sizes[1], error < 1e-5 ? "ok" : "too large");
  error = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 16; ++j)
      error = fmax(error, fabs((double)rows[i * 16 + j] * rows[i * 16 + j] -
                               at(&out.result1, i, j)));
  printf("rows^2: %ldx%ld, max error %s\n", (long)out.result1.sizes[0],
         (long)out.result1.sizes[1], error < 1e-5 ? "ok" : "too large");
  free(out.result0.allocated);
  free(out.result1.allocated);

  double expected = 0;
  for (int i = 0; i < 4 * 8; ++i)
    expected += 2.0 * a[i];
  float total = _mlir_ciface_total(&A, 2.0f);
  printf("total: %s (%g, expected %g)\n",
         fabs(total - expected) < 1e-4 ? "ok" : "wrong", total, expected);
  return 0;
}
