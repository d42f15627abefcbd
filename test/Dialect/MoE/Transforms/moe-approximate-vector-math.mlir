// RUN: moe-opt %s --moe-approximate-vector-math | FileCheck %s

// exp, erf and tanh on f32 vectors become polynomials (arith on vectors, no
// math op left); scalar math ops and non-f32 vectors keep their exact
// lowering.

// CHECK-LABEL: func.func @vector_activations
// CHECK-NOT: math.exp
// CHECK-NOT: math.erf
// CHECK-NOT: math.tanh
// CHECK: arith.mulf {{.+}} : vector<16xf32>
// CHECK: return
func.func @vector_activations(%v: vector<16xf32>)
    -> (vector<16xf32>, vector<16xf32>, vector<16xf32>) {
  %e = math.exp %v : vector<16xf32>
  %r = math.erf %v : vector<16xf32>
  %t = math.tanh %v : vector<16xf32>
  return %e, %r, %t : vector<16xf32>, vector<16xf32>, vector<16xf32>
}

// CHECK-LABEL: func.func @scalars_and_f64_stay_exact
// CHECK: math.exp %{{.+}} : f32
// CHECK: math.erf %{{.+}} : f32
// CHECK: math.exp %{{.+}} : vector<4xf64>
func.func @scalars_and_f64_stay_exact(%s: f32, %d: vector<4xf64>)
    -> (f32, f32, vector<4xf64>) {
  %e = math.exp %s : f32
  %r = math.erf %s : f32
  %w = math.exp %d : vector<4xf64>
  return %e, %r, %w : f32, f32, vector<4xf64>
}
