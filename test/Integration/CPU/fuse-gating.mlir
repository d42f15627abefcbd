// REQUIRES: numpy
// RUN: rm -rf %t && mkdir -p %t/softmax %t/sigmoid
// RUN: moe-opt %s --moe-fuse-gating | FileCheck %s --check-prefix=FUSED
// RUN: moe-run %s --entry=routers --seed=7 -o %t/softmax | FileCheck %s --check-prefix=SHAPES
// RUN: %python -c "import numpy as np, sys; r = [np.load('%t/softmax/result%%d.npy' %% i) for i in range(5)]; same = np.allclose(r[0], r[3], rtol=1e-6, atol=1e-7) and (r[1] == r[4]).all(); print('fused matches unfused' if same else 'MISMATCH'); sys.exit(0 if same else 1)" | FileCheck %s
// RUN: moe-run %s --entry=sigmoid_routers --seed=11 -o %t/sigmoid | FileCheck %s --check-prefix=SIGMOID-SHAPES
// RUN: %python -c "import numpy as np, sys; r = [np.load('%t/sigmoid/result%%d.npy' %% i) for i in range(10)]; same = [np.allclose(r[u], r[f], rtol=1e-6, atol=1e-7) and (r[u + 1] == r[f + 1]).all() for u, f in ((0, 3), (5, 8))]; changed = (np.sort(r[6], 1) != np.sort(np.argsort(-r[7], 1, kind='stable')[:, :2], 1)).any(); print('sigmoid %%s, biased %%s, bias changes the choice: %%s' %% ('matches' if same[0] else 'MISMATCH', 'matches' if same[1] else 'MISMATCH', changed)); sys.exit(0 if all(same) else 1)" | FileCheck %s --check-prefix=SIGMOID

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

// Sigmoid routers, each twice: once with its scores also returned (left
// alone by moe-fuse-gating, so the pipeline lowers the chain op by op), once
// fusable.
//  a) sigmoid (one generic) -> top-k -> times 2.5: moe.route score(sigmoid)
//     scale(2.5);
//  b) DeepSeek-V3 without groups, written on whole tensors: sigmoid, plus a
//     per-expert bias (linalg.broadcast) for the choice only, top-k, the
//     weights gathered from the unbiased scores (generic + tensor.extract),
//     divided by their sum, times 2.5: moe.route bias score(sigmoid)
//     normalize scale(2.5).
// The python check also makes sure the bias does change some token's
// experts, so that b) tells the biased choice from the unbiased one.

// FUSED-LABEL: func.func @sigmoid_routers
// FUSED: moe.topk
// FUSED: moe.route %{{.+}}, %{{.+}} top_k(2) score(sigmoid) scale(2.500000e+00) :
// FUSED: moe.topk
// FUSED: moe.route %{{.+}}, %{{.+}} bias(%{{.+}}) top_k(2) score(sigmoid) normalize scale(2.500000e+00) :
// SIGMOID-SHAPES: result0: tensor<33x2xf32>
// SIGMOID-SHAPES: result3: tensor<33x2xf32>
// SIGMOID-SHAPES: result5: tensor<33x2xf32>
// SIGMOID-SHAPES: result8: tensor<33x2xf32>
// SIGMOID: sigmoid matches, biased matches, bias changes the choice: True

#ident = affine_map<(t, e) -> (t, e)>

func.func @sigmoid_routers(%x: tensor<33x24xf32>, %w: tensor<8x24xf32>,
                           %bias: tensor<8xf32>)
    -> (tensor<33x2xf32>, tensor<33x2xi32>, tensor<33x8xf32>,
        tensor<33x2xf32>, tensor<33x2xi32>,
        tensor<33x2xf32>, tensor<33x2xi32>, tensor<33x8xf32>,
        tensor<33x2xf32>, tensor<33x2xi32>) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %factor = arith.constant 2.5 : f32
  %ones = arith.constant dense<1.0> : tensor<33x8xf32>
  %factors = arith.constant dense<2.5> : tensor<33x2xf32>
  %empty = tensor.empty() : tensor<33x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<33x8xf32>) -> tensor<33x8xf32>
  %k_init = tensor.empty() : tensor<33x2xf32>
  %sum_init = tensor.empty() : tensor<33xf32>
  %sum_zero = linalg.fill ins(%zero : f32) outs(%sum_init : tensor<33xf32>) -> tensor<33xf32>

  // a), scores also returned: left alone.
  %logits_a = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<33x24xf32>, tensor<8x24xf32>)
      outs(%acc : tensor<33x8xf32>) -> tensor<33x8xf32>
  %scores_a = linalg.generic {indexing_maps = [#ident, #ident],
                              iterator_types = ["parallel", "parallel"]}
      ins(%logits_a : tensor<33x8xf32>) outs(%empty : tensor<33x8xf32>) {
    ^bb0(%l: f32, %o: f32):
      %n = arith.negf %l : f32
      %e = math.exp %n : f32
      %d = arith.addf %e, %one : f32
      %s = arith.divf %one, %d : f32
      linalg.yield %s : f32
  } -> tensor<33x8xf32>
  %v_a, %i_a = moe.topk %scores_a k(2) : tensor<33x8xf32> -> tensor<33x2xf32>, tensor<33x2xi32>
  %weights_a = linalg.generic {indexing_maps = [#id, #id],
                               iterator_types = ["parallel", "parallel"]}
      ins(%v_a : tensor<33x2xf32>) outs(%k_init : tensor<33x2xf32>) {
    ^bb0(%a: f32, %o: f32):
      %m = arith.mulf %a, %factor : f32
      linalg.yield %m : f32
  } -> tensor<33x2xf32>

  // a), fusable.
  %logits_a2 = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<33x24xf32>, tensor<8x24xf32>)
      outs(%acc : tensor<33x8xf32>) -> tensor<33x8xf32>
  %scores_a2 = linalg.generic {indexing_maps = [#ident, #ident],
                               iterator_types = ["parallel", "parallel"]}
      ins(%logits_a2 : tensor<33x8xf32>) outs(%empty : tensor<33x8xf32>) {
    ^bb0(%l: f32, %o: f32):
      %n = arith.negf %l : f32
      %e = math.exp %n : f32
      %d = arith.addf %e, %one : f32
      %s = arith.divf %one, %d : f32
      linalg.yield %s : f32
  } -> tensor<33x8xf32>
  %v_a2, %i_a2 = moe.topk %scores_a2 k(2) : tensor<33x8xf32> -> tensor<33x2xf32>, tensor<33x2xi32>
  %weights_a2 = linalg.generic {indexing_maps = [#id, #id],
                                iterator_types = ["parallel", "parallel"]}
      ins(%v_a2 : tensor<33x2xf32>) outs(%k_init : tensor<33x2xf32>) {
    ^bb0(%a: f32, %o: f32):
      %m = arith.mulf %a, %factor : f32
      linalg.yield %m : f32
  } -> tensor<33x2xf32>

  // b), scores also returned: left alone.
  %logits_b = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<33x24xf32>, tensor<8x24xf32>)
      outs(%acc : tensor<33x8xf32>) -> tensor<33x8xf32>
  %neg_b = arith.negf %logits_b : tensor<33x8xf32>
  %exp_b = math.exp %neg_b : tensor<33x8xf32>
  %den_b = arith.addf %ones, %exp_b : tensor<33x8xf32>
  %scores_b = arith.divf %ones, %den_b : tensor<33x8xf32>
  %bias_b = linalg.broadcast ins(%bias : tensor<8xf32>) outs(%empty : tensor<33x8xf32>) dimensions = [0]
  %sel_b = arith.addf %scores_b, %bias_b : tensor<33x8xf32>
  %v_b, %i_b = moe.topk %sel_b k(2) : tensor<33x8xf32> -> tensor<33x2xf32>, tensor<33x2xi32>
  %picked_b = linalg.generic {indexing_maps = [#id, #id],
                              iterator_types = ["parallel", "parallel"]}
      ins(%i_b : tensor<33x2xi32>) outs(%k_init : tensor<33x2xf32>) {
    ^bb0(%expert: i32, %o: f32):
      %r = linalg.index 0 : index
      %c = arith.index_cast %expert : i32 to index
      %s = tensor.extract %scores_b[%r, %c] : tensor<33x8xf32>
      linalg.yield %s : f32
  } -> tensor<33x2xf32>
  %sum_b = linalg.reduce ins(%picked_b : tensor<33x2xf32>) outs(%sum_zero : tensor<33xf32>) dimensions = [1]
    (%in: f32, %s: f32) {
      %a = arith.addf %in, %s : f32
      linalg.yield %a : f32
    }
  %norm_b = linalg.generic {indexing_maps = [#id, #token, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%picked_b, %sum_b : tensor<33x2xf32>, tensor<33xf32>) outs(%k_init : tensor<33x2xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %d = arith.divf %a, %b : f32
      linalg.yield %d : f32
  } -> tensor<33x2xf32>
  %weights_b = arith.mulf %norm_b, %factors : tensor<33x2xf32>

  // b), fusable.
  %logits_b2 = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<33x24xf32>, tensor<8x24xf32>)
      outs(%acc : tensor<33x8xf32>) -> tensor<33x8xf32>
  %neg_b2 = arith.negf %logits_b2 : tensor<33x8xf32>
  %exp_b2 = math.exp %neg_b2 : tensor<33x8xf32>
  %den_b2 = arith.addf %ones, %exp_b2 : tensor<33x8xf32>
  %scores_b2 = arith.divf %ones, %den_b2 : tensor<33x8xf32>
  %bias_b2 = linalg.broadcast ins(%bias : tensor<8xf32>) outs(%empty : tensor<33x8xf32>) dimensions = [0]
  %sel_b2 = arith.addf %scores_b2, %bias_b2 : tensor<33x8xf32>
  %v_b2, %i_b2 = moe.topk %sel_b2 k(2) : tensor<33x8xf32> -> tensor<33x2xf32>, tensor<33x2xi32>
  %picked_b2 = linalg.generic {indexing_maps = [#id, #id],
                               iterator_types = ["parallel", "parallel"]}
      ins(%i_b2 : tensor<33x2xi32>) outs(%k_init : tensor<33x2xf32>) {
    ^bb0(%expert: i32, %o: f32):
      %r = linalg.index 0 : index
      %c = arith.index_cast %expert : i32 to index
      %s = tensor.extract %scores_b2[%r, %c] : tensor<33x8xf32>
      linalg.yield %s : f32
  } -> tensor<33x2xf32>
  %sum_b2 = linalg.reduce ins(%picked_b2 : tensor<33x2xf32>) outs(%sum_zero : tensor<33xf32>) dimensions = [1]
    (%in: f32, %s: f32) {
      %a = arith.addf %in, %s : f32
      linalg.yield %a : f32
    }
  %norm_b2 = linalg.generic {indexing_maps = [#id, #token, #id],
                             iterator_types = ["parallel", "parallel"]}
      ins(%picked_b2, %sum_b2 : tensor<33x2xf32>, tensor<33xf32>) outs(%k_init : tensor<33x2xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %d = arith.divf %a, %b : f32
      linalg.yield %d : f32
  } -> tensor<33x2xf32>
  %weights_b2 = arith.mulf %norm_b2, %factors : tensor<33x2xf32>

  return %weights_a, %i_a, %scores_a, %weights_a2, %i_a2,
         %weights_b, %i_b, %scores_b, %weights_b2, %i_b2
      : tensor<33x2xf32>, tensor<33x2xi32>, tensor<33x8xf32>,
        tensor<33x2xf32>, tensor<33x2xi32>,
        tensor<33x2xf32>, tensor<33x2xi32>, tensor<33x8xf32>,
        tensor<33x2xf32>, tensor<33x2xi32>
}
