// RUN: moe-opt %s --convert-moe-to-linalg=target=cuda --split-input-file | FileCheck %s --enable-var-scope
// RUN: moe-opt %s --convert-moe-to-linalg --split-input-file | FileCheck %s --check-prefix=CPU
// RUN: not moe-opt %s --convert-moe-to-linalg=target=tpu --split-input-file 2>&1 | FileCheck %s --check-prefix=BAD

// For CUDA, moe.experts is row-parallel: a lookup of each row's expert
// (the segment that holds it, E when none does), then one element per
// (row, hidden unit), gate and up dotted in one pass over the row, then one
// element per (row, output feature). There is no loop over experts and no
// count of active experts, so no launch size depends on the routing.

// CHECK-LABEL: func.func @experts(
// CHECK-SAME: %[[ROWS:[a-z0-9]+]]: tensor<?x8xf32>, %[[OFFSETS:[a-z0-9]+]]: tensor<3xi32>, %[[GATE:[a-z0-9]+]]: tensor<2x4x8xf32>, %[[UP:[a-z0-9]+]]: tensor<2x4x8xf32>, %[[DOWN:[a-z0-9]+]]: tensor<2x8x4xf32>
// CHECK-NOT: scf.forall
// CHECK: %[[OWNER:.+]] = linalg.generic {{.+}} iterator_types = ["parallel"]} outs(%{{.+}} : tensor<?xindex>)
// CHECK: scf.for {{.+}} iter_args(%{{.+}} = %[[NONE:c2]]) -> (index)
// CHECK: %[[HIDDEN:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel"]} outs(%{{.+}} : tensor<?x4xf32>)
// CHECK: %[[EXPERT:.+]] = tensor.extract %[[OWNER]]
// CHECK: arith.cmpi slt, %[[EXPERT]], %[[NONE]] : index
// CHECK: scf.for {{.+}} -> (f32, f32)
// CHECK: tensor.extract %[[UP]][%[[EXPERT]],
// CHECK: tensor.extract %[[GATE]][%[[EXPERT]],
// CHECK: math.exp
// CHECK: linalg.generic {{.+}} outs(%{{.+}} : tensor<?x8xf32>)
// CHECK: tensor.extract %[[HIDDEN]]
// CHECK: tensor.extract %[[DOWN]]
// CHECK-NOT: scf.forall
// CHECK: return

// The CPU form loops over the experts that have rows.
// CPU-LABEL: func.func @experts(
// CPU: scf.forall
// CPU: vector.

// BAD: error: convert-moe-to-linalg: target must be 'cpu' or 'cuda', got 'tpu'
func.func @experts(%rows: tensor<?x8xf32>, %offsets: tensor<3xi32>,
                   %gate: tensor<2x4x8xf32>, %up: tensor<2x4x8xf32>,
                   %down: tensor<2x8x4xf32>) -> tensor<?x8xf32> {
  %y = moe.experts %rows, %offsets gate_proj(%gate) up_proj(%up) down_proj(%down)
      activation(silu_glu)
      : (tensor<?x8xf32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>,
         tensor<2x8x4xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// The capacity layout: the expert is the leading index, and rows past the
// expert's count are zero.

// CHECK: #[[$UNITFIRST3D:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d1, d2, d0)>
// CHECK-LABEL: func.func @capacity_experts(
// CHECK-SAME: %[[BUF:[a-z0-9]+]]: tensor<2x3x8xf32>, %[[COUNTS:[a-z0-9]+]]: tensor<2xi32>
// The unit (hidden or output feature) is the outermost dimension and the
// rows the innermost, so that neighbouring GPU threads take neighbouring
// rows of one expert and share each weight load.
// CHECK: linalg.generic {indexing_maps = [#[[$UNITFIRST3D]]], iterator_types = ["parallel", "parallel", "parallel"]} outs(%{{.+}} : tensor<2x3x4xf32>)
// CHECK: %[[E:.+]] = linalg.index 1 : index
// CHECK: %[[C:.+]] = linalg.index 2 : index
// CHECK: tensor.extract %[[COUNTS]][%[[E]]]
// CHECK: arith.cmpi slt, %[[C]],
// CHECK: linalg.generic {{.+}} outs(%{{.+}} : tensor<2x3x8xf32>)
func.func @capacity_experts(%buf: tensor<2x3x8xf32>, %counts: tensor<2xi32>,
                            %up: tensor<2x4x8xf32>, %down: tensor<2x8x4xf32>)
    -> tensor<2x3x8xf32> {
  %y = moe.experts %buf, %counts up_proj(%up) down_proj(%down) activation(relu)
      : (tensor<2x3x8xf32>, tensor<2xi32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>)
      -> tensor<2x3x8xf32>
  return %y : tensor<2x3x8xf32>
}

// -----

// For CUDA, a dropless moe.dispatch keeps the stable (expert, token, slot)
// order but finds it with a chunked parallel scan: every step is a
// linalg.generic (one GPU thread per element), with no sequential walk over
// the assignments: counts per (chunk, expert), bases per (chunk, expert),
// counts and offsets per expert, the row of each assignment, the token of
// each row, and the gather of the rows.

// CHECK-LABEL: func.func @dispatch(
// CHECK-NOT: scf.forall
// CHECK: linalg.generic {{.+}} iterator_types = ["parallel", "parallel"]} outs(%{{.+}} : tensor<?x4xi32>)
// CHECK: linalg.generic {{.+}} iterator_types = ["parallel", "parallel"]} outs(%{{.+}} : tensor<?x4xi32>)
// CHECK: linalg.generic {{.+}} iterator_types = ["parallel"]} outs(%{{.+}} : tensor<4xi32>)
// CHECK: linalg.generic {{.+}} iterator_types = ["parallel"]} outs(%{{.+}} : tensor<5xi32>)
// CHECK: linalg.generic {{.+}} iterator_types = ["parallel", "parallel"]} outs(%{{.+}} : tensor<?x2xi32>)
// CHECK: linalg.generic {{.+}} iterator_types = ["parallel"]} outs(%{{.+}} : tensor<?xi32>)
// CHECK: linalg.generic {{.+}} iterator_types = ["parallel", "parallel"]} ins(%{{.+}} : tensor<?xi32>) outs(%{{.+}} : tensor<?x16xf32>)
// CHECK: return
func.func @dispatch(%x: tensor<?x16xf32>, %indices: tensor<?x2xi32>)
    -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>) {
  %rows, %offsets, %row_of = moe.dispatch %x, %indices num_experts(4)
      : (tensor<?x16xf32>, tensor<?x2xi32>)
      -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>)
  return %rows, %offsets, %row_of : tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>
}
