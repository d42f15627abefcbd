// REQUIRES: numpy
// RUN: rm -rf %t && mkdir -p %t
// RUN: moe-opt %s --moe-fuse-gating | FileCheck %s --check-prefix=FUSED
// RUN: moe-run %s --seed=7 -o %t | FileCheck %s --check-prefix=SHAPES
// RUN: %python -c "import numpy as np, sys; r = [np.load('%t/result%%d.npy' %% i) for i in range(5)]; same = np.allclose(r[0], r[3], rtol=1e-6, atol=1e-7) and (r[1] == r[4]).all(); print('fused matches unfused' if same else 'MISMATCH'); sys.exit(0 if same else 1)" | FileCheck %s

// The same renormalized router twice in one function: once with its scores
// also returned (moe-fuse-gating leaves it alone, and the linalg.softmax is
// expanded by moe-decompose-aggregate-ops), once unfused-but-fusable (the
// pipeline turns matmul, softmax, top-k, sum and divide into one
// moe.route ... normalize). Both must select the same experts with the same
// weights.

// FUSED-LABEL: func.func @routers
// FUSED: linalg.softmax
// FUSED: moe.route %{{.+}}, %{{.+}} top_k(2) normalize
// SHAPES: result0: tensor<33x2xf32>
// SHAPES: result3: tensor<33x2xf32>
// CHECK: fused matches unfused

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, k) -> (t, k)>
#token = affine_map<(t, k) -> (t)>

// Divides each row of the top-k weights by its sum.
func.func private @renormalize(%v: tensor<33x2xf32>) -> tensor<33x2xf32> {
  %zero = arith.constant 0.0 : f32
  %sum_init = tensor.empty() : tensor<33xf32>
  %sum_zero = linalg.fill ins(%zero : f32) outs(%sum_init : tensor<33xf32>) -> tensor<33xf32>
  %sum = linalg.reduce ins(%v : tensor<33x2xf32>) outs(%sum_zero : tensor<33xf32>) dimensions = [1]
    (%in: f32, %s: f32) {
      %a = arith.addf %in, %s : f32
      linalg.yield %a : f32
    }
  %norm_init = tensor.empty() : tensor<33x2xf32>
  %norm = linalg.generic {indexing_maps = [#id, #token, #id],
                          iterator_types = ["parallel", "parallel"]}
      ins(%v, %sum : tensor<33x2xf32>, tensor<33xf32>) outs(%norm_init : tensor<33x2xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %d = arith.divf %a, %b : f32
      linalg.yield %d : f32
  } -> tensor<33x2xf32>
  return %norm : tensor<33x2xf32>
}

func.func @routers(%x: tensor<33x24xf32>, %w: tensor<8x24xf32>)
    -> (tensor<33x2xf32>, tensor<33x2xi32>, tensor<33x8xf32>,
        tensor<33x2xf32>, tensor<33x2xi32>) {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<33x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<33x8xf32>) -> tensor<33x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<33x24xf32>, tensor<8x24xf32>)
      outs(%acc : tensor<33x8xf32>) -> tensor<33x8xf32>
  %init = tensor.empty() : tensor<33x8xf32>
  %probs = linalg.softmax dimension(1) ins(%logits : tensor<33x8xf32>)
      outs(%init : tensor<33x8xf32>) -> tensor<33x8xf32>
  %v, %i = moe.topk %probs k(2) : tensor<33x8xf32> -> tensor<33x2xf32>, tensor<33x2xi32>

  %empty2 = tensor.empty() : tensor<33x8xf32>
  %acc2 = linalg.fill ins(%zero : f32) outs(%empty2 : tensor<33x8xf32>) -> tensor<33x8xf32>
  %logits2 = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<33x24xf32>, tensor<8x24xf32>)
      outs(%acc2 : tensor<33x8xf32>) -> tensor<33x8xf32>
  %init2 = tensor.empty() : tensor<33x8xf32>
  %probs2 = linalg.softmax dimension(1) ins(%logits2 : tensor<33x8xf32>)
      outs(%init2 : tensor<33x8xf32>) -> tensor<33x8xf32>
  %v2, %i2 = moe.topk %probs2 k(2) : tensor<33x8xf32> -> tensor<33x2xf32>, tensor<33x2xi32>
  %n = func.call @renormalize(%v) : (tensor<33x2xf32>) -> tensor<33x2xf32>
  // Inline, so that the fusion sees it.
  %sum_init = tensor.empty() : tensor<33xf32>
  %sum_zero = linalg.fill ins(%zero : f32) outs(%sum_init : tensor<33xf32>) -> tensor<33xf32>
  %sum = linalg.reduce ins(%v2 : tensor<33x2xf32>) outs(%sum_zero : tensor<33xf32>) dimensions = [1]
    (%in: f32, %s: f32) {
      %a = arith.addf %in, %s : f32
      linalg.yield %a : f32
    }
  %norm_init = tensor.empty() : tensor<33x2xf32>
  %n2 = linalg.generic {indexing_maps = [#id, #token, #id],
                        iterator_types = ["parallel", "parallel"]}
      ins(%v2, %sum : tensor<33x2xf32>, tensor<33xf32>) outs(%norm_init : tensor<33x2xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %d = arith.divf %a, %b : f32
      linalg.yield %d : f32
  } -> tensor<33x2xf32>
  return %n, %i, %probs, %n2, %i2
      : tensor<33x2xf32>, tensor<33x2xi32>, tensor<33x8xf32>,
        tensor<33x2xf32>, tensor<33x2xi32>
}
