// RUN: printf '#!/bin/sh\ngrep -q moe.topk "$1" && exit 1\nexit 0\n' > %t.sh && chmod +x %t.sh
// RUN: moe-reduce %s -reduction-tree='traversal-mode=0 test=%t.sh' 2>/dev/null | FileCheck %s

// moe-reduce parses moe IR and keeps what the test script finds interesting
// (mlir-reduce counts a non-zero exit as interesting).

// CHECK-LABEL: func.func @f
// CHECK: moe.topk %{{.+}} k(2)
func.func @f(%x: tensor<4x8xf32>, %y: f32) -> (tensor<4x2xf32>, f32) {
  %s = arith.addf %y, %y : f32
  %v, %i = moe.topk %x k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  return %v, %s : tensor<4x2xf32>, f32
}
