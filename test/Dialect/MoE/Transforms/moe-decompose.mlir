// RUN: moe-opt %s --moe-decompose --split-input-file | FileCheck %s --enable-var-scope

// A Mixtral-style layer: route (softmax, renormalized top-2), dropless
// dispatch, SwiGLU experts, combine. The routing attributes carry over.

// CHECK-LABEL: func.func @mixtral_style
// CHECK-SAME: (%[[X:.+]]: tensor<?x64xf32>, %[[WR:.+]]: tensor<8x64xf32>, %[[WG:.+]]: tensor<8x128x64xf32>, %[[WU:.+]]: tensor<8x128x64xf32>, %[[WD:.+]]: tensor<8x64x128xf32>)
// CHECK-NOT: moe.layer
// CHECK: %[[W:.+]], %[[I:.+]] = moe.route %[[X]], %[[WR]] top_k(2) normalize
// CHECK-SAME: -> (tensor<?x2xf32>, tensor<?x2xi32>)
// CHECK: %[[ROWS:.+]], %[[OFFSETS:.+]], %[[ROW_OF:.+]] = moe.dispatch %[[X]], %[[I]] num_experts(8)
// CHECK-SAME: -> (tensor<?x64xf32>, tensor<9xi32>, tensor<?x2xi32>)
// CHECK: %[[OUT:.+]] = moe.experts %[[ROWS]], %[[OFFSETS]] gate_proj(%[[WG]]) up_proj(%[[WU]]) down_proj(%[[WD]]) activation(silu_glu)
// CHECK: %[[Y:.+]] = moe.combine %[[OUT]], %[[W]], %[[ROW_OF]]
// CHECK: return %[[Y]]
func.func @mixtral_style(%x: tensor<?x64xf32>, %wr: tensor<8x64xf32>,
    %wg: tensor<8x128x64xf32>, %wu: tensor<8x128x64xf32>,
    %wd: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x router(%wr) gate_proj(%wg) up_proj(%wu) down_proj(%wd)
      top_k(2) normalize activation(silu_glu)
      : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
         tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// DeepSeek-V3-style routing: sigmoid, selection bias, groups, scale; one
// shared expert added to the routed output.

// CHECK-LABEL: func.func @deepseek_style
// CHECK-SAME: (%[[X:.+]]: tensor<4x64xbf16>, %[[WR:.+]]: tensor<16x64xbf16>, %[[B:.+]]: tensor<16xf32>, %[[WG:.+]]: tensor<16x32x64xbf16>, %[[WU:.+]]: tensor<16x32x64xbf16>, %[[WD:.+]]: tensor<16x64x32xbf16>, %[[SG:.+]]: tensor<32x64xbf16>, %[[SU:.+]]: tensor<32x64xbf16>, %[[SD:.+]]: tensor<64x32xbf16>)
// CHECK: %[[W:.+]], %[[I:.+]] = moe.route %[[X]], %[[WR]] bias(%[[B]]) top_k(4) score(sigmoid) normalize scale(2.500000e+00) n_group(4) topk_group(2)
// CHECK: moe.dispatch %[[X]], %[[I]] num_experts(16)
// CHECK-SAME: -> (tensor<16x64xbf16>, tensor<17xi32>, tensor<4x4xi32>)
// CHECK: %[[ROUTED:.+]] = moe.combine
// The shared FFN: a moe.experts with one expert that all 4 tokens go to
// (segments [0, 4]), the [out, in] weights viewed as one expert's.
// CHECK: %[[SGE:.+]] = tensor.expand_shape %[[SG]] {{\[\[}}0, 1], [2]] output_shape [1, 32, 64] : tensor<32x64xbf16> into tensor<1x32x64xbf16>
// CHECK: %[[SUE:.+]] = tensor.expand_shape %[[SU]] {{\[\[}}0, 1], [2]] output_shape [1, 32, 64]
// CHECK: %[[SDE:.+]] = tensor.expand_shape %[[SD]] {{\[\[}}0, 1], [2]] output_shape [1, 64, 32] : tensor<64x32xbf16> into tensor<1x64x32xbf16>
// CHECK: %[[SHARED:.+]] = moe.experts %[[X]], %[[SEGMENTS:.+]] gate_proj(%[[SGE]]) up_proj(%[[SUE]]) down_proj(%[[SDE]]) activation(silu_glu) : (tensor<4x64xbf16>, tensor<2xi32>
// CHECK: %[[SUM:.+]] = linalg.generic {{.*}} ins(%[[ROUTED]], %[[SHARED]] : tensor<4x64xbf16>, tensor<4x64xbf16>) outs(%{{.+}} : tensor<4x64xbf16>)
// CHECK: arith.extf
// CHECK: arith.extf
// CHECK: arith.addf
// CHECK: arith.truncf
// CHECK: return %[[SUM]]
func.func @deepseek_style(%x: tensor<4x64xbf16>, %wr: tensor<16x64xbf16>,
    %b: tensor<16xf32>, %wg: tensor<16x32x64xbf16>,
    %wu: tensor<16x32x64xbf16>, %wd: tensor<16x64x32xbf16>,
    %sg: tensor<32x64xbf16>, %su: tensor<32x64xbf16>,
    %sd: tensor<64x32xbf16>) -> tensor<4x64xbf16> {
  %y = moe.layer %x router(%wr) bias(%b) gate_proj(%wg) up_proj(%wu)
      down_proj(%wd) shared_gate_proj(%sg) shared_up_proj(%su)
      shared_down_proj(%sd) top_k(4) score(sigmoid) normalize scale(2.5)
      n_group(4) topk_group(2) group_score(top2_sum) activation(silu_glu)
      : (tensor<4x64xbf16>, tensor<16x64xbf16>, tensor<16xf32>,
         tensor<16x32x64xbf16>, tensor<16x32x64xbf16>, tensor<16x64x32xbf16>,
         tensor<32x64xbf16>, tensor<32x64xbf16>, tensor<64x32xbf16>)
      -> tensor<4x64xbf16>
  return %y : tensor<4x64xbf16>
}

// -----

// Qwen-MoE style: a non-gated shared FFN scaled by sigmoid(x · w_sgᵀ), and a
// capacity dispatch that drops by score (so the dispatch reads the weights).

// CHECK-LABEL: func.func @qwen_style_capacity
// CHECK-SAME: (%[[X:.+]]: tensor<?x64xf32>, %[[WR:.+]]: tensor<8x64xf32>, %[[WU:.+]]: tensor<8x128x64xf32>, %[[WD:.+]]: tensor<8x64x128xf32>, %[[SU:.+]]: tensor<256x64xf32>, %[[SD:.+]]: tensor<64x256xf32>, %[[SEG:.+]]: tensor<1x64xf32>)
// CHECK: %[[W:.+]], %[[I:.+]] = moe.route %[[X]], %[[WR]] top_k(2) :
// CHECK: %[[BUF:.+]], %[[COUNTS:.+]], %[[SLOT:.+]] = moe.dispatch %[[X]], %[[I]] weights(%[[W]]) num_experts(8) mode(capacity) capacity_factor(1.250000e+00) min_capacity(2) drop_policy(score)
// CHECK-SAME: -> (tensor<8x?x64xf32>, tensor<8xi32>, tensor<?x2xi32>)
// CHECK: moe.experts %[[BUF]], %[[COUNTS]] up_proj(%[[WU]]) down_proj(%[[WD]]) activation(gelu)
// CHECK: %[[T:.+]] = tensor.dim %[[X]], %c0
// CHECK: %[[T32:.+]] = arith.index_cast %[[T]] : index to i32
// CHECK: %[[SEGMENTS:.+]] = tensor.from_elements %{{.+}}, %[[T32]] : tensor<2xi32>
// CHECK: %[[SUE:.+]] = tensor.expand_shape %[[SU]]
// CHECK: %[[SDE:.+]] = tensor.expand_shape %[[SD]]
// CHECK: moe.experts %[[X]], %[[SEGMENTS]] up_proj(%[[SUE]]) down_proj(%[[SDE]]) activation(gelu)
// CHECK: %[[LOGIT:.+]] = linalg.matmul {{.*}}ins(%[[X]], %[[SEG]] : tensor<?x64xf32>, tensor<1x64xf32>) outs(%{{.+}} : tensor<?x1xf32>)
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[BCAST:.+]], #{{.+}}]{{.*}} ins(%{{.+}}, %[[LOGIT]] : tensor<?x64xf32>, tensor<?x1xf32>)
// CHECK-NOT: moe.layer
func.func @qwen_style_capacity(%x: tensor<?x64xf32>, %wr: tensor<8x64xf32>,
    %wu: tensor<8x128x64xf32>, %wd: tensor<8x64x128xf32>,
    %su: tensor<256x64xf32>, %sd: tensor<64x256xf32>,
    %seg: tensor<1x64xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd)
      shared_up_proj(%su) shared_down_proj(%sd) shared_expert_gate(%seg)
      top_k(2) mode(capacity) capacity_factor(1.25) min_capacity(2)
      drop_policy(score) activation(gelu)
      : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
         tensor<8x64x128xf32>, tensor<256x64xf32>, tensor<64x256xf32>,
         tensor<1x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Layers inside a moe.repeat body are decomposed too; the repeat stays.

// CHECK-LABEL: func.func @inside_repeat
// CHECK: moe.repeat 2 iter_args(%[[H:.+]] = %{{.+}}) : tensor<?x64xf32>
// CHECK: moe.route %[[H]]
// CHECK: moe.dispatch
// CHECK: moe.experts
// CHECK: %[[Y:.+]] = moe.combine
// CHECK: moe.yield %[[Y]] : tensor<?x64xf32>
func.func @inside_repeat(%x: tensor<?x64xf32>, %wr: tensor<8x64xf32>,
    %wu: tensor<8x128x64xf32>, %wd: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %r = moe.repeat 2 iter_args(%h = %x) : tensor<?x64xf32> {
    %y = moe.layer %h router(%wr) up_proj(%wu) down_proj(%wd) top_k(1)
        activation(relu)
        : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
           tensor<8x64x128xf32>) -> tensor<?x64xf32>
    moe.yield %y : tensor<?x64xf32>
  }
  return %r : tensor<?x64xf32>
}
