// --bench N times N calls after a warm-up; --check-leaks resolves the
// compiled code's malloc and free to counting versions and fails if a call
// leaves a buffer behind (the pipeline's ownership-based deallocation frees
// every temporary, and moe-run frees every returned buffer).

// --warmup N runs N untimed calls between the first and the timed ones.

// RUN: moe-run %s --bench=3 --check-leaks | FileCheck %s
// CHECK: result0: tensor<16x8xf32> sum=
// CHECK-NEXT: leak check: ok (4 calls, {{[1-9][0-9]*}} buffers allocated and freed)
// CHECK-NEXT: bench: runs=3 median_ms={{[0-9]+\.[0-9]+}} min_ms={{[0-9]+\.[0-9]+}}

// RUN: moe-run %s --bench=3 --warmup=5 --check-leaks | FileCheck %s --check-prefix=WARMUP
// WARMUP: leak check: ok (9 calls,
// WARMUP-NEXT: bench: runs=3 median_ms=

// RUN: not moe-run %s --warmup=2 2>&1 | FileCheck %s --check-prefix=NOBENCH
// NOBENCH: {{^}}moe-run: --warmup comes before timed calls: give --bench=N too{{$}}

func.func @main(%x: tensor<?x8xf32>, %w: tensor<8x8xf32>) -> tensor<?x8xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x8xf32>
  %init = tensor.empty(%n) : tensor<?x8xf32>
  %filled = linalg.fill ins(%zero : f32) outs(%init : tensor<?x8xf32>) -> tensor<?x8xf32>
  // A temporary that is not returned: it must be freed inside the call.
  %h = linalg.matmul ins(%x, %w : tensor<?x8xf32>, tensor<8x8xf32>)
      outs(%filled : tensor<?x8xf32>) -> tensor<?x8xf32>
  %y = linalg.matmul ins(%h, %w : tensor<?x8xf32>, tensor<8x8xf32>)
      outs(%filled : tensor<?x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
