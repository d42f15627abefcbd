// RUN: moe-opt %s --convert-moe-to-linalg --canonicalize --cse --split-input-file | FileCheck %s --enable-var-scope
// RUN: moe-opt %s --convert-moe-to-linalg --split-input-file | FileCheck %s --check-prefix=NO-MOE

// No moe op, and no tensor.gather / tensor.scatter, survives the lowering.
// NO-MOE-NOT: moe.
// NO-MOE-NOT: tensor.gather
// NO-MOE-NOT: tensor.scatter

// moe.topk: a parallel loop over rows; per row, k arg-max passes over the
// N entries (a partial selection, O(k·N)): no sort.

// CHECK-LABEL: func.func @topk
// CHECK: scf.forall (%[[ROW:.+]]) in (%{{.+}}) shared_outs(%[[VALUES:.+]] = %{{.+}}, %[[INDICES:.+]] = %{{.+}})
// CHECK: %[[SLICE:.+]] = tensor.extract_slice %{{.+}}[%[[ROW]], 0] [1, 8] [1, 1] : tensor<?x8xf32> to tensor<8xf32>
// CHECK: scf.for %{{.+}} = %{{.+}} to %[[K:.+]] step
// CHECK: scf.for %{{.+}} = %{{.+}} to %[[N:.+]] step
// NaN ranks below every number: it is replaced by -inf for the ranking.
// CHECK: arith.cmpf uno
// CHECK: arith.select %{{.+}}, %{{.+}}, %{{.+}} : f32
// CHECK: scf.forall.in_parallel
// CHECK: tensor.parallel_insert_slice %{{.+}} into %[[VALUES]][%[[ROW]], 0] [1, 2] [1, 1] : tensor<2xf32> into tensor<?x2xf32>
// CHECK: tensor.parallel_insert_slice %{{.+}} into %[[INDICES]][%[[ROW]], 0] [1, 2] [1, 1] : tensor<2xi64> into tensor<?x2xi64>
// CHECK-NOT: sort
func.func @topk(%s: tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %v, %i = moe.topk %s k(2) : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %v, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// moe.route without the scores result: one parallel loop over tokens whose
// logits live in a token-local tensor<8xf32>; only T x K results are written.

// CHECK-LABEL: func.func @route_fused
// CHECK-NOT: tensor<?x8xf32>
// CHECK: scf.forall (%[[T:.+]]) in (%{{.+}}) shared_outs(%[[W:.+]] = %{{.+}}, %[[I:.+]] = %{{.+}}) -> (tensor<?x2xf32>, tensor<?x2xi32>)
// CHECK: linalg.generic {{.+}} iterator_types = ["parallel", "reduction"]
// CHECK-SAME: outs(%{{.+}} : tensor<8xf32>)
// CHECK: math.exp
// CHECK: tensor.parallel_insert_slice %{{.+}} into %[[W]][%[[T]], 0] [1, 2]
// CHECK: tensor.parallel_insert_slice %{{.+}} into %[[I]][%[[T]], 0] [1, 2]
// CHECK-NOT: tensor<?x8xf32>
func.func @route_fused(%x: tensor<?x16xbf16>, %w: tensor<8x16xbf16>)
    -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %weights, %indices = moe.route %x, %w top_k(2) normalize
      : (tensor<?x16xbf16>, tensor<8x16xbf16>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  return %weights, %indices : tensor<?x2xf32>, tensor<?x2xi32>
}

// -----

// With the scores result the T x E scores are a third output.

// CHECK-LABEL: func.func @route_with_scores
// CHECK: scf.forall {{.+}} -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x8xf32>)
func.func @route_with_scores(%x: tensor<?x16xf32>, %w: tensor<8x16xf32>)
    -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x8xf32>) {
  %weights, %indices, %scores = moe.route %x, %w top_k(2) score(sigmoid)
      : (tensor<?x16xf32>, tensor<8x16xf32>)
      -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x8xf32>)
  return %weights, %indices, %scores
      : tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x8xf32>
}

// -----

// moe.experts: a parallel loop over experts; an expert runs its FFN only
// when it has rows, on exactly its rows [offsets[e], offsets[e+1]).

// CHECK-LABEL: func.func @experts
// CHECK-SAME: %[[ROWS:[a-z0-9]+]]: tensor<?x16xf32>, %[[OFFSETS:[a-z0-9]+]]: tensor<5xi32>
// CHECK: scf.forall (%[[E:.+]]) in (4) shared_outs(%[[OUT:.+]] = %{{.+}}) -> (tensor<?x16xf32>)
// CHECK: %[[START_I32:.+]] = tensor.extract %[[OFFSETS]][%[[E]]]
// CHECK: scf.if
// CHECK: tensor.extract_slice %[[ROWS]][%{{.+}}, 0] [%{{.+}}, 16] [1, 1]
// CHECK: linalg.matmul
// CHECK: linalg.matmul
// CHECK: linalg.generic
// CHECK: linalg.matmul
// CHECK: tensor.parallel_insert_slice %{{.+}} into %[[OUT]][%{{.+}}, 0] [%{{.+}}, 16] [1, 1]
func.func @experts(%rows: tensor<?x16xf32>, %offsets: tensor<5xi32>,
    %wg: tensor<4x24x16xf32>, %wu: tensor<4x24x16xf32>,
    %wd: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd)
      activation(silu_glu)
      : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x24x16xf32>,
         tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// moe.dispatch (dropless): a counting sort over the T x K assignments in
// (token, slot) order, copying rows with tensor.insert_slice.

// CHECK-LABEL: func.func @dispatch
// CHECK: scf.for
// CHECK: scf.for
// CHECK: tensor.insert_slice {{.+}} : tensor<16xf32> into tensor<?x16xf32>
func.func @dispatch(%x: tensor<?x16xf32>, %indices: tensor<?x2xi32>)
    -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>) {
  %rows, %offsets, %row_of = moe.dispatch %x, %indices num_experts(4)
      : (tensor<?x16xf32>, tensor<?x2xi32>)
      -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>)
  return %rows, %offsets, %row_of : tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>
}

// -----

// moe.repeat becomes an scf.for with the same iter_args.

// CHECK-LABEL: func.func @repeat
// CHECK-SAME: (%[[X:.+]]: tensor<4x8xf32>
// CHECK: %[[R:.+]] = scf.for %{{.+}} = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[H:.+]] = %[[X]]) -> (tensor<4x8xf32>)
// CHECK: linalg.matmul {{.*}}ins(%[[H]]
// CHECK: scf.yield
// CHECK: return %[[R]]
func.func @repeat(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>) -> tensor<4x8xf32> {
  %r = moe.repeat 3 iter_args(%h = %x) : tensor<4x8xf32> {
    %zero = arith.constant 0.0 : f32
    %init = tensor.empty() : tensor<4x8xf32>
    %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<4x8xf32>) -> tensor<4x8xf32>
    %next = linalg.matmul ins(%h, %w : tensor<4x8xf32>, tensor<8x8xf32>)
                          outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
    moe.yield %next : tensor<4x8xf32>
  }
  return %r : tensor<4x8xf32>
}
