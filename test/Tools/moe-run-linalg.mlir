// REQUIRES: numpy
// RUN: rm -rf %t && mkdir -p %t
// RUN: %python -c "import numpy as np; r = np.random.default_rng(7); \
// RUN:   np.save('%t/a.npy', r.uniform(-1, 1, (4, 8)).astype(np.float32)); \
// RUN:   np.save('%t/b.npy', r.uniform(-1, 1, (8, 16)).astype(np.float32)); \
// RUN:   np.save('%t/rows.npy', r.uniform(-1, 1, (5, 16)).astype(np.float32))"
// RUN: moe-run %s -i %t/a.npy -i %t/b.npy -i %t/rows.npy -o %t/out | FileCheck %s --check-prefix=SUMMARY
// RUN: %python -c "import numpy as np; d = '%t/'; \
// RUN:   a, b, rows = (np.load(d + n + '.npy').astype(np.float64) for n in ('a', 'b', 'rows')); \
// RUN:   r0, r1 = np.load(d + 'out/result0.npy'), np.load(d + 'out/result1.npy'); \
// RUN:   assert r0.dtype == np.float32 and r0.shape == (4, 16), (r0.dtype, r0.shape); \
// RUN:   assert r1.dtype == np.float32 and r1.shape == (5, 16), (r1.dtype, r1.shape); \
// RUN:   np.testing.assert_allclose(r0, np.exp(a @ b), rtol=1e-5, atol=1e-6); \
// RUN:   np.testing.assert_allclose(r1, rows * rows + 1.0, rtol=1e-6); print('numpy: ok')" \
// RUN:   | FileCheck %s --check-prefix=NUMPY

// A linalg.matmul followed by an elementwise linalg.generic, and an
// scf.forall over the rows of a dynamically sized input: moe-run lowers the
// module with moe-cpu-pipeline (OpenMP included), JIT-compiles it and runs
// it on the .npy inputs; the results match numpy.

// SUMMARY: result0: tensor<4x16xf32> sum={{[-0-9.e+]+}} abs_sum={{[0-9.e+]+}}
// SUMMARY-NEXT: result1: tensor<5x16xf32> sum=
// NUMPY: numpy: ok

func.func @main(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>, %rows: tensor<?x16xf32>)
    -> (tensor<4x16xf32>, tensor<?x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
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
      %t = arith.addf %s, %one : f32
      linalg.yield %t : f32
    } -> tensor<16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %square into %acc[%i, 0] [1, 16] [1, 1]
          : tensor<16xf32> into tensor<?x16xf32>
    }
  }
  return %exp, %squares : tensor<4x16xf32>, tensor<?x16xf32>
}
