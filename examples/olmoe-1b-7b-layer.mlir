// One MoE FFN layer of OLMoE-1B-7B (allenai/OLMoE-1B-7B-0924).
//
// Shapes: D 2048, E 64 experts of FFN width F 1024, top K 8; softmax router
// whose top-8 weights are not renormalized (norm_topk_prob = false); SwiGLU
// experts. Weights f32 in the nn.Linear layout: router 64x2048, gate and up
// 64x1024x2048, down 64x2048x1024. The model has 16 such layers.
//
// moe-opt olmoe-1b-7b-layer.mlir --moe-param-report gives 402.78M stored,
// of which the router and K/E = 1/8 of the experts are active per token:
//   total     402.78M     50.46M     0.125

func.func @olmoe_layer(%x: tensor<?x2048xf32>,
                       %router: tensor<64x2048xf32>,
                       %gate: tensor<64x1024x2048xf32>,
                       %up: tensor<64x1024x2048xf32>,
                       %down: tensor<64x2048x1024xf32>) -> tensor<?x2048xf32> {
  %y = moe.layer %x router(%router) gate_proj(%gate) up_proj(%up)
      down_proj(%down) top_k(8) score(softmax) activation(silu_glu)
      : (tensor<?x2048xf32>, tensor<64x2048xf32>, tensor<64x1024x2048xf32>,
         tensor<64x1024x2048xf32>, tensor<64x2048x1024xf32>)
      -> tensor<?x2048xf32>
  return %y : tensor<?x2048xf32>
}
