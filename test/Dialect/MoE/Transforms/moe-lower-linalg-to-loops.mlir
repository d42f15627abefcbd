// RUN: moe-opt %s --moe-lower-linalg-to-loops | FileCheck %s --enable-var-scope

// A linalg op that no parallel loop encloses runs its parallel dimensions
// as an scf.parallel (OpenMP later) and its reduction dimension as an
// scf.for inside.

// CHECK-LABEL: func.func @top_level_matmul(
// CHECK-SAME: %[[A:[a-z0-9]+]]: memref<16x64xf32>, %[[B:[a-z0-9]+]]: memref<32x64xf32>, %[[C:[a-z0-9]+]]: memref<16x32xf32>
// CHECK-NOT: linalg.
// CHECK: scf.parallel (%[[I:.+]], %[[J:.+]]) =
// CHECK: scf.for %[[K:.+]] =
// CHECK: memref.load %[[A]][%[[I]], %[[K]]]
// CHECK: memref.load %[[B]][%[[J]], %[[K]]]
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: memref.store %{{.+}}, %[[C]][%[[I]], %[[J]]]
func.func @top_level_matmul(%a: memref<16x64xf32>, %b: memref<32x64xf32>,
                            %c: memref<16x32xf32>) {
  // The [out, in] weight layout: C = A · Bᵀ.
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                 affine_map<(m, n, k) -> (n, k)>,
                                 affine_map<(m, n, k) -> (m, n)>]
      ins(%a, %b : memref<16x64xf32>, memref<32x64xf32>)
      outs(%c : memref<16x32xf32>)
  return
}

// Inside an scf.forall (the per-expert loop of moe.experts) the same op is
// serial loops: no nested parallel region.

// CHECK-LABEL: func.func @matmul_per_expert(
// CHECK: scf.forall
// CHECK-NOT: scf.parallel
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.for
// CHECK-NOT: scf.parallel
// CHECK: return
func.func @matmul_per_expert(%a: memref<4x16x64xf32>, %b: memref<4x32x64xf32>,
                             %c: memref<4x16x32xf32>) {
  scf.forall (%e) in (4) {
    %ae = memref.subview %a[%e, 0, 0] [1, 16, 64] [1, 1, 1]
        : memref<4x16x64xf32> to memref<16x64xf32, strided<[64, 1], offset: ?>>
    %be = memref.subview %b[%e, 0, 0] [1, 32, 64] [1, 1, 1]
        : memref<4x32x64xf32> to memref<32x64xf32, strided<[64, 1], offset: ?>>
    %ce = memref.subview %c[%e, 0, 0] [1, 16, 32] [1, 1, 1]
        : memref<4x16x32xf32> to memref<16x32xf32, strided<[32, 1], offset: ?>>
    linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                   affine_map<(m, n, k) -> (n, k)>,
                                   affine_map<(m, n, k) -> (m, n)>]
        ins(%ae, %be : memref<16x64xf32, strided<[64, 1], offset: ?>>,
                       memref<32x64xf32, strided<[64, 1], offset: ?>>)
        outs(%ce : memref<16x32xf32, strided<[32, 1], offset: ?>>)
  }
  return
}

// A fill of a whole activation buffer is parallel too.

// CHECK-LABEL: func.func @fill(
// CHECK: scf.parallel (%{{.+}}, %{{.+}}) =
// CHECK: memref.store
func.func @fill(%m: memref<?x64xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%m : memref<?x64xf32>)
  return
}

// Ops on tensors are not this pass's business.

// CHECK-LABEL: func.func @tensors(
// CHECK: linalg.fill
func.func @tensors(%t: tensor<4xf32>) -> tensor<4xf32> {
  %zero = arith.constant 0.0 : f32
  %f = linalg.fill ins(%zero : f32) outs(%t : tensor<4xf32>) -> tensor<4xf32>
  return %f : tensor<4xf32>
}
