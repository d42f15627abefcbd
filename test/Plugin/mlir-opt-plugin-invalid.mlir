// REQUIRES: plugin
// RUN: %mlir_opt --load-dialect-plugin=%moe_plugin %s -verify-diagnostics

// The plugin's verifiers run inside Debian's mlir-opt-22 too.
func.func @bad_route(%x: tensor<?x32xf32>, %w: tensor<4x32xf32>) {
  // expected-error @+1 {{expects top_k (5) <= num_experts (4)}}
  %weights, %indices = moe.route %x, %w top_k(5)
      : (tensor<?x32xf32>, tensor<4x32xf32>) -> (tensor<?x5xf32>, tensor<?x5xi32>)
  return
}
