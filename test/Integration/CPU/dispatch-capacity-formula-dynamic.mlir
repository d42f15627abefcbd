// RUN: moe-run %s --dynamic-size=20 --print | FileCheck %s --check-prefix=DYNAMIC

// C = min(T, max(min_capacity, ceil(capacity_factor * T * K / E))) in
// float64. The order of the products matters: for cf = 0.2, T = 20, K = 6,
// E = 8, ((0.2 * 20) * 6) / 8 = 3.0 exactly, but ((0.2 * 6) * 20) / 8 =
// 3.0000000000000004, whose ceil is 4. The verifier and builders (the static
// result type, MoEOps.cpp computeCapacity) evaluate the formula as written,
// C = 3; the lowering (MoEToLinalg.cpp computeCapacity) multiplies cf * K
// first and gets 4: with a static T moe-cpu-pipeline fails ('memref.cast'
// memref<8x4x1xf32> -> memref<8x3x1xf32> is cast incompatible), with a
// dynamic T the run-time capacity is 4 (counts 4, row_of e*4 + pos).
//
// This file: T dynamic (see dispatch-capacity-formula-static.mlir).
//
// Token t goes to experts t, t+1, ..., t+5 (mod 8): 15 assignments per
// expert for 3 places, so every expert keeps its first 3 tokens.

// The token rows are random (moe-run fills %x, 20 rows); the capacity,
// counts and row_of do not depend on them.
// DYNAMIC:      result0: tensor<8x3x1xf32> =
// DYNAMIC:      result1: tensor<8xi32> =
// DYNAMIC-NEXT: {{^}}[3, 3, 3, 3, 3, 3, 3, 3]
// DYNAMIC-NEXT: result2: tensor<20x6xi32> =
// DYNAMIC-NEXT: {{^}}{{\[}}[0, 3, 6, 9, 12, 15],
func.func @dynamic_tokens(%x: tensor<?x1xf32>) -> (tensor<8x?x1xf32>, tensor<8xi32>, tensor<?x6xi32>) {
  %idx = arith.constant dense<[[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6], [2, 3, 4, 5, 6, 7], [3, 4, 5, 6, 7, 0], [4, 5, 6, 7, 0, 1], [5, 6, 7, 0, 1, 2], [6, 7, 0, 1, 2, 3], [7, 0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6], [2, 3, 4, 5, 6, 7], [3, 4, 5, 6, 7, 0], [4, 5, 6, 7, 0, 1], [5, 6, 7, 0, 1, 2], [6, 7, 0, 1, 2, 3], [7, 0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6], [2, 3, 4, 5, 6, 7], [3, 4, 5, 6, 7, 0]]> : tensor<20x6xi32>
  %buf, %counts, %row_of = moe.dispatch %x, %idx num_experts(8) mode(capacity) capacity_factor(0.2) : (tensor<?x1xf32>, tensor<20x6xi32>) -> (tensor<8x?x1xf32>, tensor<8xi32>, tensor<?x6xi32>)
  return %buf, %counts, %row_of : tensor<8x?x1xf32>, tensor<8xi32>, tensor<?x6xi32>
}
