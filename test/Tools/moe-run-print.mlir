// REQUIRES: numpy
// RUN: rm -rf %t && mkdir -p %t
// RUN: %python -c "import numpy as np; \
// RUN:   np.save('%t/x.npy', np.arange(6, dtype=np.float32).reshape(2, 3) / 4); \
// RUN:   np.save('%t/n.npy', np.arange(6, dtype=np.int32).reshape(2, 3) - 2); \
// RUN:   np.save('%t/s.npy', np.array(3, dtype=np.float32))"
// RUN: moe-run %s -i %t/x.npy -i %t/n.npy -i %t/s.npy --print | FileCheck %s
// RUN: moe-run %s -i %t/x.npy -i %t/n.npy -i %t/s.npy | FileCheck %s --check-prefix=SUMMARY
// RUN: moe-run %s -i %t/x.npy -i %t/n.npy -i %t/s.npy -o %t/out > /dev/null
// RUN: %python -c "import numpy as np; d = '%t/out/'; \
// RUN:   r = [np.load(d + 'result%%d.npy' %% i) for i in range(4)]; \
// RUN:   print([(a.dtype.str, a.shape) for a in r]); print(r[1], r[2], r[3])" \
// RUN:   | FileCheck %s --check-prefix=NPY

// A buffer result followed by f32, i32 and i64 scalar results (which the C
// wrapper returns in one struct, the scalars after the descriptor), and a
// scalar f32 argument read from a 0-d .npy file.

// CHECK:      result0: tensor<2x3xf32> =
// CHECK-NEXT: {{\[\[}}0, 0.75, 1.5],
// CHECK-NEXT:  [2.25, 3, 3.75]]
// CHECK-NEXT: result1: f32 =
// CHECK-NEXT: 3.75
// CHECK-NEXT: result2: i32 =
// CHECK-NEXT: 3
// CHECK-NEXT: result3: i64 =
// CHECK-NEXT: -2

// SUMMARY:      result0: tensor<2x3xf32> sum=11.25 abs_sum=11.25
// SUMMARY-NEXT: result1: f32 sum=3.75 abs_sum=3.75
// SUMMARY-NEXT: result2: i32 sum=3 abs_sum=3
// SUMMARY-NEXT: result3: i64 sum=-2 abs_sum=2

// NPY: [('<f4', (2, 3)), ('<f4', ()), ('<i4', ()), ('<i8', ())]
// NPY-NEXT: 3.75 3 -2

func.func @main(%x: tensor<2x3xf32>, %n: tensor<2x3xi32>, %scale: f32)
    -> (tensor<2x3xf32>, f32, i32, i64) {
  %init = tensor.empty() : tensor<2x3xf32>
  %scaled = linalg.generic {
      indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<2x3xf32>) outs(%init : tensor<2x3xf32>) {
  ^bb0(%v: f32, %out: f32):
    %m = arith.mulf %v, %scale : f32
    linalg.yield %m : f32
  } -> tensor<2x3xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %last = tensor.extract %scaled[%c1, %c2] : tensor<2x3xf32>
  %n_last = tensor.extract %n[%c1, %c2] : tensor<2x3xi32>
  %n_first = tensor.extract %n[%c0, %c0] : tensor<2x3xi32>
  %wide = arith.extsi %n_first : i32 to i64
  return %scaled, %last, %n_last, %wide : tensor<2x3xf32>, f32, i32, i64
}
