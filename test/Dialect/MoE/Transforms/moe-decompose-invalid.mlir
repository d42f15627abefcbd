// RUN: moe-opt %s --moe-decompose -split-input-file -verify-diagnostics

// The number of experts sets the dispatch's offsets; without it the layer
// cannot be expanded, and the pass says so instead of leaving it behind.
func.func @dynamic_experts(%x: tensor<?x64xf32>, %wr: tensor<?x64xf32>,
    %wu: tensor<?x128x64xf32>, %wd: tensor<?x64x128xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{moe-decompose could not expand this moe.layer: it needs a static number of experts}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(2)
      activation(relu)
      : (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x128x64xf32>,
         tensor<?x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
