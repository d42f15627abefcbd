// RUN: moe-opt %s --moe-annotate-entry-points | FileCheck %s --enable-var-scope
// RUN: moe-opt %s --moe-annotate-entry-points=c-interface=false | FileCheck %s --check-prefix=NO-CIFACE

// Public functions with a body record their buffer signature and ask for a
// C wrapper; private functions get internal linkage; declarations are left
// alone.

// CHECK-LABEL: func.func @forward(
// CHECK-SAME: attributes {llvm.emit_c_interface, moe.signature = (memref<?x16xf32>, memref<4x16xf32>) -> (memref<?x16xf32>, f32)}
// NO-CIFACE-LABEL: func.func @forward(
// NO-CIFACE-SAME: attributes {moe.signature = (memref<?x16xf32>, memref<4x16xf32>) -> (memref<?x16xf32>, f32)}
func.func @forward(%x: memref<?x16xf32>, %w: memref<4x16xf32>)
    -> (memref<?x16xf32>, f32) {
  %c = func.call @helper() : () -> f32
  return %x, %c : memref<?x16xf32>, f32
}

// CHECK-LABEL: func.func private @helper()
// CHECK-SAME: attributes {llvm.linkage = #llvm.linkage<internal>}
func.func private @helper() -> f32 {
  %one = arith.constant 1.0 : f32
  return %one : f32
}

// CHECK: func.func private @erff(f32) -> f32{{$}}
func.func private @erff(f32) -> f32
