// --bench N --cold times the calls cold, as a layer of a deep model runs:
// before each timed call the activations (arguments with a dynamic
// dimension, else the first argument) get new random data, so the routing
// changes, and a flush buffer (--flush-mib; by default 4x the last-level
// cache) is read on all cores, so no weight is still cached. The timing line
// keeps the format of a warm --bench.

// RUN: rm -rf %t && split-file %s %t
// RUN: moe-run %t/layer.mlir --bench=3 --cold --flush-mib=8 --dynamic-size=5 \
// RUN:   | FileCheck %s --check-prefix=LAYER
// RUN: moe-run %t/static.mlir --bench=3 --cold --flush-mib=8 \
// RUN:   | FileCheck %s --check-prefix=STATIC
// RUN: moe-run %t/layer.mlir --bench=3 --cold --flush-mib=8 --check-leaks \
// RUN:   | FileCheck %s --check-prefix=LEAKS
// RUN: not moe-run %t/layer.mlir --cold 2>&1 | FileCheck %s --check-prefix=NOBENCH

// LAYER: result0: tensor<5x8xf32> sum=
// LAYER-NEXT: cold: flush_mib=8 refilled=%arg0,%arg5{{$}}
// LAYER-NEXT: bench: runs=3 median_ms={{[0-9]+\.[0-9]+}} min_ms={{[0-9]+\.[0-9]+}}

// STATIC: result0: tensor<4x8xf32> sum=
// STATIC-NEXT: cold: flush_mib=8 refilled=%arg0{{$}}
// STATIC-NEXT: bench: runs=3 median_ms={{[0-9]+\.[0-9]+}} min_ms={{[0-9]+\.[0-9]+}}

// The new inputs are the arguments' own buffers: nothing leaks.
// LEAKS: leak check: ok (4 calls,
// LEAKS-NEXT: cold: flush_mib=8 refilled=%arg0,%arg5{{$}}
// LEAKS-NEXT: bench: runs=3

// NOBENCH: {{^}}moe-run: --cold times calls: give --bench=N too{{$}}

//--- layer.mlir
// A small MoE layer (D 8, F 16, E 4, K 2) and a second activation %bias
// with a dynamic dimension, added to the output.
func.func @main(%x: tensor<?x8xf32>, %router: tensor<4x8xf32>,
                %gate: tensor<4x16x8xf32>, %up: tensor<4x16x8xf32>,
                %down: tensor<4x8x16xf32>, %bias: tensor<?x8xf32>)
    -> tensor<?x8xf32> {
  %y = moe.layer %x router(%router) gate_proj(%gate) up_proj(%up)
      down_proj(%down) top_k(2) score(softmax) normalize activation(silu_glu)
      : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>,
         tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x8xf32>
  %init = tensor.empty(%n) : tensor<?x8xf32>
  %sum = linalg.add ins(%y, %bias : tensor<?x8xf32>, tensor<?x8xf32>)
      outs(%init : tensor<?x8xf32>) -> tensor<?x8xf32>
  return %sum : tensor<?x8xf32>
}

//--- static.mlir
// No dynamic dimension: the first argument is the activation.
func.func @main(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>) -> tensor<4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<4x8xf32>
  %filled = linalg.fill ins(%zero : f32) outs(%init : tensor<4x8xf32>)
      -> tensor<4x8xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x8xf32>)
      outs(%filled : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
