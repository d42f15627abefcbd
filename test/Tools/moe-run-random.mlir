// REQUIRES: numpy
// Arguments without a file get seeded random data of the right shape: every
// dynamic dimension is --dynamic-size (16 by default), floats are uniform
// in [-1, 1), integers in [0, 8). Each argument has its own stream, so a
// file for one argument leaves the data of the others as it was.

// RUN: rm -rf %t && mkdir -p %t
// RUN: %python -c "import numpy as np; np.save('%t/a.npy', np.zeros((2, 3), np.float32))"
// RUN: moe-run %s -o %t/seed1 | FileCheck %s --check-prefix=DEFAULT
// RUN: moe-run %s --seed=1 -o %t/again > /dev/null
// RUN: moe-run %s --seed=2 -o %t/seed2 > /dev/null
// RUN: moe-run %s --dynamic-size=5 -i %t/a.npy -o %t/file > /dev/null
// RUN: %python -c "import numpy as np; \
// RUN:   load = lambda d, i: np.load('%t/%%s/result%%d.npy' %% (d, i)); \
// RUN:   a, n, h = (load('seed1', i) for i in range(3)); \
// RUN:   print(a.shape, n.shape, h.shape, a.dtype.str, n.dtype.str, h.dtype.str); \
// RUN:   print(bool(a.min() >= -1 and a.max() < 1 and len(np.unique(a)) == a.size)); \
// RUN:   print(sorted(set(n.ravel().tolist()))); \
// RUN:   print(all((load('again', i) == load('seed1', i)).all() for i in range(3))); \
// RUN:   print(any((load('seed2', i) != load('seed1', i)).any() for i in range(3))); \
// RUN:   print(load('file', 1).shape, (load('file', 0) == 0).all(), (load('file', 1) == n[:5]).all())" \
// RUN:   | FileCheck %s --check-prefix=DATA

// DEFAULT: result0: tensor<2x3xf32>
// DEFAULT: result1: tensor<16x32xi32>
// DEFAULT: result2: tensor<16xf16>

// DATA: (2, 3) (16, 32) (16,) <f4 <i4 <f2
// DATA-NEXT: True
// DATA-NEXT: [0, 1, 2, 3, 4, 5, 6, 7]
// DATA-NEXT: True
// DATA-NEXT: True
// DATA-NEXT: (5, 32) True True

func.func @main(%a: tensor<2x3xf32>, %n: tensor<?x32xi32>, %h: tensor<?xf16>)
    -> (tensor<2x3xf32>, tensor<?x32xi32>, tensor<?xf16>) {
  return %a, %n, %h : tensor<2x3xf32>, tensor<?x32xi32>, tensor<?xf16>
}
