// REQUIRES: numpy
// RUN: rm -rf %t && mkdir -p %t/decode %t/prefill
// RUN: moe-opt %s --moe-raise-dense-ffn | FileCheck %s --check-prefix=RAISED
// RUN: %python -c "import numpy as np; rng = np.random.default_rng(5); np.save('%t/x1.npy', rng.standard_normal((1, 32)).astype(np.float32)); np.save('%t/x37.npy', rng.standard_normal((37, 32)).astype(np.float32)); [np.save('%t/%%s.npy' %% n, (rng.standard_normal(s) / np.sqrt(s[1])).astype(np.float32)) for n, s in (('wg', (48, 32)), ('wu', (48, 32)), ('wd', (32, 48)))]"
// RUN: moe-run %s -i %t/x1.npy -i %t/wg.npy -i %t/wu.npy -i %t/wd.npy -o %t/decode > /dev/null
// RUN: moe-run %s -i %t/x37.npy -i %t/wg.npy -i %t/wu.npy -i %t/wd.npy -o %t/prefill > /dev/null
// RUN: %python -c "import numpy as np, sys; w = {n: np.load('%t/%%s.npy' %% n).astype(np.float64) for n in ('wg', 'wu', 'wd')}; silu = lambda v: v / (1 + np.exp(-v)); ok = []; exec('for name, x in ((\'decode\', \'x1\'), (\'prefill\', \'x37\')):\n h = np.load(\'%t/%%s.npy\' %% x).astype(np.float64)\n for _ in range(3): h = h + (silu(h @ w[\'wg\'].T) * (h @ w[\'wu\'].T)) @ w[\'wd\'].T\n ok.append((name, np.allclose(np.load(\'%t/%%s/result0.npy\' %% name), h, rtol=1e-4, atol=1e-4)))'); print(' '.join('%%s %%s' %% (n, 'matches' if v else 'MISMATCH') for n, v in ok)); sys.exit(0 if all(v for _, v in ok) else 1)" | FileCheck %s

// A block h <- h + down(silu(gate(h)) * up(h)) repeated 3 times, written as
// linalg ops: moe-raise-dense-ffn makes its FFN a one-expert moe.experts,
// and the compiled block matches a float64 reference at T = 1 (the gemv
// kernel, the cores sharing F) and T = 37 (the gemm kernel, a token tile
// with a tail).

// RAISED: moe.repeat 3
// RAISED: moe.experts
// RAISED-NOT: linalg.matmul
// RAISED: moe.yield

// CHECK: decode matches prefill matches

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs_t = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, f) -> (t, f)>
func.func @main(%x: tensor<?x32xf32>, %wg: tensor<48x32xf32>, %wu: tensor<48x32xf32>,
                %wd: tensor<32x48xf32>) -> tensor<?x32xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %t = tensor.dim %x, %c0 : tensor<?x32xf32>
  %y = moe.repeat 3 iter_args(%h = %x) : tensor<?x32xf32> {
    %ge = tensor.empty(%t) : tensor<?x48xf32>
    %gi = linalg.fill ins(%zero : f32) outs(%ge : tensor<?x48xf32>) -> tensor<?x48xf32>
    %g = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
        ins(%h, %wg : tensor<?x32xf32>, tensor<48x32xf32>) outs(%gi : tensor<?x48xf32>) -> tensor<?x48xf32>
    %u = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
        ins(%h, %wu : tensor<?x32xf32>, tensor<48x32xf32>) outs(%gi : tensor<?x48xf32>) -> tensor<?x48xf32>
    %a = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
        ins(%g, %u : tensor<?x48xf32>, tensor<?x48xf32>) outs(%ge : tensor<?x48xf32>) {
    ^bb0(%bg: f32, %bu: f32, %bo: f32):
      %ng = arith.negf %bg : f32
      %e = math.exp %ng : f32
      %one = arith.constant 1.0 : f32
      %den = arith.addf %one, %e : f32
      %silu = arith.divf %bg, %den : f32
      %r = arith.mulf %silu, %bu : f32
      linalg.yield %r : f32
    } -> tensor<?x48xf32>
    %de = tensor.empty(%t) : tensor<?x32xf32>
    %di = linalg.fill ins(%zero : f32) outs(%de : tensor<?x32xf32>) -> tensor<?x32xf32>
    %d = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
        ins(%a, %wd : tensor<?x48xf32>, tensor<32x48xf32>) outs(%di : tensor<?x32xf32>) -> tensor<?x32xf32>
    %n = linalg.add ins(%h, %d : tensor<?x32xf32>, tensor<?x32xf32>) outs(%de : tensor<?x32xf32>) -> tensor<?x32xf32>
    moe.yield %n : tensor<?x32xf32>
  }
  return %y : tensor<?x32xf32>
}
