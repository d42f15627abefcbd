// A PEER layer ("Mixture of A Million Experts", He 2024) with 1024^2
// single-neuron experts.
//
// Shapes: D 1024, N = 1024 * 1024 = 1048576 experts (n = 1024 sub-keys per
// half), 8 heads, top 16 experts per head, query width per head Dk 256.
// Query projection 2048x1024 (its batch-norm folded in), product sub-keys
// 8x2x1024x128 (per head, per query half), expert down and up embeddings
// 1048576x1024 each; ReLU experts, softmax over the selected scores. f32.
//
// moe-opt peer-1m.mlir --moe-param-report gives 2.15B stored; per token the
// query projection, all sub-keys and 8 * 16 = 128 experts (two rows each)
// are active:
//   total       2.15B      4.46M     0.002

func.func @peer_layer(%x: tensor<?x1024xf32>,
                      %query: tensor<2048x1024xf32>,
                      %keys: tensor<8x2x1024x128xf32>,
                      %down_embed: tensor<1048576x1024xf32>,
                      %up_embed: tensor<1048576x1024xf32>)
    -> tensor<?x1024xf32> {
  %y = moe.peer %x query(%query) keys(%keys) down_embed(%down_embed)
      up_embed(%up_embed) heads(8) top_k(16) activation(relu) score(softmax)
      : (tensor<?x1024xf32>, tensor<2048x1024xf32>, tensor<8x2x1024x128xf32>,
         tensor<1048576x1024xf32>, tensor<1048576x1024xf32>)
      -> tensor<?x1024xf32>
  return %y : tensor<?x1024xf32>
}
