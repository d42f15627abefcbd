// REQUIRES: plugin
// RUN: %mlir_opt --load-dialect-plugin=%moe_plugin %s | FileCheck %s

// Debian's mlir-opt-22 parses, verifies and prints moe IR once the plugin is
// loaded: the plugin and the host share one libMLIR.so.

// CHECK-LABEL: func.func @route_with_plugin
// CHECK: moe.route %{{.+}}, %{{.+}} top_k(2) score(softmax_topk)
// CHECK: moe.topk %{{.+}} k(1)
func.func @route_with_plugin(%x: tensor<?x32xf32>, %w: tensor<4x32xf32>)
    -> (tensor<?x2xf32>, tensor<?x1xf32>) {
  %weights, %indices = moe.route %x, %w top_k(2) score(softmax_topk)
      : (tensor<?x32xf32>, tensor<4x32xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  %v, %i = moe.topk %weights k(1) : tensor<?x2xf32> -> tensor<?x1xf32>, tensor<?x1xi64>
  return %weights, %v : tensor<?x2xf32>, tensor<?x1xf32>
}
