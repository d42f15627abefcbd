// RUN: moe-opt %s --moe-raise-dense-ffn --split-input-file | FileCheck %s

// A dense SwiGLU FFN (two transposed-B matmuls from zero, silu(g) * u, a
// third matmul) becomes a moe.experts with one expert that every token
// goes to; the weights are viewed as [1, F, D] and [1, D, F].

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs_t = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, f) -> (t, f)>

// CHECK-LABEL: func.func @swiglu
// CHECK-SAME: (%[[H:.+]]: tensor<?x16xf32>, %[[WG:.+]]: tensor<32x16xbf16>, %[[WU:.+]]: tensor<32x16xbf16>, %[[WD:.+]]: tensor<16x32xbf16>)
// CHECK-DAG: %[[ZERO:.+]] = arith.constant 0 : i32
// CHECK-DAG: %[[T:.+]] = tensor.dim %[[H]], %c0
// CHECK: %[[TOKENS:.+]] = arith.index_cast %[[T]] : index to i32
// CHECK: %[[SEGMENTS:.+]] = tensor.from_elements %[[ZERO]], %[[TOKENS]] : tensor<2xi32>
// CHECK: %[[G:.+]] = tensor.expand_shape %[[WG]] {{\[}}[0, 1], [2]] output_shape [1, 32, 16] : tensor<32x16xbf16> into tensor<1x32x16xbf16>
// CHECK: %[[U:.+]] = tensor.expand_shape %[[WU]] {{\[}}[0, 1], [2]] output_shape [1, 32, 16]
// CHECK: %[[D:.+]] = tensor.expand_shape %[[WD]] {{\[}}[0, 1], [2]] output_shape [1, 16, 32] : tensor<16x32xbf16> into tensor<1x16x32xbf16>
// CHECK: %[[Y:.+]] = moe.experts %[[H]], %[[SEGMENTS]] gate_proj(%[[G]]) up_proj(%[[U]]) down_proj(%[[D]]) activation(silu_glu)
// CHECK-NOT: linalg.matmul
// CHECK: return %[[Y]]
func.func @swiglu(%h: tensor<?x16xf32>, %wg: tensor<32x16xbf16>,
                  %wu: tensor<32x16xbf16>, %wd: tensor<16x32xbf16>) -> tensor<?x16xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %t = tensor.dim %h, %c0 : tensor<?x16xf32>
  %ge = tensor.empty(%t) : tensor<?x32xf32>
  %gi = linalg.fill ins(%zero : f32) outs(%ge : tensor<?x32xf32>) -> tensor<?x32xf32>
  %g = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%h, %wg : tensor<?x16xf32>, tensor<32x16xbf16>) outs(%gi : tensor<?x32xf32>) -> tensor<?x32xf32>
  %ue = tensor.empty(%t) : tensor<?x32xf32>
  %ui = linalg.fill ins(%zero : f32) outs(%ue : tensor<?x32xf32>) -> tensor<?x32xf32>
  %u = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%h, %wu : tensor<?x16xf32>, tensor<32x16xbf16>) outs(%ui : tensor<?x32xf32>) -> tensor<?x32xf32>
  %ae = tensor.empty(%t) : tensor<?x32xf32>
  %a = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%g, %u : tensor<?x32xf32>, tensor<?x32xf32>) outs(%ae : tensor<?x32xf32>) {
  ^bb0(%bg: f32, %bu: f32, %bo: f32):
    %ng = arith.negf %bg : f32
    %e = math.exp %ng : f32
    %one = arith.constant 1.0 : f32
    %den = arith.addf %one, %e : f32
    %silu = arith.divf %bg, %den : f32
    %r = arith.mulf %silu, %bu : f32
    linalg.yield %r : f32
  } -> tensor<?x32xf32>
  %de = tensor.empty(%t) : tensor<?x16xf32>
  %di = linalg.fill ins(%zero : f32) outs(%de : tensor<?x16xf32>) -> tensor<?x16xf32>
  %d = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%a, %wd : tensor<?x32xf32>, tensor<16x32xbf16>) outs(%di : tensor<?x16xf32>) -> tensor<?x16xf32>
  return %d : tensor<?x16xf32>
}

// -----

// silu written as g * sigmoid(g) with 0 - g, the factors of the product
// swapped: raised too.

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs_t = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, f) -> (t, f)>

// CHECK-LABEL: func.func @swiglu_sigmoid_form
// CHECK: moe.experts
// CHECK-NOT: linalg.matmul
func.func @swiglu_sigmoid_form(%h: tensor<4x16xf32>, %wg: tensor<32x16xf32>,
                               %wu: tensor<32x16xf32>, %wd: tensor<16x32xf32>) -> tensor<4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ge = tensor.empty() : tensor<4x32xf32>
  %gi = linalg.fill ins(%zero : f32) outs(%ge : tensor<4x32xf32>) -> tensor<4x32xf32>
  %g = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%h, %wg : tensor<4x16xf32>, tensor<32x16xf32>) outs(%gi : tensor<4x32xf32>) -> tensor<4x32xf32>
  %u = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%h, %wu : tensor<4x16xf32>, tensor<32x16xf32>) outs(%gi : tensor<4x32xf32>) -> tensor<4x32xf32>
  %a = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%g, %u : tensor<4x32xf32>, tensor<4x32xf32>) outs(%ge : tensor<4x32xf32>) {
  ^bb0(%bg: f32, %bu: f32, %bo: f32):
    %z = arith.constant 0.0 : f32
    %one = arith.constant 1.0 : f32
    %ng = arith.subf %z, %bg : f32
    %e = math.exp %ng : f32
    %den = arith.addf %e, %one : f32
    %sig = arith.divf %one, %den : f32
    %silu = arith.mulf %sig, %bg : f32
    %r = arith.mulf %bu, %silu : f32
    linalg.yield %r : f32
  } -> tensor<4x32xf32>
  %de = tensor.empty() : tensor<4x16xf32>
  %di = linalg.fill ins(%zero : f32) outs(%de : tensor<4x16xf32>) -> tensor<4x16xf32>
  %d = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%a, %wd : tensor<4x32xf32>, tensor<16x32xf32>) outs(%di : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %d : tensor<4x16xf32>
}

// -----

// Near misses, left alone: the activation has another use; silu of the up
// projection instead of the gate (silu(u) * g); a plain (not transposed-B)
// down matmul.

#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs_t = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(t, f) -> (t, f)>

// CHECK-LABEL: func.func @activation_used_twice
// CHECK-NOT: moe.experts
// CHECK-COUNT-3: linalg.matmul
// CHECK-NOT: moe.experts
// CHECK: return
func.func @activation_used_twice(%h: tensor<4x16xf32>, %wg: tensor<32x16xf32>,
                                 %wu: tensor<32x16xf32>, %wd: tensor<16x32xf32>)
    -> (tensor<4x16xf32>, tensor<4x32xf32>) {
  %zero = arith.constant 0.0 : f32
  %ge = tensor.empty() : tensor<4x32xf32>
  %gi = linalg.fill ins(%zero : f32) outs(%ge : tensor<4x32xf32>) -> tensor<4x32xf32>
  %g = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%h, %wg : tensor<4x16xf32>, tensor<32x16xf32>) outs(%gi : tensor<4x32xf32>) -> tensor<4x32xf32>
  %u = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%h, %wu : tensor<4x16xf32>, tensor<32x16xf32>) outs(%gi : tensor<4x32xf32>) -> tensor<4x32xf32>
  %a = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%g, %u : tensor<4x32xf32>, tensor<4x32xf32>) outs(%ge : tensor<4x32xf32>) {
  ^bb0(%bg: f32, %bu: f32, %bo: f32):
    %ng = arith.negf %bg : f32
    %e = math.exp %ng : f32
    %one = arith.constant 1.0 : f32
    %den = arith.addf %one, %e : f32
    %silu = arith.divf %bg, %den : f32
    %r = arith.mulf %silu, %bu : f32
    linalg.yield %r : f32
  } -> tensor<4x32xf32>
  %de = tensor.empty() : tensor<4x16xf32>
  %di = linalg.fill ins(%zero : f32) outs(%de : tensor<4x16xf32>) -> tensor<4x16xf32>
  %d = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%a, %wd : tensor<4x32xf32>, tensor<16x32xf32>) outs(%di : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %d, %a : tensor<4x16xf32>, tensor<4x32xf32>
}

// CHECK-LABEL: func.func @silu_of_up
// CHECK-NOT: moe.experts
// CHECK: return
func.func @silu_of_up(%h: tensor<4x16xf32>, %wg: tensor<32x16xf32>,
                      %wu: tensor<32x16xf32>, %wd: tensor<16x32xf32>) -> tensor<4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ge = tensor.empty() : tensor<4x32xf32>
  %gi = linalg.fill ins(%zero : f32) outs(%ge : tensor<4x32xf32>) -> tensor<4x32xf32>
  %g = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%h, %wg : tensor<4x16xf32>, tensor<32x16xf32>) outs(%gi : tensor<4x32xf32>) -> tensor<4x32xf32>
  %u = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%h, %wu : tensor<4x16xf32>, tensor<32x16xf32>) outs(%gi : tensor<4x32xf32>) -> tensor<4x32xf32>
  %a = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%g, %u : tensor<4x32xf32>, tensor<4x32xf32>) outs(%ge : tensor<4x32xf32>) {
  ^bb0(%bg: f32, %bu: f32, %bo: f32):
    %ng = arith.negf %bu : f32
    %e = math.exp %ng : f32
    %one = arith.constant 1.0 : f32
    %den = arith.addf %one, %e : f32
    %silu = arith.divf %bu, %den : f32
    %r = arith.mulf %silu, %bg : f32
    linalg.yield %r : f32
  } -> tensor<4x32xf32>
  %de = tensor.empty() : tensor<4x16xf32>
  %di = linalg.fill ins(%zero : f32) outs(%de : tensor<4x16xf32>) -> tensor<4x16xf32>
  %d = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%a, %wd : tensor<4x32xf32>, tensor<16x32xf32>) outs(%di : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %d : tensor<4x16xf32>
}

// CHECK-LABEL: func.func @untransposed_down
// CHECK-NOT: moe.experts
// CHECK: return
func.func @untransposed_down(%h: tensor<4x16xf32>, %wg: tensor<32x16xf32>,
                             %wu: tensor<32x16xf32>, %wd: tensor<32x16xf32>) -> tensor<4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ge = tensor.empty() : tensor<4x32xf32>
  %gi = linalg.fill ins(%zero : f32) outs(%ge : tensor<4x32xf32>) -> tensor<4x32xf32>
  %g = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%h, %wg : tensor<4x16xf32>, tensor<32x16xf32>) outs(%gi : tensor<4x32xf32>) -> tensor<4x32xf32>
  %u = linalg.matmul indexing_maps = [#lhs, #rhs_t, #out]
      ins(%h, %wu : tensor<4x16xf32>, tensor<32x16xf32>) outs(%gi : tensor<4x32xf32>) -> tensor<4x32xf32>
  %a = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%g, %u : tensor<4x32xf32>, tensor<4x32xf32>) outs(%ge : tensor<4x32xf32>) {
  ^bb0(%bg: f32, %bu: f32, %bo: f32):
    %ng = arith.negf %bg : f32
    %e = math.exp %ng : f32
    %one = arith.constant 1.0 : f32
    %den = arith.addf %one, %e : f32
    %silu = arith.divf %bg, %den : f32
    %r = arith.mulf %silu, %bu : f32
    linalg.yield %r : f32
  } -> tensor<4x32xf32>
  %de = tensor.empty() : tensor<4x16xf32>
  %di = linalg.fill ins(%zero : f32) outs(%de : tensor<4x16xf32>) -> tensor<4x16xf32>
  %d = linalg.matmul ins(%a, %wd : tensor<4x32xf32>, tensor<32x16xf32>) outs(%di : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %d : tensor<4x16xf32>
}
