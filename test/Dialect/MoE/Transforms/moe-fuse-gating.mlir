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

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, e) -> (t, e)>

// A sigmoid router (one generic computing 1 / (1 + exp(-l)), as torch-mlir
// lowers torch.sigmoid), then top-k: moe.route score(sigmoid).

// CHECK-LABEL: func.func @sigmoid_then_topk
// CHECK-SAME: (%[[X:.+]]: tensor<?x16xbf16>, %[[W:.+]]: tensor<8x16xbf16>)
// CHECK-NOT: linalg.
// CHECK: %[[WEIGHTS:.+]], %[[INDICES:.+]] = moe.route %[[X]], %[[W]] top_k(2) score(sigmoid) :
// CHECK-NOT: linalg.
// CHECK-NOT: moe.topk
// CHECK: return %[[WEIGHTS]], %[[INDICES]]
func.func @sigmoid_then_topk(%x: tensor<?x16xbf16>, %w: tensor<8x16xbf16>)
    -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %t = tensor.dim %x, %c0 : tensor<?x16xbf16>
  %empty = tensor.empty(%t) : tensor<?x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<?x8xf32>) -> tensor<?x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<?x16xbf16>, tensor<8x16xbf16>)
      outs(%acc : tensor<?x8xf32>) -> tensor<?x8xf32>
  %init = tensor.empty(%t) : tensor<?x8xf32>
  %scores = linalg.generic {indexing_maps = [#id, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%logits : tensor<?x8xf32>) outs(%init : tensor<?x8xf32>) {
    ^bb0(%l: f32, %o: f32):
      %n = arith.negf %l : f32
      %e = math.exp %n : f32
      %d = arith.addf %e, %one : f32
      %s = arith.divf %one, %d : f32
      linalg.yield %s : f32
  } -> tensor<?x8xf32>
  %v, %i = moe.topk %scores k(2) : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %v, %i : tensor<?x2xf32>, tensor<?x2xi32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>

// The sigmoid as arith/math ops on whole tensors (-x written 0 - x): the
// same route.

// CHECK-LABEL: func.func @sigmoid_on_tensors
// CHECK-NEXT: %[[WEIGHTS:.+]], %[[INDICES:.+]] = moe.route %{{.+}}, %{{.+}} top_k(2) score(sigmoid) :
// CHECK-NEXT: return %[[WEIGHTS]], %[[INDICES]]
func.func @sigmoid_on_tensors(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>)
    -> (tensor<4x2xf32>, tensor<4x2xi32>) {
  %zero = arith.constant 0.0 : f32
  %zeros = arith.constant dense<0.0> : tensor<4x8xf32>
  %ones = arith.constant dense<1.0> : tensor<4x8xf32>
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %n = arith.subf %zeros, %logits : tensor<4x8xf32>
  %e = math.exp %n : tensor<4x8xf32>
  %d = arith.addf %ones, %e : tensor<4x8xf32>
  %s = arith.divf %ones, %d : tensor<4x8xf32>
  %v, %i = moe.topk %s k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  return %v, %i : tensor<4x2xf32>, tensor<4x2xi32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, e) -> (t, e)>

// The tensor-level sigmoid after convert-elementwise-to-linalg: one generic
// per op, each writing into its first operand (so the logits and the
// intermediates are also used as destinations), and the 1 a splat tensor
// input. The same route.

// CHECK-LABEL: func.func @sigmoid_after_elementwise_to_linalg
// CHECK-NEXT: %[[WEIGHTS:.+]], %[[INDICES:.+]] = moe.route %{{.+}}, %{{.+}} top_k(2) score(sigmoid) :
// CHECK-NEXT: return %[[WEIGHTS]], %[[INDICES]]
func.func @sigmoid_after_elementwise_to_linalg(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>)
    -> (tensor<4x2xf32>, tensor<4x2xi32>) {
  %zero = arith.constant 0.0 : f32
  %ones = arith.constant dense<1.0> : tensor<4x8xf32>
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %n = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%logits : tensor<4x8xf32>) outs(%logits : tensor<4x8xf32>) {
    ^bb0(%a: f32, %o: f32):
      %r = arith.negf %a : f32
      linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %e = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%n : tensor<4x8xf32>) outs(%n : tensor<4x8xf32>) {
    ^bb0(%a: f32, %o: f32):
      %r = math.exp %a : f32
      linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %d = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%e, %ones : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %r = arith.addf %a, %b : f32
      linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %s = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%ones, %d : tensor<4x8xf32>, tensor<4x8xf32>) outs(%ones : tensor<4x8xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %r = arith.divf %a, %b : f32
      linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %v, %i = moe.topk %s k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  return %v, %i : tensor<4x2xf32>, tensor<4x2xi32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>

// The sigmoid from named elementwise linalg ops and linalg.map, the 1 a
// linalg.fill: the same route.

// CHECK-LABEL: func.func @sigmoid_from_named_ops
// CHECK-NEXT: %[[WEIGHTS:.+]], %[[INDICES:.+]] = moe.route %{{.+}}, %{{.+}} top_k(2) score(sigmoid) :
// CHECK-NEXT: return %[[WEIGHTS]], %[[INDICES]]
func.func @sigmoid_from_named_ops(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>)
    -> (tensor<4x2xf32>, tensor<4x2xi32>) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %ones = linalg.fill ins(%one : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %n = linalg.negf ins(%logits : tensor<4x8xf32>) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %e = linalg.exp ins(%n : tensor<4x8xf32>) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %d = linalg.add ins(%e, %ones : tensor<4x8xf32>, tensor<4x8xf32>)
      outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %s = linalg.map ins(%ones, %d : tensor<4x8xf32>, tensor<4x8xf32>) outs(%empty : tensor<4x8xf32>)
    (%a: f32, %b: f32, %o: f32) {
      %r = arith.divf %a, %b : f32
      linalg.yield %r : f32
    }
  %v, %i = moe.topk %s k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  return %v, %i : tensor<4x2xf32>, tensor<4x2xi32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, e) -> (t, e)>

// Near miss: the sigmoid scores are also returned (e.g. for an auxiliary
// loss), so they must exist; the chain is left alone.

// CHECK-LABEL: func.func @sigmoid_scores_have_another_use
// CHECK: linalg.matmul
// CHECK: math.exp
// CHECK: moe.topk
// CHECK-NOT: moe.route
func.func @sigmoid_scores_have_another_use(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>)
    -> (tensor<4x2xf32>, tensor<4x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %scores = linalg.generic {indexing_maps = [#id, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%logits : tensor<4x8xf32>) outs(%empty : tensor<4x8xf32>) {
    ^bb0(%l: f32, %o: f32):
      %n = arith.negf %l : f32
      %e = math.exp %n : f32
      %d = arith.addf %one, %e : f32
      %s = arith.divf %one, %d : f32
      linalg.yield %s : f32
  } -> tensor<4x8xf32>
  %v, %i = moe.topk %scores k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  return %v, %scores : tensor<4x2xf32>, tensor<4x8xf32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, e) -> (t, e)>

// Near miss: an intermediate of the tensor-level sigmoid (exp(-l)) has
// another use; fusing would leave the matmul to compute it.

// CHECK-LABEL: func.func @sigmoid_intermediate_has_another_use
// CHECK: linalg.matmul
// CHECK: moe.topk
// CHECK-NOT: moe.route
func.func @sigmoid_intermediate_has_another_use(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>)
    -> (tensor<4x2xf32>, tensor<4x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %ones = arith.constant dense<1.0> : tensor<4x8xf32>
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %n = arith.negf %logits : tensor<4x8xf32>
  %e = math.exp %n : tensor<4x8xf32>
  %d = arith.addf %ones, %e : tensor<4x8xf32>
  %s = arith.divf %ones, %d : tensor<4x8xf32>
  %v, %i = moe.topk %s k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  return %v, %e : tensor<4x2xf32>, tensor<4x8xf32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, e) -> (t, e)>

// Near miss: 1 / (1 + exp(l)) is sigmoid(-l), not a sigmoid router.

// CHECK-LABEL: func.func @not_a_sigmoid
// CHECK: math.exp
// CHECK: moe.topk
// CHECK-NOT: moe.route
func.func @not_a_sigmoid(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>)
    -> tensor<4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %scores = linalg.generic {indexing_maps = [#id, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%logits : tensor<4x8xf32>) outs(%empty : tensor<4x8xf32>) {
    ^bb0(%l: f32, %o: f32):
      %e = math.exp %l : f32
      %d = arith.addf %one, %e : f32
      %s = arith.divf %one, %d : f32
      linalg.yield %s : f32
  } -> tensor<4x8xf32>
  %v, %i = moe.topk %scores k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  return %v : tensor<4x2xf32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(a, b) -> (a, b)>
#swap = affine_map<(a, b) -> (b, a)>

// Near miss: the "sigmoid" reads the logits transposed (an 8 x 8 router on
// 8 tokens), so its rows are not the tokens' scores.

// CHECK-LABEL: func.func @sigmoid_of_transposed_logits
// CHECK: linalg.generic
// CHECK: moe.topk
// CHECK-NOT: moe.route
func.func @sigmoid_of_transposed_logits(%x: tensor<8x16xf32>, %w: tensor<8x16xf32>)
    -> tensor<8x2xf32> {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %empty = tensor.empty() : tensor<8x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<8x8xf32>) -> tensor<8x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<8x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<8x8xf32>) -> tensor<8x8xf32>
  %scores = linalg.generic {indexing_maps = [#swap, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%logits : tensor<8x8xf32>) outs(%empty : tensor<8x8xf32>) {
    ^bb0(%l: f32, %o: f32):
      %n = arith.negf %l : f32
      %e = math.exp %n : f32
      %d = arith.addf %one, %e : f32
      %s = arith.divf %one, %d : f32
      linalg.yield %s : f32
  } -> tensor<8x8xf32>
  %v, %i = moe.topk %scores k(2) : tensor<8x8xf32> -> tensor<8x2xf32>, tensor<8x2xi32>
  return %v : tensor<8x2xf32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, e) -> (t, e)>
#expert = affine_map<(t, e) -> (e)>
#token = affine_map<(t, e) -> (t)>

// DeepSeek-V3 without groups, as torch-mlir imports it: sigmoid scores; the
// experts chosen on scores + e_score_correction_bias; the weights gathered
// from the unbiased scores (torch.gather: a generic with tensor.extract);
// divided by their sum; times routed_scaling_factor. One moe.route with a
// bias, normalize and scale; the i64 indices are widened from the route's.

// CHECK-LABEL: func.func @deepseek_v3_router
// CHECK-SAME: (%[[X:.+]]: tensor<?x16xbf16>, %[[W:.+]]: tensor<8x16xbf16>, %[[B:.+]]: tensor<8xf32>)
// CHECK-NOT: linalg.
// CHECK: %[[WEIGHTS:.+]], %[[INDICES:.+]] = moe.route %[[X]], %[[W]] bias(%[[B]]) top_k(2) score(sigmoid) normalize scale(2.500000e+00) :
// CHECK-NOT: moe.topk
// CHECK-NOT: linalg.
// CHECK: %[[WIDE:.+]] = arith.extsi %[[INDICES]] : tensor<?x2xi32> to tensor<?x2xi64>
// CHECK: return %[[WEIGHTS]], %[[WIDE]]
func.func @deepseek_v3_router(%x: tensor<?x16xbf16>, %w: tensor<8x16xbf16>,
                              %bias: tensor<8xf32>)
    -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %factor = arith.constant 2.5 : f32
  %t = tensor.dim %x, %c0 : tensor<?x16xbf16>
  %empty = tensor.empty(%t) : tensor<?x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<?x8xf32>) -> tensor<?x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<?x16xbf16>, tensor<8x16xbf16>)
      outs(%acc : tensor<?x8xf32>) -> tensor<?x8xf32>
  %scores = linalg.generic {indexing_maps = [#id, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%logits : tensor<?x8xf32>) outs(%empty : tensor<?x8xf32>) {
    ^bb0(%l: f32, %o: f32):
      %n = arith.negf %l : f32
      %e = math.exp %n : f32
      %d = arith.addf %e, %one : f32
      %s = arith.divf %one, %d : f32
      linalg.yield %s : f32
  } -> tensor<?x8xf32>
  %selection = linalg.generic {indexing_maps = [#id, #expert, #id],
                               iterator_types = ["parallel", "parallel"]}
      ins(%scores, %bias : tensor<?x8xf32>, tensor<8xf32>) outs(%empty : tensor<?x8xf32>) {
    ^bb0(%s: f32, %b: f32, %o: f32):
      %a = arith.addf %s, %b : f32
      linalg.yield %a : f32
  } -> tensor<?x8xf32>
  %v, %i = moe.topk %selection k(2) : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  %picked_init = tensor.empty(%t) : tensor<?x2xf32>
  %picked = linalg.generic {indexing_maps = [#id, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%i : tensor<?x2xi64>) outs(%picked_init : tensor<?x2xf32>) {
    ^bb0(%expert_id: i64, %o: f32):
      %row = linalg.index 0 : index
      %col = arith.index_cast %expert_id : i64 to index
      %s = tensor.extract %scores[%row, %col] : tensor<?x8xf32>
      linalg.yield %s : f32
  } -> tensor<?x2xf32>
  %sum_init = tensor.empty(%t) : tensor<?xf32>
  %sum_zero = linalg.fill ins(%zero : f32) outs(%sum_init : tensor<?xf32>) -> tensor<?xf32>
  %sum = linalg.reduce ins(%picked : tensor<?x2xf32>) outs(%sum_zero : tensor<?xf32>) dimensions = [1]
    (%in: f32, %s: f32) {
      %a = arith.addf %in, %s : f32
      linalg.yield %a : f32
    }
  %norm = linalg.generic {indexing_maps = [#id, #token, #id],
                          iterator_types = ["parallel", "parallel"]}
      ins(%picked, %sum : tensor<?x2xf32>, tensor<?xf32>) outs(%picked_init : tensor<?x2xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %d = arith.divf %a, %b : f32
      linalg.yield %d : f32
  } -> tensor<?x2xf32>
  %scaled = linalg.generic {indexing_maps = [#id, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%norm : tensor<?x2xf32>) outs(%picked_init : tensor<?x2xf32>) {
    ^bb0(%a: f32, %o: f32):
      %m = arith.mulf %a, %factor : f32
      linalg.yield %m : f32
  } -> tensor<?x2xf32>
  return %scaled, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, e) -> (t, e)>
#row = affine_map<(t, e) -> (0, e)>

// A softmax router with a selection bias broadcast the way torch-mlir
// broadcasts `bias.unsqueeze(0)`: a 1 x E operand read at (0, e). The route
// takes the E-vector before the expand_shape.

// CHECK-LABEL: func.func @softmax_with_unsqueezed_bias
// CHECK-SAME: %[[B:[^:]+]]: tensor<8xf32>
// CHECK: %[[WEIGHTS:.+]], %[[INDICES:.+]] = moe.route %{{.+}}, %{{.+}} bias(%[[B]]) top_k(2) :
// CHECK-NOT: moe.topk
// CHECK: return %[[WEIGHTS]], %[[INDICES]]
func.func @softmax_with_unsqueezed_bias(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>,
                                        %bias: tensor<8xf32>)
    -> (tensor<4x2xf32>, tensor<4x2xi32>) {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %probs = linalg.softmax dimension(1) ins(%logits : tensor<4x8xf32>)
      outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %bias_row = tensor.expand_shape %bias [[0, 1]] output_shape [1, 8]
      : tensor<8xf32> into tensor<1x8xf32>
  %selection = linalg.generic {indexing_maps = [#id, #row, #id],
                               iterator_types = ["parallel", "parallel"]}
      ins(%probs, %bias_row : tensor<4x8xf32>, tensor<1x8xf32>) outs(%empty : tensor<4x8xf32>) {
    ^bb0(%s: f32, %b: f32, %o: f32):
      %a = arith.addf %b, %s : f32
      linalg.yield %a : f32
  } -> tensor<4x8xf32>
  %v, %i = moe.topk %selection k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %picked_init = tensor.empty() : tensor<4x2xf32>
  %picked = linalg.generic {indexing_maps = [#id, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%i : tensor<4x2xi32>) outs(%picked_init : tensor<4x2xf32>) {
    ^bb0(%expert_id: i32, %o: f32):
      %r = linalg.index 0 : index
      %c = arith.index_castui %expert_id : i32 to index
      %s = tensor.extract %probs[%r, %c] : tensor<4x8xf32>
      linalg.yield %s : f32
  } -> tensor<4x2xf32>
  return %picked, %i : tensor<4x2xf32>, tensor<4x2xi32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, e) -> (t, e)>
#row = affine_map<(t, e) -> (0, e)>

// The same with a 1 x E bias that is not an expand_shape: the route gets it
// collapsed to E.

// CHECK-LABEL: func.func @bias_row_operand
// CHECK-SAME: %[[B:[^:]+]]: tensor<1x8xf32>
// CHECK: %[[FLAT:.+]] = tensor.collapse_shape %[[B]] {{\[\[}}0, 1]] : tensor<1x8xf32> into tensor<8xf32>
// CHECK: moe.route %{{.+}}, %{{.+}} bias(%[[FLAT]]) top_k(2) score(sigmoid) :
func.func @bias_row_operand(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>,
                            %bias: tensor<1x8xf32>)
    -> (tensor<4x2xf32>, tensor<4x2xi32>) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %scores = linalg.generic {indexing_maps = [#id, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%logits : tensor<4x8xf32>) outs(%empty : tensor<4x8xf32>) {
    ^bb0(%l: f32, %o: f32):
      %n = arith.negf %l : f32
      %e = math.exp %n : f32
      %d = arith.addf %e, %one : f32
      %s = arith.divf %one, %d : f32
      linalg.yield %s : f32
  } -> tensor<4x8xf32>
  %selection = linalg.generic {indexing_maps = [#id, #row, #id],
                               iterator_types = ["parallel", "parallel"]}
      ins(%scores, %bias : tensor<4x8xf32>, tensor<1x8xf32>) outs(%empty : tensor<4x8xf32>) {
    ^bb0(%s: f32, %b: f32, %o: f32):
      %a = arith.addf %s, %b : f32
      linalg.yield %a : f32
  } -> tensor<4x8xf32>
  %v, %i = moe.topk %selection k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %picked_init = tensor.empty() : tensor<4x2xf32>
  %picked = linalg.generic {indexing_maps = [#id, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%i : tensor<4x2xi32>) outs(%picked_init : tensor<4x2xf32>) {
    ^bb0(%expert_id: i32, %o: f32):
      %r = linalg.index 0 : index
      %c = arith.index_cast %expert_id : i32 to index
      %s = tensor.extract %scores[%r, %c] : tensor<4x8xf32>
      linalg.yield %s : f32
  } -> tensor<4x2xf32>
  return %picked, %i : tensor<4x2xf32>, tensor<4x2xi32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, e) -> (t, e)>

// Tensor-level sigmoid and bias add (the bias through linalg.broadcast),
// then gather, then a tensor-level multiply by a splat constant: route with
// bias and scale (no normalize).

// CHECK-LABEL: func.func @tensor_level_biased_and_scaled
// CHECK-SAME: %[[B:[^:]+]]: tensor<8xf32>
// CHECK-NEXT: %[[WEIGHTS:.+]], %[[INDICES:.+]] = moe.route %{{.+}}, %{{.+}} bias(%[[B]]) top_k(2) score(sigmoid) scale(1.500000e+00) :
// CHECK-NEXT: return %[[WEIGHTS]], %[[INDICES]]
func.func @tensor_level_biased_and_scaled(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>,
                                          %bias: tensor<8xf32>)
    -> (tensor<4x2xf32>, tensor<4x2xi32>) {
  %zero = arith.constant 0.0 : f32
  %ones = arith.constant dense<1.0> : tensor<4x8xf32>
  %factor = arith.constant dense<1.5> : tensor<4x2xf32>
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %n = arith.negf %logits : tensor<4x8xf32>
  %e = math.exp %n : tensor<4x8xf32>
  %d = arith.addf %ones, %e : tensor<4x8xf32>
  %scores = arith.divf %ones, %d : tensor<4x8xf32>
  %bias_rows = linalg.broadcast ins(%bias : tensor<8xf32>) outs(%empty : tensor<4x8xf32>) dimensions = [0]
  %selection = arith.addf %scores, %bias_rows : tensor<4x8xf32>
  %v, %i = moe.topk %selection k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %picked_init = tensor.empty() : tensor<4x2xf32>
  %picked = linalg.generic {indexing_maps = [#id, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%i : tensor<4x2xi32>) outs(%picked_init : tensor<4x2xf32>) {
    ^bb0(%expert_id: i32, %o: f32):
      %r = linalg.index 0 : index
      %c = arith.index_cast %expert_id : i32 to index
      %s = tensor.extract %scores[%r, %c] : tensor<4x8xf32>
      linalg.yield %s : f32
  } -> tensor<4x2xf32>
  %scaled = arith.mulf %factor, %picked : tensor<4x2xf32>
  return %scaled, %i : tensor<4x2xf32>, tensor<4x2xi32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, e) -> (t, e)>
#expert = affine_map<(t, e) -> (e)>

// Near miss: the weights are gathered from the biased selection, not from
// the scores; moe.route's weights never include the bias.

// CHECK-LABEL: func.func @weights_from_biased_scores
// CHECK: moe.topk
// CHECK: tensor.extract
// CHECK-NOT: moe.route
func.func @weights_from_biased_scores(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>,
                                      %bias: tensor<8xf32>) -> tensor<4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %probs = linalg.softmax dimension(1) ins(%logits : tensor<4x8xf32>)
      outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %selection = linalg.generic {indexing_maps = [#id, #expert, #id],
                               iterator_types = ["parallel", "parallel"]}
      ins(%probs, %bias : tensor<4x8xf32>, tensor<8xf32>) outs(%empty : tensor<4x8xf32>) {
    ^bb0(%s: f32, %b: f32, %o: f32):
      %a = arith.addf %s, %b : f32
      linalg.yield %a : f32
  } -> tensor<4x8xf32>
  %v, %i = moe.topk %selection k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %picked_init = tensor.empty() : tensor<4x2xf32>
  %picked = linalg.generic {indexing_maps = [#id, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%i : tensor<4x2xi32>) outs(%picked_init : tensor<4x2xf32>) {
    ^bb0(%expert_id: i32, %o: f32):
      %r = linalg.index 0 : index
      %c = arith.index_cast %expert_id : i32 to index
      %s = tensor.extract %selection[%r, %c] : tensor<4x8xf32>
      linalg.yield %s : f32
  } -> tensor<4x2xf32>
  return %picked : tensor<4x2xf32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, e) -> (t, e)>
#token = affine_map<(t, e) -> (t)>

// Near miss: the "bias" is broadcast over the other axis (one value per
// token), so it is not a per-expert bias.

// CHECK-LABEL: func.func @bias_per_token
// CHECK: moe.topk
// CHECK-NOT: moe.route
func.func @bias_per_token(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>,
                          %bias: tensor<4xf32>) -> tensor<4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %probs = linalg.softmax dimension(1) ins(%logits : tensor<4x8xf32>)
      outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %selection = linalg.generic {indexing_maps = [#id, #token, #id],
                               iterator_types = ["parallel", "parallel"]}
      ins(%probs, %bias : tensor<4x8xf32>, tensor<4xf32>) outs(%empty : tensor<4x8xf32>) {
    ^bb0(%s: f32, %b: f32, %o: f32):
      %a = arith.addf %s, %b : f32
      linalg.yield %a : f32
  } -> tensor<4x8xf32>
  %v, %i = moe.topk %selection k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %picked_init = tensor.empty() : tensor<4x2xf32>
  %picked = linalg.generic {indexing_maps = [#id, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%i : tensor<4x2xi32>) outs(%picked_init : tensor<4x2xf32>) {
    ^bb0(%expert_id: i32, %o: f32):
      %r = linalg.index 0 : index
      %c = arith.index_cast %expert_id : i32 to index
      %s = tensor.extract %probs[%r, %c] : tensor<4x8xf32>
      linalg.yield %s : f32
  } -> tensor<4x2xf32>
  return %picked : tensor<4x2xf32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, e) -> (t, e)>
#expert = affine_map<(t, e) -> (e)>

// Near misses: the unbiased scores also feed a loss (@scores_also_in_a_loss),
// or the biased top-k values are used (@biased_values_used). Both are left
// alone.

// CHECK-LABEL: func.func @scores_also_in_a_loss
// CHECK: moe.topk
// CHECK-NOT: moe.route
// CHECK-LABEL: func.func @biased_values_used
// CHECK: moe.topk
// CHECK-NOT: moe.route
func.func @scores_also_in_a_loss(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>,
                                 %bias: tensor<8xf32>) -> (tensor<4x2xf32>, f32) {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %probs = linalg.softmax dimension(1) ins(%logits : tensor<4x8xf32>)
      outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %selection = linalg.generic {indexing_maps = [#id, #expert, #id],
                               iterator_types = ["parallel", "parallel"]}
      ins(%probs, %bias : tensor<4x8xf32>, tensor<8xf32>) outs(%empty : tensor<4x8xf32>) {
    ^bb0(%s: f32, %b: f32, %o: f32):
      %a = arith.addf %s, %b : f32
      linalg.yield %a : f32
  } -> tensor<4x8xf32>
  %v, %i = moe.topk %selection k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %picked_init = tensor.empty() : tensor<4x2xf32>
  %picked = linalg.generic {indexing_maps = [#id, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%i : tensor<4x2xi32>) outs(%picked_init : tensor<4x2xf32>) {
    ^bb0(%expert_id: i32, %o: f32):
      %r = linalg.index 0 : index
      %c = arith.index_cast %expert_id : i32 to index
      %s = tensor.extract %probs[%r, %c] : tensor<4x8xf32>
      linalg.yield %s : f32
  } -> tensor<4x2xf32>
  %loss = moe.load_balancing_loss %probs, %i : (tensor<4x8xf32>, tensor<4x2xi32>) -> f32
  return %picked, %loss : tensor<4x2xf32>, f32
}

func.func @biased_values_used(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>,
                              %bias: tensor<8xf32>) -> (tensor<4x2xf32>, tensor<4x2xf32>) {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %probs = linalg.softmax dimension(1) ins(%logits : tensor<4x8xf32>)
      outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %selection = linalg.generic {indexing_maps = [#id, #expert, #id],
                               iterator_types = ["parallel", "parallel"]}
      ins(%probs, %bias : tensor<4x8xf32>, tensor<8xf32>) outs(%empty : tensor<4x8xf32>) {
    ^bb0(%s: f32, %b: f32, %o: f32):
      %a = arith.addf %s, %b : f32
      linalg.yield %a : f32
  } -> tensor<4x8xf32>
  %v, %i = moe.topk %selection k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %picked_init = tensor.empty() : tensor<4x2xf32>
  %picked = linalg.generic {indexing_maps = [#id, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%i : tensor<4x2xi32>) outs(%picked_init : tensor<4x2xf32>) {
    ^bb0(%expert_id: i32, %o: f32):
      %r = linalg.index 0 : index
      %c = arith.index_cast %expert_id : i32 to index
      %s = tensor.extract %probs[%r, %c] : tensor<4x8xf32>
      linalg.yield %s : f32
  } -> tensor<4x2xf32>
  return %picked, %v : tensor<4x2xf32>, tensor<4x2xf32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, k) -> (t, k)>
#all = affine_map<(t, k) -> ()>

// Scaling a softmax route's weights by a constant held in a rank-0 tensor
// (read at every position): moe.route scale.

// CHECK-LABEL: func.func @scaled_by_rank0_constant
// CHECK-NEXT: %[[WEIGHTS:.+]], %{{.+}} = moe.route %{{.+}}, %{{.+}} top_k(2) scale(1.600000e+01) :
// CHECK-NEXT: return %[[WEIGHTS]]
func.func @scaled_by_rank0_constant(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>)
    -> tensor<4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %factor = arith.constant dense<16.0> : tensor<f32>
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %probs = linalg.softmax dimension(1) ins(%logits : tensor<4x8xf32>)
      outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %v, %i = moe.topk %probs k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %scaled = linalg.generic {indexing_maps = [#all, #id, #id],
                            iterator_types = ["parallel", "parallel"]}
      ins(%factor, %v : tensor<f32>, tensor<4x2xf32>) outs(%v : tensor<4x2xf32>) {
    ^bb0(%f: f32, %a: f32, %o: f32):
      %m = arith.mulf %f, %a : f32
      linalg.yield %m : f32
  } -> tensor<4x2xf32>
  return %scaled : tensor<4x2xf32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, k) -> (t, k)>

// Near misses of the scale: a factor that is not a constant, a negative
// factor (moe.route's scale is > 0), and weights that are also returned
// unscaled. The routes are fused; the multiplies stay.

// CHECK-LABEL: func.func @scale_near_misses
// CHECK: moe.route %{{.+}}, %{{.+}} top_k(2) :
// CHECK: arith.mulf
// CHECK: moe.route %{{.+}}, %{{.+}} top_k(2) :
// CHECK: arith.mulf
// CHECK: moe.route %{{.+}}, %{{.+}} top_k(2) :
// CHECK: arith.mulf
// CHECK: return
func.func @scale_near_misses(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %runtime_factor: f32)
    -> (tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>) {
  %zero = arith.constant 0.0 : f32
  %negative = arith.constant -2.0 : f32
  %two = arith.constant 2.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %init = tensor.empty() : tensor<4x2xf32>

  %logits0 = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %probs0 = linalg.softmax dimension(1) ins(%logits0 : tensor<4x8xf32>)
      outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %v0, %i0 = moe.topk %probs0 k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %s0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%v0 : tensor<4x2xf32>) outs(%init : tensor<4x2xf32>) {
    ^bb0(%a: f32, %o: f32):
      %m = arith.mulf %a, %runtime_factor : f32
      linalg.yield %m : f32
  } -> tensor<4x2xf32>

  %logits1 = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %probs1 = linalg.softmax dimension(1) ins(%logits1 : tensor<4x8xf32>)
      outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %v1, %i1 = moe.topk %probs1 k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %s1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%v1 : tensor<4x2xf32>) outs(%init : tensor<4x2xf32>) {
    ^bb0(%a: f32, %o: f32):
      %m = arith.mulf %a, %negative : f32
      linalg.yield %m : f32
  } -> tensor<4x2xf32>

  %logits2 = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %probs2 = linalg.softmax dimension(1) ins(%logits2 : tensor<4x8xf32>)
      outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %v2, %i2 = moe.topk %probs2 k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %s2 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%v2 : tensor<4x2xf32>) outs(%init : tensor<4x2xf32>) {
    ^bb0(%a: f32, %o: f32):
      %m = arith.mulf %a, %two : f32
      linalg.yield %m : f32
  } -> tensor<4x2xf32>
  return %s0, %s1, %s2, %v2 : tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x2xf32>
}

// -----

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, k) -> (t, k)>
#slot = affine_map<(t, k) -> (k)>

// Near miss: the weights are divided by their sum over the tokens
// (dimension 0), not over the top-k; no normalize.

// CHECK-LABEL: func.func @normalized_over_tokens
// CHECK: moe.route %{{.+}}, %{{.+}} top_k(2) :
// CHECK: linalg.reduce
// CHECK: arith.divf
func.func @normalized_over_tokens(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>)
    -> tensor<4x2xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %logits = linalg.matmul indexing_maps = [#lhs, #rhs, #out]
      ins(%x, %w : tensor<4x16xf32>, tensor<8x16xf32>)
      outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  %probs = linalg.softmax dimension(1) ins(%logits : tensor<4x8xf32>)
      outs(%empty : tensor<4x8xf32>) -> tensor<4x8xf32>
  %v, %i = moe.topk %probs k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %sum_init = tensor.empty() : tensor<2xf32>
  %sum_zero = linalg.fill ins(%zero : f32) outs(%sum_init : tensor<2xf32>) -> tensor<2xf32>
  %sum = linalg.reduce ins(%v : tensor<4x2xf32>) outs(%sum_zero : tensor<2xf32>) dimensions = [0]
    (%in: f32, %s: f32) {
      %a = arith.addf %in, %s : f32
      linalg.yield %a : f32
    }
  %norm_init = tensor.empty() : tensor<4x2xf32>
  %norm = linalg.generic {indexing_maps = [#id, #slot, #id],
                          iterator_types = ["parallel", "parallel"]}
      ins(%v, %sum : tensor<4x2xf32>, tensor<2xf32>) outs(%norm_init : tensor<4x2xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %d = arith.divf %a, %b : f32
      linalg.yield %d : f32
  } -> tensor<4x2xf32>
  return %norm : tensor<4x2xf32>
}
