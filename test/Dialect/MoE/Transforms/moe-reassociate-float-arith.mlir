// RUN: moe-opt %s --moe-reassociate-float-arith --split-input-file | FileCheck %s --enable-var-scope

// f32 adds, subtracts and multiplies may be reassociated and contracted
// (so LLVM vectorizes the sums of lowered matmuls and uses FMA); flags
// already there are kept; divides and f64 bookkeeping (the capacity
// formula) keep strict IEEE order.

// CHECK-LABEL: func.func @flags
// CHECK-SAME: (%[[A:.+]]: f32, %[[B:.+]]: f32, %[[C:.+]]: f64, %[[D:.+]]: f64)
// CHECK: %[[SUM:.+]] = arith.addf %[[A]], %[[B]] fastmath<reassoc,contract> : f32
// CHECK: %[[PRODUCT:.+]] = arith.mulf %[[C]], %[[D]] : f64
// CHECK: %[[QUOTIENT:.+]] = arith.divf %[[A]], %[[B]] : f32
// CHECK: arith.subf %[[SUM]], %[[QUOTIENT]] fastmath<reassoc,nnan,contract> : f32
func.func @flags(%a: f32, %b: f32, %c: f64, %d: f64) -> (f32, f64, f32) {
  %0 = arith.addf %a, %b : f32
  %1 = arith.mulf %c, %d : f64
  %2 = arith.divf %a, %b : f32
  %3 = arith.subf %0, %2 fastmath<nnan> : f32
  return %3, %1, %2 : f32, f64, f32
}

// -----

// Inside a linalg body too: the reduction of a matmul-like generic.

// CHECK-LABEL: func.func @in_linalg_body
// CHECK: linalg.generic
// CHECK: arith.mulf %{{.+}}, %{{.+}} fastmath<reassoc,contract> : f32
// CHECK: arith.addf %{{.+}}, %{{.+}} fastmath<reassoc,contract> : f32
func.func @in_linalg_body(%x: tensor<8xf32>, %y: tensor<8xf32>, %acc: tensor<f32>) -> tensor<f32> {
  %r = linalg.generic {indexing_maps = [affine_map<(d) -> (d)>, affine_map<(d) -> (d)>, affine_map<(d) -> ()>],
                       iterator_types = ["reduction"]}
      ins(%x, %y : tensor<8xf32>, tensor<8xf32>) outs(%acc : tensor<f32>) {
    ^bb0(%a: f32, %b: f32, %s: f32):
      %m = arith.mulf %a, %b : f32
      %n = arith.addf %s, %m : f32
      linalg.yield %n : f32
  } -> tensor<f32>
  return %r : tensor<f32>
}
