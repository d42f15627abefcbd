// RUN: moe-opt %s --moe-protect-entry-arguments | FileCheck %s
// RUN: moe-opt %s --moe-protect-entry-arguments --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" | FileCheck %s --check-prefix=BUFFERS

// Public functions' tensor arguments are read-only to bufferization, so an
// op that uses one as its `outs` writes into a copy, never into the
// caller's input. Scalars and private functions are left alone.

// CHECK-LABEL: func.func @doubles_in_place(
// CHECK-SAME: %{{.+}}: tensor<3xf64> {bufferization.writable = false}, %{{.+}}: f64)
// BUFFERS-LABEL: func.func @doubles_in_place(
// BUFFERS-SAME: %[[X:.+]]: memref<3xf64>,
// BUFFERS: %[[COPY:.+]] = memref.alloc()
// BUFFERS: memref.copy %[[X]], %[[COPY]]
// BUFFERS: linalg.generic {{.+}} ins(%[[X]] : memref<3xf64>) outs(%[[COPY]] : memref<3xf64>)
// BUFFERS: return %[[COPY]]
func.func @doubles_in_place(%x: tensor<3xf64>, %unused: f64) -> tensor<3xf64> {
  %y = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>,
                                        affine_map<(i) -> (i)>],
                       iterator_types = ["parallel"]}
      ins(%x : tensor<3xf64>) outs(%x : tensor<3xf64>) {
  ^bb0(%a: f64, %b: f64):
    %s = arith.addf %a, %b : f64
    linalg.yield %s : f64
  } -> tensor<3xf64>
  return %y : tensor<3xf64>
}

// CHECK-LABEL: func.func private @helper(
// CHECK-SAME: %{{.+}}: tensor<3xf64>)
func.func private @helper(%x: tensor<3xf64>) -> tensor<3xf64> {
  return %x : tensor<3xf64>
}
