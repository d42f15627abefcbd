// RUN: moe-opt %s --moe-fuse-gating --split-input-file | FileCheck %s --enable-var-scope

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>

// softmax over the experts, then top-k (Mixtral, OLMoE): one moe.route.

// CHECK-LABEL: func.func @softmax_then_topk
// CHECK-SAME: (%[[X:.+]]: tensor<?x16xbf16>, %[[W:.+]]: tensor<8x16xbf16>)
// CHECK-NOT: linalg.softmax
// CHECK-NOT: linalg.matmul
// CHECK: %[[WEIGHTS:.+]], %[[INDICES:.+]] = moe.route %[[X]], %[[W]] top_k(2) :
// CHECK-NOT: moe.topk
// CHECK: %[[WIDE:.+]] = arith.extsi %[[INDICES]] : tensor<?x2xi32> to tensor<?x2xi64>
// CHECK: return %[[WEIGHTS]], %[[WIDE]]
func.func @softmax_then_topk(%x: tensor<?x16xbf16>, %w: tensor<8x16xbf16>)
    -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %t = tensor.dim %x, %c0 : tensor<?x16xbf16>
  %empty = tensor.empty(%t) : tensor<?x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<?x8xf32>) -> tensor<?x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<?x16xbf16>, tensor<8x16xbf16>)
      outs(%acc : tensor<?x8xf32>) -> tensor<?x8xf32>
  %init = tensor.empty(%t) : tensor<?x8xf32>
  %probs = linalg.softmax dimension(1) ins(%logits : tensor<?x8xf32>)
      outs(%init : tensor<?x8xf32>) -> tensor<?x8xf32>
  %v, %i = moe.topk %probs k(2) : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %v, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>

// top-k of the logits, then softmax of the selected logits: softmax_topk.

// CHECK-LABEL: func.func @topk_then_softmax
// CHECK: %[[WEIGHTS:.+]], %[[INDICES:.+]] = moe.route %{{.+}}, %{{.+}} top_k(2) score(softmax_topk) :
// CHECK-NOT: linalg.softmax
// CHECK: return %[[WEIGHTS]], %[[INDICES]]
func.func @topk_then_softmax(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>)
    -> (tensor<4x2xf32>, tensor<4x2xi32>) {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %v, %i = moe.topk %logits k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %init = tensor.empty() : tensor<4x2xf32>
  %weights = linalg.softmax dimension(1) ins(%v : tensor<4x2xf32>)
      outs(%init : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %weights, %i : tensor<4x2xf32>, tensor<4x2xi32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>

// Near miss: the scores also feed an auxiliary loss, so they must exist;
// the chain is left alone.

// CHECK-LABEL: func.func @scores_have_another_use
// CHECK: linalg.matmul
// CHECK: linalg.softmax
// CHECK: moe.topk
// CHECK-NOT: moe.route
func.func @scores_have_another_use(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>)
    -> (tensor<4x2xf32>, f32) {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %init = tensor.empty() : tensor<4x8xf32>
  %probs = linalg.softmax dimension(1) ins(%logits : tensor<4x8xf32>)
      outs(%init : tensor<4x8xf32>) -> tensor<4x8xf32>
  %v, %i = moe.topk %probs k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %loss = moe.load_balancing_loss %probs, %i : (tensor<4x8xf32>, tensor<4x2xi32>) -> f32
  return %v, %loss : tensor<4x2xf32>, f32
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>

// Near miss: a softmax over the tokens (dimension 0) is not a router.

// CHECK-LABEL: func.func @softmax_over_tokens
// CHECK: linalg.softmax dimension(0)
// CHECK: moe.topk
// CHECK-NOT: moe.route
func.func @softmax_over_tokens(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>)
    -> tensor<4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %init = tensor.empty() : tensor<4x8xf32>
  %probs = linalg.softmax dimension(0) ins(%logits : tensor<4x8xf32>)
      outs(%init : tensor<4x8xf32>) -> tensor<4x8xf32>
  %v, %i = moe.topk %probs k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  return %v : tensor<4x2xf32>
}

// -----

// Near miss: a plain (not transposed) matmul against a D x E weight.

// CHECK-LABEL: func.func @untransposed_router
// CHECK: linalg.matmul ins
// CHECK: moe.topk
// CHECK-NOT: moe.route
func.func @untransposed_router(%x: tensor<4x16xf32>, %w: tensor<16x8xf32>)
    -> tensor<4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul ins(%x, %w : tensor<4x16xf32>, tensor<16x8xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %init = tensor.empty() : tensor<4x8xf32>
  %probs = linalg.softmax dimension(1) ins(%logits : tensor<4x8xf32>)
      outs(%init : tensor<4x8xf32>) -> tensor<4x8xf32>
  %v, %i = moe.topk %probs k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  return %v : tensor<4x2xf32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, k) -> (t, k)>
#token = affine_map<(t, k) -> (t)>

// softmax, top-k, then divide by the sum of the top-k (Mixtral's
// renormalization): moe.route ... normalize.

// CHECK-LABEL: func.func @renormalized
// CHECK: %[[WEIGHTS:.+]], %{{.+}} = moe.route %{{.+}}, %{{.+}} top_k(2) normalize :
// CHECK-NOT: linalg.reduce
// CHECK-NOT: linalg.generic
// CHECK: return %[[WEIGHTS]]
func.func @renormalized(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>)
    -> tensor<4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %init = tensor.empty() : tensor<4x8xf32>
  %probs = linalg.softmax dimension(1) ins(%logits : tensor<4x8xf32>)
      outs(%init : tensor<4x8xf32>) -> tensor<4x8xf32>
  %v, %i = moe.topk %probs k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %sum_init = tensor.empty() : tensor<4xf32>
  %sum_zero = linalg.fill ins(%zero : f32) outs(%sum_init : tensor<4xf32>) -> tensor<4xf32>
  %sum = linalg.reduce ins(%v : tensor<4x2xf32>) outs(%sum_zero : tensor<4xf32>) dimensions = [1]
    (%in: f32, %s: f32) {
      %a = arith.addf %in, %s : f32
      linalg.yield %a : f32
    }
  %norm_init = tensor.empty() : tensor<4x2xf32>
  %norm = linalg.generic {indexing_maps = [#id, #token, #id],
                          iterator_types = ["parallel", "parallel"]}
      ins(%v, %sum : tensor<4x2xf32>, tensor<4xf32>) outs(%norm_init : tensor<4x2xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %d = arith.divf %a, %b : f32
      linalg.yield %d : f32
  } -> tensor<4x2xf32>
  return %norm : tensor<4x2xf32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, k) -> (t, k)>
#token = affine_map<(t, k) -> (t)>

// Near miss: the weights are divided by the sum in the other order (sum /
// weights); the route is fused, the arithmetic after it is left alone.

// CHECK-LABEL: func.func @divided_the_other_way
// CHECK: moe.route %{{.+}}, %{{.+}} top_k(2) :
// CHECK: linalg.reduce
// CHECK: arith.divf
func.func @divided_the_other_way(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>)
    -> tensor<4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %init = tensor.empty() : tensor<4x8xf32>
  %probs = linalg.softmax dimension(1) ins(%logits : tensor<4x8xf32>)
      outs(%init : tensor<4x8xf32>) -> tensor<4x8xf32>
  %v, %i = moe.topk %probs k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %sum_init = tensor.empty() : tensor<4xf32>
  %sum_zero = linalg.fill ins(%zero : f32) outs(%sum_init : tensor<4xf32>) -> tensor<4xf32>
  %sum = linalg.reduce ins(%v : tensor<4x2xf32>) outs(%sum_zero : tensor<4xf32>) dimensions = [1]
    (%in: f32, %s: f32) {
      %a = arith.addf %in, %s : f32
      linalg.yield %a : f32
    }
  %norm_init = tensor.empty() : tensor<4x2xf32>
  %norm = linalg.generic {indexing_maps = [#id, #token, #id],
                          iterator_types = ["parallel", "parallel"]}
      ins(%v, %sum : tensor<4x2xf32>, tensor<4xf32>) outs(%norm_init : tensor<4x2xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %d = arith.divf %b, %a : f32
      linalg.yield %d : f32
  } -> tensor<4x2xf32>
  return %norm : tensor<4x2xf32>
}
