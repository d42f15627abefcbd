// REQUIRES: numpy
// RUN: rm -rf %t && mkdir -p %t/resident %t/unrolled %t/looped
// RUN: moe-opt %s --moe-schedule-repeats | FileCheck %s --check-prefix=SCHEDULED
// RUN: %python -c "import numpy as np; rng = np.random.default_rng(3); np.save('%t/x.npy', rng.standard_normal((5, 32)).astype(np.float32)); np.save('%t/w.npy', (0.1 * rng.standard_normal((32, 32))).astype(np.float32))"
// RUN: moe-run %s --entry=resident -i %t/x.npy -i %t/w.npy -o %t/resident > /dev/null
// RUN: moe-run %s --entry=unrolled -i %t/x.npy -i %t/w.npy -o %t/unrolled > /dev/null
// RUN: moe-run %s --entry=looped -i %t/x.npy -i %t/w.npy -o %t/looped > /dev/null
// RUN: %python -c "import numpy as np, sys; x = np.load('%t/x.npy').astype(np.float64); w = np.load('%t/w.npy').astype(np.float64); h = x; exec('for _ in range(5): h = h + h @ w.T'); r = {k: np.load('%t/%%s/result0.npy' %% k) for k in ('resident', 'unrolled', 'looped')}; ok = {k: np.allclose(v, h, rtol=1e-4, atol=1e-5) for k, v in r.items()}; print(' '.join('%%s %%s' %% (k, 'matches' if v else 'MISMATCH') for k, v in sorted(ok.items()))); sys.exit(0 if all(ok.values()) else 1)" | FileCheck %s

// moe-schedule-repeats end to end: the same block, h <- h + h · wᵀ five
// times, with the transpose of the weight written inside the body, run as a
// resident loop (the transpose hoisted before it), unrolled, and as a plain
// loop (nothing hoisted); all three against a float64 reference.

// SCHEDULED-LABEL: func.func @resident
// SCHEDULED: linalg.transpose
// SCHEDULED: moe.repeat 5 schedule(resident)
// SCHEDULED-NOT: linalg.transpose
// SCHEDULED: moe.yield
// SCHEDULED-LABEL: func.func @unrolled
// SCHEDULED-NOT: moe.repeat
// SCHEDULED-COUNT-5: linalg.transpose
// SCHEDULED-NOT: moe.repeat
// SCHEDULED-LABEL: func.func @looped
// SCHEDULED: moe.repeat 5 iter_args
// SCHEDULED: linalg.transpose
// SCHEDULED: moe.yield

// CHECK: looped matches resident matches unrolled matches

module attributes {moe.target = #moe.target<kind = cpu, shared_cache_bytes = 1048576>} {
func.func @resident(%x: tensor<?x32xf32>, %w: tensor<32x32xf32>) -> tensor<?x32xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %t = tensor.dim %x, %c0 : tensor<?x32xf32>
  %y = moe.repeat 5 iter_args(%h = %x) : tensor<?x32xf32> {
    %te = tensor.empty() : tensor<32x32xf32>
    %wt = linalg.transpose ins(%w : tensor<32x32xf32>) outs(%te : tensor<32x32xf32>) permutation = [1, 0]
    %me = tensor.empty(%t) : tensor<?x32xf32>
    %mi = linalg.fill ins(%zero : f32) outs(%me : tensor<?x32xf32>) -> tensor<?x32xf32>
    %m = linalg.matmul ins(%h, %wt : tensor<?x32xf32>, tensor<32x32xf32>)
        outs(%mi : tensor<?x32xf32>) -> tensor<?x32xf32>
    %ne = tensor.empty(%t) : tensor<?x32xf32>
    %n = linalg.add ins(%h, %m : tensor<?x32xf32>, tensor<?x32xf32>)
        outs(%ne : tensor<?x32xf32>) -> tensor<?x32xf32>
    moe.yield %n : tensor<?x32xf32>
  }
  return %y : tensor<?x32xf32>
}

func.func @unrolled(%x: tensor<?x32xf32>, %w: tensor<32x32xf32>) -> tensor<?x32xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %t = tensor.dim %x, %c0 : tensor<?x32xf32>
  %y = moe.repeat 5 schedule(unroll) iter_args(%h = %x) : tensor<?x32xf32> {
    %te = tensor.empty() : tensor<32x32xf32>
    %wt = linalg.transpose ins(%w : tensor<32x32xf32>) outs(%te : tensor<32x32xf32>) permutation = [1, 0]
    %me = tensor.empty(%t) : tensor<?x32xf32>
    %mi = linalg.fill ins(%zero : f32) outs(%me : tensor<?x32xf32>) -> tensor<?x32xf32>
    %m = linalg.matmul ins(%h, %wt : tensor<?x32xf32>, tensor<32x32xf32>)
        outs(%mi : tensor<?x32xf32>) -> tensor<?x32xf32>
    %ne = tensor.empty(%t) : tensor<?x32xf32>
    %n = linalg.add ins(%h, %m : tensor<?x32xf32>, tensor<?x32xf32>)
        outs(%ne : tensor<?x32xf32>) -> tensor<?x32xf32>
    moe.yield %n : tensor<?x32xf32>
  }
  return %y : tensor<?x32xf32>
}

// The weight has a dynamic dimension here, so its size is unknown and it
// cannot be resident; the count (5) is above max-unroll-count (4): the loop
// is kept as it is, the cast and transpose inside it.
func.func @looped(%x: tensor<?x32xf32>, %w: tensor<?x32xf32>) -> tensor<?x32xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %t = tensor.dim %x, %c0 : tensor<?x32xf32>
  %y = moe.repeat 5 iter_args(%h = %x) : tensor<?x32xf32> {
    %ws = tensor.cast %w : tensor<?x32xf32> to tensor<32x32xf32>
    %te = tensor.empty() : tensor<32x32xf32>
    %wt = linalg.transpose ins(%ws : tensor<32x32xf32>) outs(%te : tensor<32x32xf32>) permutation = [1, 0]
    %me = tensor.empty(%t) : tensor<?x32xf32>
    %mi = linalg.fill ins(%zero : f32) outs(%me : tensor<?x32xf32>) -> tensor<?x32xf32>
    %m = linalg.matmul ins(%h, %wt : tensor<?x32xf32>, tensor<32x32xf32>)
        outs(%mi : tensor<?x32xf32>) -> tensor<?x32xf32>
    %ne = tensor.empty(%t) : tensor<?x32xf32>
    %n = linalg.add ins(%h, %m : tensor<?x32xf32>, tensor<?x32xf32>)
        outs(%ne : tensor<?x32xf32>) -> tensor<?x32xf32>
    moe.yield %n : tensor<?x32xf32>
  }
  return %y : tensor<?x32xf32>
}
}
