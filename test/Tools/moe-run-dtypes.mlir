// REQUIRES: numpy
// RUN: rm -rf %t && mkdir -p %t
// RUN: %python -c "import numpy as np; d = '%t/'; \
// RUN:   np.save(d + 'f64.npy', np.array([0.5, -1.25, 3.0])); \
// RUN:   np.save(d + 'f16.npy', np.array([0.5, -1.25, 3.0, 1e-5], dtype=np.float16)); \
// RUN:   np.save(d + 'bf16.npy', (np.array([0.5, -1.25, 3.0, 100.0], dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)); \
// RUN:   np.save(d + 'bool.npy', np.array([True, False, True, True])); \
// RUN:   np.save(d + 'i1.npy', np.array([1, 0, 1, 1], dtype=np.int8)); \
// RUN:   np.save(d + 'i8.npy', np.array([-128, -1, 0, 126], dtype=np.int8)); \
// RUN:   np.save(d + 'i64.npy', np.array([-3, 2**40, 7], dtype=np.int64))"
// RUN: moe-run %s --entry=double_f64 -i %t/f64.npy -o %t/f64 --print | FileCheck %s --check-prefix=F64
// RUN: moe-run %s --entry=double_f16 -i %t/f16.npy -o %t/f16 --print | FileCheck %s --check-prefix=F16
// RUN: moe-run %s --entry=double_bf16 -i %t/bf16.npy -o %t/bf16 --print | FileCheck %s --check-prefix=BF16
// RUN: moe-run %s --entry=negate_i1 -i %t/bool.npy -o %t/bool --print | FileCheck %s --check-prefix=I1
// RUN: moe-run %s --entry=negate_i1 -i %t/i1.npy --print | FileCheck %s --check-prefix=I1
// RUN: moe-run %s --entry=increment_i8 -i %t/i8.npy -o %t/i8 --print | FileCheck %s --check-prefix=I8
// RUN: moe-run %s --entry=square_i64 -i %t/i64.npy -o %t/i64 --print | FileCheck %s --check-prefix=I64
// RUN: %python -c "import numpy as np; d = '%t/'; \
// RUN:   load = lambda n: np.load(d + n + '/result0.npy'); \
// RUN:   f64, f16, bf16, b, i8, i64 = (load(n) for n in ('f64', 'f16', 'bf16', 'bool', 'i8', 'i64')); \
// RUN:   print([a.dtype.str for a in (f64, f16, bf16, b, i8, i64)]); \
// RUN:   print(f64.tolist(), f16.tolist(), (bf16.astype(np.uint32) << 16).view(np.float32).tolist()); \
// RUN:   print(b.tolist(), i8.tolist(), i64.tolist())" | FileCheck %s --check-prefix=NPY

// Every element type moe-run maps to a NumPy dtype, in and out: f64 '<f8',
// f16 '<f2', bf16 as the '<u2' bits, i1 ('|i1', and NumPy's bool '|b1' on
// input), i8 '|i1', i64 '<i8'.

// F64: result0: tensor<3xf64> =
// F64-NEXT: [1, -2.5, 6]
// F16: result0: tensor<4xf16> =
// F16-NEXT: [1, -2.5, 6, 2.00272e-05]
// BF16: result0: tensor<4xbf16> =
// BF16-NEXT: [1, -2.5, 6, 200]
// I1: result0: tensor<4xi1> =
// I1-NEXT: [0, 1, 0, 0]
// I8: result0: tensor<4xi8> =
// I8-NEXT: [-127, 0, 1, 127]
// I64: result0: tensor<3xi64> =
// I64-NEXT: [9, 0, 49]

// NPY: ['<f8', '<f2', '<u2', '|i1', '|i1', '<i8']
// NPY-NEXT: [1.0, -2.5, 6.0] [1.0, -2.5, 6.0, 2.002716064453125e-05] [1.0, -2.5, 6.0, 200.0]
// NPY-NEXT: [0, 1, 0, 0] [-127, 0, 1, 127] [9, 0, 49]

#id = affine_map<(i) -> (i)>

func.func @double_f64(%x: tensor<3xf64>) -> tensor<3xf64> {
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<3xf64>) outs(%x : tensor<3xf64>) {
  ^bb0(%v: f64, %o: f64):
    %s = arith.addf %v, %v : f64
    linalg.yield %s : f64
  } -> tensor<3xf64>
  return %r : tensor<3xf64>
}

func.func @double_f16(%x: tensor<4xf16>) -> tensor<4xf16> {
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<4xf16>) outs(%x : tensor<4xf16>) {
  ^bb0(%v: f16, %o: f16):
    %s = arith.addf %v, %v : f16
    linalg.yield %s : f16
  } -> tensor<4xf16>
  return %r : tensor<4xf16>
}

func.func @double_bf16(%x: tensor<4xbf16>) -> tensor<4xbf16> {
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<4xbf16>) outs(%x : tensor<4xbf16>) {
  ^bb0(%v: bf16, %o: bf16):
    %w = arith.extf %v : bf16 to f32
    %s = arith.addf %w, %w : f32
    %t = arith.truncf %s : f32 to bf16
    linalg.yield %t : bf16
  } -> tensor<4xbf16>
  return %r : tensor<4xbf16>
}

func.func @negate_i1(%x: tensor<4xi1>) -> tensor<4xi1> {
  %true = arith.constant true
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<4xi1>) outs(%x : tensor<4xi1>) {
  ^bb0(%v: i1, %o: i1):
    %n = arith.xori %v, %true : i1
    linalg.yield %n : i1
  } -> tensor<4xi1>
  return %r : tensor<4xi1>
}

func.func @increment_i8(%x: tensor<4xi8>) -> tensor<4xi8> {
  %one = arith.constant 1 : i8
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<4xi8>) outs(%x : tensor<4xi8>) {
  ^bb0(%v: i8, %o: i8):
    %n = arith.addi %v, %one : i8
    linalg.yield %n : i8
  } -> tensor<4xi8>
  return %r : tensor<4xi8>
}

func.func @square_i64(%x: tensor<3xi64>) -> tensor<3xi64> {
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<3xi64>) outs(%x : tensor<3xi64>) {
  ^bb0(%v: i64, %o: i64):
    %n = arith.muli %v, %v : i64
    linalg.yield %n : i64
  } -> tensor<3xi64>
  return %r : tensor<3xi64>
}
