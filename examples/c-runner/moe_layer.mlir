// A small MoE FFN for the C runner example: T tokens (dynamic) of width
// D = 16, E = 4 routed SwiGLU experts of width F = 32, top-2 with
// renormalized softmax weights (Mixtral-style), plus a shared expert of
// width 64 that every token uses (DeepSeekMoE-style).
//
//   moe-compile moe_layer.mlir --emit=shared -o libmoe_layer.so \
//     --header=moe_layer.h
func.func @moe_layer(%x: tensor<?x16xf32>, %router: tensor<4x16xf32>,
                     %gate: tensor<4x32x16xf32>, %up: tensor<4x32x16xf32>,
                     %down: tensor<4x16x32xf32>,
                     %shared_gate: tensor<64x16xf32>,
                     %shared_up: tensor<64x16xf32>,
                     %shared_down: tensor<16x64xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x router(%router) gate_proj(%gate) up_proj(%up)
      down_proj(%down) shared_gate_proj(%shared_gate)
      shared_up_proj(%shared_up) shared_down_proj(%shared_down)
      top_k(2) normalize activation(silu_glu)
      : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>,
         tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<64x16xf32>,
         tensor<64x16xf32>, tensor<16x64xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}
