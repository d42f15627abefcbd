// One MoE FFN layer of DeepSeek-V3 (deepseek-ai/DeepSeek-V3).
//
// Shapes: D 7168, E 256 routed experts of FFN width F 2048, top K 8, and one
// shared expert of width 2048. Router (DeepSeek-V3 "noaux_tc"): sigmoid
// scores; the selection-only bias (e_score_correction_bias, f32) is added
// before choosing; experts form 8 groups of 32, a group scores the sum of its
// top-2, the best 4 groups are kept; the top-8 weights are renormalized and
// scaled by 2.5 (routed_scaling_factor). SwiGLU experts. Activations and
// weights bf16 (the checkpoint is fp8; bf16 is its usual dequantized form):
// router 256x7168, gate and up 256x2048x7168, down 256x7168x2048, shared
// gate and up 2048x7168, shared down 7168x2048. The model has 58 such layers.
//
// moe-opt deepseek-v3-layer.mlir --moe-param-report gives 11.32B stored,
// of which the router, bias, shared expert and K/E = 1/32 of the routed
// experts are active per token:
//   total      11.32B    398.20M     0.035

func.func @deepseek_v3_layer(%x: tensor<?x7168xbf16>,
                             %router: tensor<256x7168xbf16>,
                             %bias: tensor<256xf32>,
                             %gate: tensor<256x2048x7168xbf16>,
                             %up: tensor<256x2048x7168xbf16>,
                             %down: tensor<256x7168x2048xbf16>,
                             %shared_gate: tensor<2048x7168xbf16>,
                             %shared_up: tensor<2048x7168xbf16>,
                             %shared_down: tensor<7168x2048xbf16>)
    -> tensor<?x7168xbf16> {
  %y = moe.layer %x router(%router) bias(%bias) gate_proj(%gate)
      up_proj(%up) down_proj(%down) shared_gate_proj(%shared_gate)
      shared_up_proj(%shared_up) shared_down_proj(%shared_down)
      top_k(8) score(sigmoid) normalize scale(2.5) n_group(8) topk_group(4)
      group_score(top2_sum) activation(silu_glu)
      : (tensor<?x7168xbf16>, tensor<256x7168xbf16>, tensor<256xf32>,
         tensor<256x2048x7168xbf16>, tensor<256x2048x7168xbf16>,
         tensor<256x7168x2048xbf16>, tensor<2048x7168xbf16>,
         tensor<2048x7168xbf16>, tensor<7168x2048xbf16>)
      -> tensor<?x7168xbf16>
  return %y : tensor<?x7168xbf16>
}
