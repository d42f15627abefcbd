// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s

// Round trips of every moe op and attribute variant: the custom form printed,
// parsed back and printed again, and the generic form parsed back into the
// same custom form. Attributes at their default value (score(softmax),
// scale(1.0), n_group(1), topk_group(1), group_score(top2_sum),
// mode(dropless), min_capacity(0), drop_policy(position), schedule(auto),
// and moe.peer's activation(relu) and score(softmax)) are not printed; the
// whole-line checks below verify that. #moe.target is in target.mlir.

// moe.topk

// CHECK-LABEL: func.func @topk_f32_i32_dynamic(
// CHECK: %{{.*}}, %{{.*}} = moe.topk %{{.*}} k(2) : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
func.func @topk_f32_i32_dynamic(%x: tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %v, %i = moe.topk %x k(2) : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %v, %i : tensor<?x2xf32>, tensor<?x2xi32>
}

// CHECK-LABEL: func.func @topk_bf16_i64(
// CHECK: %{{.*}}, %{{.*}} = moe.topk %{{.*}} k(3) : tensor<4x8xbf16> -> tensor<4x3xbf16>, tensor<4x3xi64>
func.func @topk_bf16_i64(%x: tensor<4x8xbf16>) -> (tensor<4x3xbf16>, tensor<4x3xi64>) {
  %v, %i = moe.topk %x k(3) : tensor<4x8xbf16> -> tensor<4x3xbf16>, tensor<4x3xi64>
  return %v, %i : tensor<4x3xbf16>, tensor<4x3xi64>
}

// CHECK-LABEL: func.func @topk_f16_rank1(
// CHECK: %{{.*}}, %{{.*}} = moe.topk %{{.*}} k(1) : tensor<8xf16> -> tensor<1xf16>, tensor<1xi32>
func.func @topk_f16_rank1(%x: tensor<8xf16>) -> (tensor<1xf16>, tensor<1xi32>) {
  %v, %i = moe.topk %x k(1) : tensor<8xf16> -> tensor<1xf16>, tensor<1xi32>
  return %v, %i : tensor<1xf16>, tensor<1xi32>
}

// CHECK-LABEL: func.func @topk_f64_rank3(
// CHECK: %{{.*}}, %{{.*}} = moe.topk %{{.*}} k(4) : tensor<2x?x8xf64> -> tensor<2x?x4xf64>, tensor<2x?x4xi64>
func.func @topk_f64_rank3(%x: tensor<2x?x8xf64>) -> (tensor<2x?x4xf64>, tensor<2x?x4xi64>) {
  %v, %i = moe.topk %x k(4) : tensor<2x?x8xf64> -> tensor<2x?x4xf64>, tensor<2x?x4xi64>
  return %v, %i : tensor<2x?x4xf64>, tensor<2x?x4xi64>
}

// CHECK-LABEL: func.func @topk_k_equals_last_dim(
// CHECK: %{{.*}}, %{{.*}} = moe.topk %{{.*}} k(4) : tensor<3x4xf32> -> tensor<3x4xf32>, tensor<3x4xi32>
func.func @topk_k_equals_last_dim(%x: tensor<3x4xf32>) -> (tensor<3x4xf32>, tensor<3x4xi32>) {
  %v, %i = moe.topk %x k(4) : tensor<3x4xf32> -> tensor<3x4xf32>, tensor<3x4xi32>
  return %v, %i : tensor<3x4xf32>, tensor<3x4xi32>
}

// CHECK-LABEL: func.func @topk_dynamic_last_dim(
// CHECK: %{{.*}}, %{{.*}} = moe.topk %{{.*}} k(5) : tensor<?x?xf32> -> tensor<?x5xf32>, tensor<?x?xi32>
func.func @topk_dynamic_last_dim(%x: tensor<?x?xf32>) -> (tensor<?x5xf32>, tensor<?x?xi32>) {
  %v, %i = moe.topk %x k(5) : tensor<?x?xf32> -> tensor<?x5xf32>, tensor<?x?xi32>
  return %v, %i : tensor<?x5xf32>, tensor<?x?xi32>
}

// moe.route

// CHECK-LABEL: func.func @route_default(
// CHECK: %{{.*}}, %{{.*}} = moe.route %{{.*}}, %{{.*}} top_k(2) : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
func.func @route_default(%x: tensor<?x16xf32>, %w: tensor<4x16xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %wt, %i = moe.route %x, %w top_k(2) : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  return %wt, %i : tensor<?x2xf32>, tensor<?x2xi32>
}

// CHECK-LABEL: func.func @route_softmax_explicit_defaults(
// CHECK: %{{.*}}, %{{.*}} = moe.route %{{.*}}, %{{.*}} top_k(2) : (tensor<6x16xf32>, tensor<4x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
func.func @route_softmax_explicit_defaults(%x: tensor<6x16xf32>, %w: tensor<4x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>) {
  %wt, %i = moe.route %x, %w top_k(2) score(softmax) scale(1.0) n_group(1) topk_group(1) group_score(top2_sum) : (tensor<6x16xf32>, tensor<4x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return %wt, %i : tensor<6x2xf32>, tensor<6x2xi32>
}

// CHECK-LABEL: func.func @route_softmax_normalize_scores(
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moe.route %{{.*}}, %{{.*}} top_k(2) normalize : (tensor<6x16xf32>, tensor<4x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>, tensor<6x4xf32>)
func.func @route_softmax_normalize_scores(%x: tensor<6x16xf32>, %w: tensor<4x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>, tensor<6x4xf32>) {
  %wt, %i, %s = moe.route %x, %w top_k(2) score(softmax) normalize : (tensor<6x16xf32>, tensor<4x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>, tensor<6x4xf32>)
  return %wt, %i, %s : tensor<6x2xf32>, tensor<6x2xi32>, tensor<6x4xf32>
}

// CHECK-LABEL: func.func @route_sigmoid_bias_groups(
// CHECK-SAME: %[[X:[a-zA-Z0-9_]+]]: tensor<?x16xbf16>, %[[W:[a-zA-Z0-9_]+]]: tensor<8x16xbf16>, %[[B:[a-zA-Z0-9_]+]]: tensor<8xf32>
// CHECK: %{{.*}}, %{{.*}} = moe.route %[[X]], %[[W]] bias(%[[B]]) top_k(4) score(sigmoid) normalize scale(2.500000e+00) n_group(4) topk_group(2) : (tensor<?x16xbf16>, tensor<8x16xbf16>, tensor<8xf32>) -> (tensor<?x4xf32>, tensor<?x4xi32>)
func.func @route_sigmoid_bias_groups(%x: tensor<?x16xbf16>, %w: tensor<8x16xbf16>, %b: tensor<8xf32>) -> (tensor<?x4xf32>, tensor<?x4xi32>) {
  %wt, %i = moe.route %x, %w bias(%b) top_k(4) score(sigmoid) normalize scale(2.5) n_group(4) topk_group(2) group_score(top2_sum) : (tensor<?x16xbf16>, tensor<8x16xbf16>, tensor<8xf32>) -> (tensor<?x4xf32>, tensor<?x4xi32>)
  return %wt, %i : tensor<?x4xf32>, tensor<?x4xi32>
}

// CHECK-LABEL: func.func @route_sigmoid_bias_scores(
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moe.route %{{.*}}, %{{.*}} bias(%{{.*}}) top_k(2) score(sigmoid) : (tensor<?x16xf16>, tensor<8x16xf16>, tensor<8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x8xf32>)
func.func @route_sigmoid_bias_scores(%x: tensor<?x16xf16>, %w: tensor<8x16xf16>, %b: tensor<8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x8xf32>) {
  %wt, %i, %s = moe.route %x, %w bias(%b) top_k(2) score(sigmoid) : (tensor<?x16xf16>, tensor<8x16xf16>, tensor<8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x8xf32>)
  return %wt, %i, %s : tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x8xf32>
}

// CHECK-LABEL: func.func @route_softmax_topk(
// CHECK: %{{.*}}, %{{.*}} = moe.route %{{.*}}, %{{.*}} top_k(1) score(softmax_topk) : (tensor<6x16xf32>, tensor<4x16xf32>) -> (tensor<6x1xf32>, tensor<6x1xi32>)
func.func @route_softmax_topk(%x: tensor<6x16xf32>, %w: tensor<4x16xf32>) -> (tensor<6x1xf32>, tensor<6x1xi32>) {
  %wt, %i = moe.route %x, %w top_k(1) score(softmax_topk) : (tensor<6x16xf32>, tensor<4x16xf32>) -> (tensor<6x1xf32>, tensor<6x1xi32>)
  return %wt, %i : tensor<6x1xf32>, tensor<6x1xi32>
}

// CHECK-LABEL: func.func @route_group_max_all_groups(
// CHECK: %{{.*}}, %{{.*}} = moe.route %{{.*}}, %{{.*}} top_k(2) n_group(8) topk_group(8) group_score(max) : (tensor<?x16xf32>, tensor<8x16xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
func.func @route_group_max_all_groups(%x: tensor<?x16xf32>, %w: tensor<8x16xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %wt, %i = moe.route %x, %w top_k(2) n_group(8) topk_group(8) group_score(max) : (tensor<?x16xf32>, tensor<8x16xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  return %wt, %i : tensor<?x2xf32>, tensor<?x2xi32>
}

// CHECK-LABEL: func.func @route_top_k_equals_num_experts(
// CHECK: %{{.*}}, %{{.*}} = moe.route %{{.*}}, %{{.*}} top_k(4) n_group(2) topk_group(2) : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x4xf32>, tensor<?x4xi32>)
func.func @route_top_k_equals_num_experts(%x: tensor<?x16xf32>, %w: tensor<4x16xf32>) -> (tensor<?x4xf32>, tensor<?x4xi32>) {
  %wt, %i = moe.route %x, %w top_k(4) n_group(2) topk_group(2) : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x4xf32>, tensor<?x4xi32>)
  return %wt, %i : tensor<?x4xf32>, tensor<?x4xi32>
}

// CHECK-LABEL: func.func @route_one_expert(
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moe.route %{{.*}}, %{{.*}} top_k(1) normalize : (tensor<3x16xf32>, tensor<1x16xf32>) -> (tensor<3x1xf32>, tensor<3x1xi32>, tensor<3x1xf32>)
func.func @route_one_expert(%x: tensor<3x16xf32>, %w: tensor<1x16xf32>) -> (tensor<3x1xf32>, tensor<3x1xi32>, tensor<3x1xf32>) {
  %wt, %i, %s = moe.route %x, %w top_k(1) normalize : (tensor<3x16xf32>, tensor<1x16xf32>) -> (tensor<3x1xf32>, tensor<3x1xi32>, tensor<3x1xf32>)
  return %wt, %i, %s : tensor<3x1xf32>, tensor<3x1xi32>, tensor<3x1xf32>
}

// CHECK-LABEL: func.func @route_all_dynamic(
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moe.route %{{.*}}, %{{.*}} bias(%{{.*}}) top_k(3) score(softmax_topk) n_group(4) topk_group(2) group_score(max) : (tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>) -> (tensor<?x?xf32>, tensor<?x?xi32>, tensor<?x?xf32>)
func.func @route_all_dynamic(%x: tensor<?x?xf32>, %w: tensor<?x?xf32>, %b: tensor<?xf32>) -> (tensor<?x?xf32>, tensor<?x?xi32>, tensor<?x?xf32>) {
  %wt, %i, %s = moe.route %x, %w bias(%b) top_k(3) score(softmax_topk) n_group(4) topk_group(2) group_score(max) : (tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>) -> (tensor<?x?xf32>, tensor<?x?xi32>, tensor<?x?xf32>)
  return %wt, %i, %s : tensor<?x?xf32>, tensor<?x?xi32>, tensor<?x?xf32>
}

// moe.dispatch

// CHECK-LABEL: func.func @dispatch_dropless_dynamic(
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moe.dispatch %{{.*}}, %{{.*}} num_experts(4) : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>)
func.func @dispatch_dropless_dynamic(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>) {
  %rows, %offsets, %row_of = moe.dispatch %x, %i num_experts(4) : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>)
  return %rows, %offsets, %row_of : tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>
}

// CHECK-LABEL: func.func @dispatch_dropless_static_i64(
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moe.dispatch %{{.*}}, %{{.*}} num_experts(4) : (tensor<6x16xbf16>, tensor<6x2xi64>) -> (tensor<12x16xbf16>, tensor<5xi32>, tensor<6x2xi32>)
func.func @dispatch_dropless_static_i64(%x: tensor<6x16xbf16>, %i: tensor<6x2xi64>) -> (tensor<12x16xbf16>, tensor<5xi32>, tensor<6x2xi32>) {
  %rows, %offsets, %row_of = moe.dispatch %x, %i num_experts(4) mode(dropless) : (tensor<6x16xbf16>, tensor<6x2xi64>) -> (tensor<12x16xbf16>, tensor<5xi32>, tensor<6x2xi32>)
  return %rows, %offsets, %row_of : tensor<12x16xbf16>, tensor<5xi32>, tensor<6x2xi32>
}

// CHECK-LABEL: func.func @dispatch_dropless_one_expert(
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moe.dispatch %{{.*}}, %{{.*}} num_experts(1) : (tensor<6x16xf16>, tensor<6x1xi32>) -> (tensor<6x16xf16>, tensor<2xi32>, tensor<6x1xi32>)
func.func @dispatch_dropless_one_expert(%x: tensor<6x16xf16>, %i: tensor<6x1xi32>) -> (tensor<6x16xf16>, tensor<2xi32>, tensor<6x1xi32>) {
  %rows, %offsets, %row_of = moe.dispatch %x, %i num_experts(1) : (tensor<6x16xf16>, tensor<6x1xi32>) -> (tensor<6x16xf16>, tensor<2xi32>, tensor<6x1xi32>)
  return %rows, %offsets, %row_of : tensor<6x16xf16>, tensor<2xi32>, tensor<6x1xi32>
}

// C = min(8, max(0, ceil(1.25 * 8 * 2 / 4))) = 5.
// CHECK-LABEL: func.func @dispatch_capacity_position(
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moe.dispatch %{{.*}}, %{{.*}} num_experts(4) mode(capacity) capacity_factor(1.250000e+00) : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<4x5x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
func.func @dispatch_capacity_position(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>) -> (tensor<4x5x16xf32>, tensor<4xi32>, tensor<8x2xi32>) {
  %buf, %counts, %slot = moe.dispatch %x, %i num_experts(4) mode(capacity) capacity_factor(1.25) drop_policy(position) : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<4x5x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
  return %buf, %counts, %slot : tensor<4x5x16xf32>, tensor<4xi32>, tensor<8x2xi32>
}

// C = min(8, max(6, ceil(0.5 * 8 * 2 / 4))) = 6.
// CHECK-LABEL: func.func @dispatch_capacity_score_min_capacity(
// CHECK-SAME: %[[X:[a-zA-Z0-9_]+]]: tensor<8x16xf32>, %[[I:[a-zA-Z0-9_]+]]: tensor<8x2xi64>, %[[W:[a-zA-Z0-9_]+]]: tensor<8x2xf32>
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moe.dispatch %[[X]], %[[I]] weights(%[[W]]) num_experts(4) mode(capacity) capacity_factor(5.000000e-01) min_capacity(6) drop_policy(score) : (tensor<8x16xf32>, tensor<8x2xi64>, tensor<8x2xf32>) -> (tensor<4x6x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
func.func @dispatch_capacity_score_min_capacity(%x: tensor<8x16xf32>, %i: tensor<8x2xi64>, %w: tensor<8x2xf32>) -> (tensor<4x6x16xf32>, tensor<4xi32>, tensor<8x2xi32>) {
  %buf, %counts, %slot = moe.dispatch %x, %i weights(%w) num_experts(4) mode(capacity) capacity_factor(0.5) min_capacity(6) drop_policy(score) : (tensor<8x16xf32>, tensor<8x2xi64>, tensor<8x2xf32>) -> (tensor<4x6x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
  return %buf, %counts, %slot : tensor<4x6x16xf32>, tensor<4xi32>, tensor<8x2xi32>
}

// C = min(4, max(0, ceil(4.0 * 4 * 2 / 2))) = 4: the capacity is clamped to T.
// CHECK-LABEL: func.func @dispatch_capacity_clamped_min_capacity_zero(
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moe.dispatch %{{.*}}, %{{.*}} num_experts(2) mode(capacity) capacity_factor(4.000000e+00) : (tensor<4x16xf32>, tensor<4x2xi32>) -> (tensor<2x4x16xf32>, tensor<2xi32>, tensor<4x2xi32>)
func.func @dispatch_capacity_clamped_min_capacity_zero(%x: tensor<4x16xf32>, %i: tensor<4x2xi32>) -> (tensor<2x4x16xf32>, tensor<2xi32>, tensor<4x2xi32>) {
  %buf, %counts, %slot = moe.dispatch %x, %i num_experts(2) mode(capacity) capacity_factor(4.0) min_capacity(0) : (tensor<4x16xf32>, tensor<4x2xi32>) -> (tensor<2x4x16xf32>, tensor<2xi32>, tensor<4x2xi32>)
  return %buf, %counts, %slot : tensor<2x4x16xf32>, tensor<2xi32>, tensor<4x2xi32>
}

// CHECK-LABEL: func.func @dispatch_capacity_dynamic(
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moe.dispatch %{{.*}}, %{{.*}} weights(%{{.*}}) num_experts(4) mode(capacity) capacity_factor(1.000000e+00) min_capacity(2) drop_policy(score) : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> (tensor<4x?x16xf32>, tensor<4xi32>, tensor<?x2xi32>)
func.func @dispatch_capacity_dynamic(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>, %w: tensor<?x2xf32>) -> (tensor<4x?x16xf32>, tensor<4xi32>, tensor<?x2xi32>) {
  %buf, %counts, %slot = moe.dispatch %x, %i weights(%w) num_experts(4) mode(capacity) capacity_factor(1.0) min_capacity(2) drop_policy(score) : (tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32>) -> (tensor<4x?x16xf32>, tensor<4xi32>, tensor<?x2xi32>)
  return %buf, %counts, %slot : tensor<4x?x16xf32>, tensor<4xi32>, tensor<?x2xi32>
}

// CHECK-LABEL: func.func @dispatch_all_dynamic(
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = moe.dispatch %{{.*}}, %{{.*}} num_experts(4) : (tensor<?x?xf32>, tensor<?x?xi32>) -> (tensor<?x?xf32>, tensor<?xi32>, tensor<?x?xi32>)
func.func @dispatch_all_dynamic(%x: tensor<?x?xf32>, %i: tensor<?x?xi32>) -> (tensor<?x?xf32>, tensor<?xi32>, tensor<?x?xi32>) {
  %rows, %offsets, %row_of = moe.dispatch %x, %i num_experts(4) : (tensor<?x?xf32>, tensor<?x?xi32>) -> (tensor<?x?xf32>, tensor<?xi32>, tensor<?x?xi32>)
  return %rows, %offsets, %row_of : tensor<?x?xf32>, tensor<?xi32>, tensor<?x?xi32>
}

// moe.experts

// CHECK-LABEL: func.func @experts_silu_glu_dropless(
// CHECK: %{{.*}} = moe.experts %{{.*}}, %{{.*}} gate_proj(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) activation(silu_glu) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
func.func @experts_silu_glu_dropless(%rows: tensor<?x16xf32>, %offsets: tensor<5xi32>, %wg: tensor<4x32x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) -> tensor<?x16xf32> {
  %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd) activation(silu_glu) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @experts_tiled(
// CHECK: moe.experts %{{.*}}, %{{.*}} gate_proj(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) activation(silu_glu) tiling(<kernel = auto, hidden_tile = 16, token_tile = 32, gemm_min_rows = 8>) :
// CHECK: moe.experts %{{.*}}, %{{.*}} up_proj(%{{.*}}) down_proj(%{{.*}}) activation(relu) tiling(<kernel = gemv, hidden_tile = 32, token_tile = 32>) :
func.func @experts_tiled(%rows: tensor<?x16xf32>, %offsets: tensor<5xi32>, %wg: tensor<4x32x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd) activation(silu_glu) tiling(#moe.expert_tiling<kernel = auto, hidden_tile = 16, token_tile = 32, gemm_min_rows = 8>) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
  %z = moe.experts %rows, %offsets up_proj(%wu) down_proj(%wd) activation(relu) tiling(#moe.expert_tiling<kernel = gemv, hidden_tile = 32, token_tile = 32>) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
  return %y, %z : tensor<?x16xf32>, tensor<?x16xf32>
}

// CHECK-LABEL: func.func @experts_gelu_glu_dropless(
// CHECK: %{{.*}} = moe.experts %{{.*}}, %{{.*}} gate_proj(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) activation(gelu_glu) : (tensor<12x16xf32>, tensor<5xi64>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<12x16xf32>
func.func @experts_gelu_glu_dropless(%rows: tensor<12x16xf32>, %offsets: tensor<5xi64>, %wg: tensor<4x32x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) -> tensor<12x16xf32> {
  %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd) activation(gelu_glu) : (tensor<12x16xf32>, tensor<5xi64>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<12x16xf32>
  return %y : tensor<12x16xf32>
}

// CHECK-LABEL: func.func @experts_relu_dropless(
// CHECK: %{{.*}} = moe.experts %{{.*}}, %{{.*}} up_proj(%{{.*}}) down_proj(%{{.*}}) activation(relu) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
func.func @experts_relu_dropless(%rows: tensor<?x16xf32>, %offsets: tensor<5xi32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) -> tensor<?x16xf32> {
  %y = moe.experts %rows, %offsets up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @experts_gelu_dropless(
// CHECK: %{{.*}} = moe.experts %{{.*}}, %{{.*}} up_proj(%{{.*}}) down_proj(%{{.*}}) activation(gelu) : (tensor<?x16xf16>, tensor<5xi32>, tensor<4x32x16xf16>, tensor<4x16x32xf16>) -> tensor<?x16xf16>
func.func @experts_gelu_dropless(%rows: tensor<?x16xf16>, %offsets: tensor<5xi32>, %wu: tensor<4x32x16xf16>, %wd: tensor<4x16x32xf16>) -> tensor<?x16xf16> {
  %y = moe.experts %rows, %offsets up_proj(%wu) down_proj(%wd) activation(gelu) : (tensor<?x16xf16>, tensor<5xi32>, tensor<4x32x16xf16>, tensor<4x16x32xf16>) -> tensor<?x16xf16>
  return %y : tensor<?x16xf16>
}

// CHECK-LABEL: func.func @experts_silu_dropless(
// CHECK: %{{.*}} = moe.experts %{{.*}}, %{{.*}} up_proj(%{{.*}}) down_proj(%{{.*}}) activation(silu) : (tensor<?x16xbf16>, tensor<5xi32>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<?x16xbf16>
func.func @experts_silu_dropless(%rows: tensor<?x16xbf16>, %offsets: tensor<5xi32>, %wu: tensor<4x32x16xbf16>, %wd: tensor<4x16x32xbf16>) -> tensor<?x16xbf16> {
  %y = moe.experts %rows, %offsets up_proj(%wu) down_proj(%wd) activation(silu) : (tensor<?x16xbf16>, tensor<5xi32>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<?x16xbf16>
  return %y : tensor<?x16xbf16>
}

// CHECK-LABEL: func.func @experts_bf16_weights_f32_rows(
// CHECK: %{{.*}} = moe.experts %{{.*}}, %{{.*}} gate_proj(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) activation(silu_glu) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x32x16xbf16>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<?x16xf32>
func.func @experts_bf16_weights_f32_rows(%rows: tensor<?x16xf32>, %offsets: tensor<5xi32>, %wg: tensor<4x32x16xbf16>, %wu: tensor<4x32x16xbf16>, %wd: tensor<4x16x32xbf16>) -> tensor<?x16xf32> {
  %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd) activation(silu_glu) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x32x16xbf16>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @experts_silu_glu_capacity(
// CHECK: %{{.*}} = moe.experts %{{.*}}, %{{.*}} gate_proj(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) activation(silu_glu) : (tensor<4x5x16xf32>, tensor<4xi32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<4x5x16xf32>
func.func @experts_silu_glu_capacity(%buf: tensor<4x5x16xf32>, %counts: tensor<4xi32>, %wg: tensor<4x32x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) -> tensor<4x5x16xf32> {
  %y = moe.experts %buf, %counts gate_proj(%wg) up_proj(%wu) down_proj(%wd) activation(silu_glu) : (tensor<4x5x16xf32>, tensor<4xi32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<4x5x16xf32>
  return %y : tensor<4x5x16xf32>
}

// CHECK-LABEL: func.func @experts_gelu_glu_capacity(
// CHECK: %{{.*}} = moe.experts %{{.*}}, %{{.*}} gate_proj(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) activation(gelu_glu) : (tensor<4x?x16xf32>, tensor<4xi64>, tensor<4x32x16xbf16>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<4x?x16xf32>
func.func @experts_gelu_glu_capacity(%buf: tensor<4x?x16xf32>, %counts: tensor<4xi64>, %wg: tensor<4x32x16xbf16>, %wu: tensor<4x32x16xbf16>, %wd: tensor<4x16x32xbf16>) -> tensor<4x?x16xf32> {
  %y = moe.experts %buf, %counts gate_proj(%wg) up_proj(%wu) down_proj(%wd) activation(gelu_glu) : (tensor<4x?x16xf32>, tensor<4xi64>, tensor<4x32x16xbf16>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<4x?x16xf32>
  return %y : tensor<4x?x16xf32>
}

// CHECK-LABEL: func.func @experts_relu_capacity(
// CHECK: %{{.*}} = moe.experts %{{.*}}, %{{.*}} up_proj(%{{.*}}) down_proj(%{{.*}}) activation(relu) : (tensor<4x5x16xf32>, tensor<4xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<4x5x16xf32>
func.func @experts_relu_capacity(%buf: tensor<4x5x16xf32>, %counts: tensor<4xi32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) -> tensor<4x5x16xf32> {
  %y = moe.experts %buf, %counts up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<4x5x16xf32>, tensor<4xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<4x5x16xf32>
  return %y : tensor<4x5x16xf32>
}

// CHECK-LABEL: func.func @experts_gelu_capacity(
// CHECK: %{{.*}} = moe.experts %{{.*}}, %{{.*}} up_proj(%{{.*}}) down_proj(%{{.*}}) activation(gelu) : (tensor<4x5x16xf32>, tensor<4xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<4x5x16xf32>
func.func @experts_gelu_capacity(%buf: tensor<4x5x16xf32>, %counts: tensor<4xi32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) -> tensor<4x5x16xf32> {
  %y = moe.experts %buf, %counts up_proj(%wu) down_proj(%wd) activation(gelu) : (tensor<4x5x16xf32>, tensor<4xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<4x5x16xf32>
  return %y : tensor<4x5x16xf32>
}

// CHECK-LABEL: func.func @experts_silu_capacity(
// CHECK: %{{.*}} = moe.experts %{{.*}}, %{{.*}} up_proj(%{{.*}}) down_proj(%{{.*}}) activation(silu) : (tensor<4x5x16xf32>, tensor<4xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<4x5x16xf32>
func.func @experts_silu_capacity(%buf: tensor<4x5x16xf32>, %counts: tensor<4xi32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) -> tensor<4x5x16xf32> {
  %y = moe.experts %buf, %counts up_proj(%wu) down_proj(%wd) activation(silu) : (tensor<4x5x16xf32>, tensor<4xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<4x5x16xf32>
  return %y : tensor<4x5x16xf32>
}

// CHECK-LABEL: func.func @experts_one_expert(
// CHECK: %{{.*}} = moe.experts %{{.*}}, %{{.*}} up_proj(%{{.*}}) down_proj(%{{.*}}) activation(relu) : (tensor<6x16xf32>, tensor<2xi32>, tensor<1x32x16xf32>, tensor<1x16x32xf32>) -> tensor<6x16xf32>
func.func @experts_one_expert(%rows: tensor<6x16xf32>, %offsets: tensor<2xi32>, %wu: tensor<1x32x16xf32>, %wd: tensor<1x16x32xf32>) -> tensor<6x16xf32> {
  %y = moe.experts %rows, %offsets up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<6x16xf32>, tensor<2xi32>, tensor<1x32x16xf32>, tensor<1x16x32xf32>) -> tensor<6x16xf32>
  return %y : tensor<6x16xf32>
}

// CHECK-LABEL: func.func @experts_all_dynamic(
// CHECK: %{{.*}} = moe.experts %{{.*}}, %{{.*}} gate_proj(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) activation(silu_glu) : (tensor<?x?xf32>, tensor<?xi32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?xf32>
func.func @experts_all_dynamic(%rows: tensor<?x?xf32>, %offsets: tensor<?xi32>, %wg: tensor<?x?x?xf32>, %wu: tensor<?x?x?xf32>, %wd: tensor<?x?x?xf32>) -> tensor<?x?xf32> {
  %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd) activation(silu_glu) : (tensor<?x?xf32>, tensor<?xi32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?xf32>
  return %y : tensor<?x?xf32>
}

// CHECK-LABEL: func.func @experts_capacity_all_dynamic(
// CHECK: %{{.*}} = moe.experts %{{.*}}, %{{.*}} up_proj(%{{.*}}) down_proj(%{{.*}}) activation(gelu) : (tensor<?x?x?xf32>, tensor<?xi32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
func.func @experts_capacity_all_dynamic(%buf: tensor<?x?x?xf32>, %counts: tensor<?xi32>, %wu: tensor<?x?x?xf32>, %wd: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  %y = moe.experts %buf, %counts up_proj(%wu) down_proj(%wd) activation(gelu) : (tensor<?x?x?xf32>, tensor<?xi32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return %y : tensor<?x?x?xf32>
}

// moe.combine

// CHECK-LABEL: func.func @combine_dropless(
// CHECK: %{{.*}} = moe.combine %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x16xf32>
func.func @combine_dropless(%rows: tensor<?x16xf32>, %w: tensor<?x2xf32>, %row_of: tensor<?x2xi32>) -> tensor<?x16xf32> {
  %y = moe.combine %rows, %w, %row_of : (tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @combine_dropless_static_bf16_i64(
// CHECK: %{{.*}} = moe.combine %{{.*}}, %{{.*}}, %{{.*}} : (tensor<12x16xbf16>, tensor<6x2xf32>, tensor<6x2xi64>) -> tensor<6x16xbf16>
func.func @combine_dropless_static_bf16_i64(%rows: tensor<12x16xbf16>, %w: tensor<6x2xf32>, %row_of: tensor<6x2xi64>) -> tensor<6x16xbf16> {
  %y = moe.combine %rows, %w, %row_of : (tensor<12x16xbf16>, tensor<6x2xf32>, tensor<6x2xi64>) -> tensor<6x16xbf16>
  return %y : tensor<6x16xbf16>
}

// CHECK-LABEL: func.func @combine_capacity(
// CHECK: %{{.*}} = moe.combine %{{.*}}, %{{.*}}, %{{.*}} : (tensor<4x5x16xf32>, tensor<8x2xf32>, tensor<8x2xi32>) -> tensor<8x16xf32>
func.func @combine_capacity(%buf: tensor<4x5x16xf32>, %w: tensor<8x2xf32>, %slot: tensor<8x2xi32>) -> tensor<8x16xf32> {
  %y = moe.combine %buf, %w, %slot : (tensor<4x5x16xf32>, tensor<8x2xf32>, tensor<8x2xi32>) -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}

// CHECK-LABEL: func.func @combine_capacity_dynamic(
// CHECK: %{{.*}} = moe.combine %{{.*}}, %{{.*}}, %{{.*}} : (tensor<4x?x16xf16>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x16xf16>
func.func @combine_capacity_dynamic(%buf: tensor<4x?x16xf16>, %w: tensor<?x2xf32>, %slot: tensor<?x2xi32>) -> tensor<?x16xf16> {
  %y = moe.combine %buf, %w, %slot : (tensor<4x?x16xf16>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x16xf16>
  return %y : tensor<?x16xf16>
}

// route + dispatch + experts + combine, and the losses on the router output.

// CHECK-LABEL: func.func @pipeline(
// CHECK-SAME: %[[X:[a-zA-Z0-9_]+]]: tensor<?x16xf32>, %[[WR:[a-zA-Z0-9_]+]]: tensor<4x16xf32>, %[[WG:[a-zA-Z0-9_]+]]: tensor<4x32x16xf32>, %[[WU:[a-zA-Z0-9_]+]]: tensor<4x32x16xf32>, %[[WD:[a-zA-Z0-9_]+]]: tensor<4x16x32xf32>
// CHECK: %[[W:.*]], %[[I:.*]], %[[S:.*]] = moe.route %[[X]], %[[WR]] top_k(2) normalize : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x4xf32>)
// CHECK: %[[ROWS:.*]], %[[OFF:.*]], %[[ROW_OF:.*]] = moe.dispatch %[[X]], %[[I]] num_experts(4) : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>)
// CHECK: %[[OUT:.*]] = moe.experts %[[ROWS]], %[[OFF]] gate_proj(%[[WG]]) up_proj(%[[WU]]) down_proj(%[[WD]]) activation(silu_glu) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
// CHECK: %[[Y:.*]] = moe.combine %[[OUT]], %[[W]], %[[ROW_OF]] : (tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x16xf32>
// CHECK: %[[LB:.*]] = moe.load_balancing_loss %[[S]], %[[I]] : (tensor<?x4xf32>, tensor<?x2xi32>) -> f32
// CHECK: %[[Z:.*]] = moe.router_z_loss %[[S]] : (tensor<?x4xf32>) -> f32
// CHECK: return %[[Y]], %[[LB]], %[[Z]]
func.func @pipeline(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wg: tensor<4x32x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) -> (tensor<?x16xf32>, f32, f32) {
  %w, %i, %s = moe.route %x, %wr top_k(2) normalize : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x4xf32>)
  %rows, %offsets, %row_of = moe.dispatch %x, %i num_experts(4) : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>)
  %out = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd) activation(silu_glu) : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
  %y = moe.combine %out, %w, %row_of : (tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x16xf32>
  %lb = moe.load_balancing_loss %s, %i : (tensor<?x4xf32>, tensor<?x2xi32>) -> f32
  %z = moe.router_z_loss %s : (tensor<?x4xf32>) -> f32
  return %y, %lb, %z : tensor<?x16xf32>, f32, f32
}

// moe.layer

// CHECK-LABEL: func.func @layer_minimal(
// CHECK: %{{.*}} = moe.layer %{{.*}} router(%{{.*}}) gate_proj(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) top_k(2) normalize activation(silu_glu) : (tensor<?x16xbf16>, tensor<4x16xbf16>, tensor<4x32x16xbf16>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<?x16xbf16>
func.func @layer_minimal(%x: tensor<?x16xbf16>, %wr: tensor<4x16xbf16>, %wg: tensor<4x32x16xbf16>, %wu: tensor<4x32x16xbf16>, %wd: tensor<4x16x32xbf16>) -> tensor<?x16xbf16> {
  %y = moe.layer %x router(%wr) gate_proj(%wg) up_proj(%wu) down_proj(%wd) top_k(2) score(softmax) normalize activation(silu_glu) : (tensor<?x16xbf16>, tensor<4x16xbf16>, tensor<4x32x16xbf16>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<?x16xbf16>
  return %y : tensor<?x16xbf16>
}

// CHECK-LABEL: func.func @layer_non_gated(
// CHECK: %{{.*}} = moe.layer %{{.*}} router(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) top_k(1) activation(relu) : (tensor<6x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<6x16xf32>
func.func @layer_non_gated(%x: tensor<6x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) -> tensor<6x16xf32> {
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(1) activation(relu) : (tensor<6x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<6x16xf32>
  return %y : tensor<6x16xf32>
}

// CHECK-LABEL: func.func @layer_deepseek_v3(
// CHECK: %{{.*}} = moe.layer %{{.*}} router(%{{.*}}) bias(%{{.*}}) gate_proj(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) shared_gate_proj(%{{.*}}) shared_up_proj(%{{.*}}) shared_down_proj(%{{.*}}) top_k(4) score(sigmoid) normalize scale(2.500000e+00) n_group(4) topk_group(2) activation(silu_glu) : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x32x16xf32>, tensor<8x32x16xf32>, tensor<8x16x32xf32>, tensor<64x16xf32>, tensor<64x16xf32>, tensor<16x64xf32>) -> tensor<?x16xf32>
func.func @layer_deepseek_v3(%x: tensor<?x16xf32>, %wr: tensor<8x16xf32>, %b: tensor<8xf32>, %wg: tensor<8x32x16xf32>, %wu: tensor<8x32x16xf32>, %wd: tensor<8x16x32xf32>, %sg: tensor<64x16xf32>, %su: tensor<64x16xf32>, %sd: tensor<16x64xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x router(%wr) bias(%b) gate_proj(%wg) up_proj(%wu) down_proj(%wd) shared_gate_proj(%sg) shared_up_proj(%su) shared_down_proj(%sd) top_k(4) score(sigmoid) normalize scale(2.5) n_group(4) topk_group(2) group_score(top2_sum) activation(silu_glu) : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x32x16xf32>, tensor<8x32x16xf32>, tensor<8x16x32xf32>, tensor<64x16xf32>, tensor<64x16xf32>, tensor<16x64xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @layer_qwen_shared_expert_gate(
// CHECK-SAME: %[[SG:[a-zA-Z0-9_]+]]: tensor<32x16xf32>, %[[SU:[a-zA-Z0-9_]+]]: tensor<32x16xf32>, %[[SD:[a-zA-Z0-9_]+]]: tensor<16x32xf32>, %[[SEG:[a-zA-Z0-9_]+]]: tensor<1x16xf32>
// CHECK: %{{.*}} = moe.layer %{{.*}} router(%{{.*}}) gate_proj(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) shared_gate_proj(%[[SG]]) shared_up_proj(%[[SU]]) shared_down_proj(%[[SD]]) shared_expert_gate(%[[SEG]]) top_k(2) activation(silu_glu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<1x16xf32>) -> tensor<?x16xf32>
func.func @layer_qwen_shared_expert_gate(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wg: tensor<4x32x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>, %sg: tensor<32x16xf32>, %su: tensor<32x16xf32>, %sd: tensor<16x32xf32>, %seg: tensor<1x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x router(%wr) gate_proj(%wg) up_proj(%wu) down_proj(%wd) shared_gate_proj(%sg) shared_up_proj(%su) shared_down_proj(%sd) shared_expert_gate(%seg) top_k(2) activation(silu_glu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<1x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @layer_shared_non_gated(
// CHECK: %{{.*}} = moe.layer %{{.*}} router(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) shared_up_proj(%{{.*}}) shared_down_proj(%{{.*}}) shared_expert_gate(%{{.*}}) top_k(2) score(softmax_topk) activation(gelu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<1x16xf32>) -> tensor<?x16xf32>
func.func @layer_shared_non_gated(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>, %su: tensor<32x16xf32>, %sd: tensor<16x32xf32>, %seg: tensor<1x16xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) shared_up_proj(%su) shared_down_proj(%sd) shared_expert_gate(%seg) top_k(2) score(softmax_topk) activation(gelu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<1x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @layer_capacity(
// CHECK: %{{.*}} = moe.layer %{{.*}} router(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) top_k(2) n_group(2) group_score(max) mode(capacity) capacity_factor(1.250000e+00) min_capacity(2) drop_policy(score) activation(silu) : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
func.func @layer_capacity(%x: tensor<8x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(2) n_group(2) topk_group(1) group_score(max) mode(capacity) capacity_factor(1.25) min_capacity(2) drop_policy(score) activation(silu) : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}

// CHECK-LABEL: func.func @layer_capacity_position(
// CHECK: %{{.*}} = moe.layer %{{.*}} router(%{{.*}}) gate_proj(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) top_k(2) mode(capacity) capacity_factor(2.000000e+00) activation(gelu_glu) : (tensor<?x16xf16>, tensor<4x16xf16>, tensor<4x32x16xf16>, tensor<4x32x16xf16>, tensor<4x16x32xf16>) -> tensor<?x16xf16>
func.func @layer_capacity_position(%x: tensor<?x16xf16>, %wr: tensor<4x16xf16>, %wg: tensor<4x32x16xf16>, %wu: tensor<4x32x16xf16>, %wd: tensor<4x16x32xf16>) -> tensor<?x16xf16> {
  %y = moe.layer %x router(%wr) gate_proj(%wg) up_proj(%wu) down_proj(%wd) top_k(2) mode(capacity) capacity_factor(2.0) activation(gelu_glu) : (tensor<?x16xf16>, tensor<4x16xf16>, tensor<4x32x16xf16>, tensor<4x32x16xf16>, tensor<4x16x32xf16>) -> tensor<?x16xf16>
  return %y : tensor<?x16xf16>
}

// CHECK-LABEL: func.func @layer_all_dynamic(
// CHECK: %{{.*}} = moe.layer %{{.*}} router(%{{.*}}) bias(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) shared_up_proj(%{{.*}}) shared_down_proj(%{{.*}}) top_k(8) n_group(8) topk_group(8) activation(relu) : (tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
func.func @layer_all_dynamic(%x: tensor<?x?xf32>, %wr: tensor<?x?xf32>, %b: tensor<?xf32>, %wu: tensor<?x?x?xf32>, %wd: tensor<?x?x?xf32>, %su: tensor<?x?xf32>, %sd: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %y = moe.layer %x router(%wr) bias(%b) up_proj(%wu) down_proj(%wd) shared_up_proj(%su) shared_down_proj(%sd) top_k(8) n_group(8) topk_group(8) activation(relu) : (tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  return %y : tensor<?x?xf32>
}

// CHECK-LABEL: func.func @layer_one_expert(
// CHECK: %{{.*}} = moe.layer %{{.*}} router(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) top_k(1) activation(gelu) : (tensor<?x16xf32>, tensor<1x16xf32>, tensor<1x32x16xf32>, tensor<1x16x32xf32>) -> tensor<?x16xf32>
func.func @layer_one_expert(%x: tensor<?x16xf32>, %wr: tensor<1x16xf32>, %wu: tensor<1x32x16xf32>, %wd: tensor<1x16x32xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(1) activation(gelu) : (tensor<?x16xf32>, tensor<1x16xf32>, tensor<1x32x16xf32>, tensor<1x16x32xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// moe.repeat / moe.yield

// CHECK-LABEL: func.func @repeat_linalg(
// CHECK-SAME: %[[X:[a-zA-Z0-9_]+]]: tensor<4x16xf32>, %[[W:[a-zA-Z0-9_]+]]: tensor<16x16xf32>
// CHECK: %[[Y:.*]] = moe.repeat 4 iter_args(%[[H:.*]] = %[[X]]) : tensor<4x16xf32> {
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[INIT:.*]] = tensor.empty() : tensor<4x16xf32>
// CHECK: %[[FILL:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[INIT]] : tensor<4x16xf32>) -> tensor<4x16xf32>
// CHECK: %[[MM:.*]] = linalg.matmul ins(%[[H]], %[[W]] : tensor<4x16xf32>, tensor<16x16xf32>) outs(%[[FILL]] : tensor<4x16xf32>) -> tensor<4x16xf32>
// CHECK: %[[NEXT:.*]] = arith.addf %[[MM]], %[[H]] : tensor<4x16xf32>
// CHECK: moe.yield %[[NEXT]] : tensor<4x16xf32>
// CHECK-NEXT: }
// CHECK: return %[[Y]]
func.func @repeat_linalg(%x: tensor<4x16xf32>, %w: tensor<16x16xf32>) -> tensor<4x16xf32> {
  %y = moe.repeat 4 iter_args(%h = %x) : tensor<4x16xf32> {
    %zero = arith.constant 0.0 : f32
    %init = tensor.empty() : tensor<4x16xf32>
    %fill = linalg.fill ins(%zero : f32) outs(%init : tensor<4x16xf32>) -> tensor<4x16xf32>
    %mm = linalg.matmul ins(%h, %w : tensor<4x16xf32>, tensor<16x16xf32>) outs(%fill : tensor<4x16xf32>) -> tensor<4x16xf32>
    %next = arith.addf %mm, %h : tensor<4x16xf32>
    moe.yield %next : tensor<4x16xf32>
  }
  return %y : tensor<4x16xf32>
}

// CHECK-LABEL: func.func @repeat_explicit_auto_once(
// CHECK-SAME: %[[X:[a-zA-Z0-9_]+]]: tensor<?x16xf32>
// CHECK: %{{.*}} = moe.repeat 1 iter_args(%[[H:.*]] = %[[X]]) : tensor<?x16xf32> {
// CHECK-NEXT: moe.yield %[[H]] : tensor<?x16xf32>
// CHECK-NEXT: }
func.func @repeat_explicit_auto_once(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %y = moe.repeat 1 schedule(auto) iter_args(%h = %x) : tensor<?x16xf32> {
    moe.yield %h : tensor<?x16xf32>
  }
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @repeat_unroll_several(
// CHECK-SAME: %[[X:[a-zA-Z0-9_]+]]: tensor<?x16xf32>, %[[C:[a-zA-Z0-9_]+]]: tensor<?x16xf32>, %[[N:[a-zA-Z0-9_]+]]: i32
// CHECK: %[[Y:.*]]:3 = moe.repeat 3 schedule(unroll) iter_args(%[[H:.*]] = %[[X]], %[[ACC:.*]] = %[[C]], %[[I:.*]] = %[[N]]) : tensor<?x16xf32>, tensor<?x16xf32>, i32 {
// CHECK: %[[SUM:.*]] = arith.addf %[[ACC]], %[[H]] : tensor<?x16xf32>
// CHECK: %[[ONE:.*]] = arith.constant 1 : i32
// CHECK: %[[NEXT:.*]] = arith.addi %[[I]], %[[ONE]] : i32
// CHECK: moe.yield %[[H]], %[[SUM]], %[[NEXT]] : tensor<?x16xf32>, tensor<?x16xf32>, i32
// CHECK-NEXT: }
// CHECK: return %[[Y]]#0, %[[Y]]#1, %[[Y]]#2
func.func @repeat_unroll_several(%x: tensor<?x16xf32>, %c: tensor<?x16xf32>, %n: i32) -> (tensor<?x16xf32>, tensor<?x16xf32>, i32) {
  %y:3 = moe.repeat 3 schedule(unroll) iter_args(%h = %x, %acc = %c, %i = %n) : tensor<?x16xf32>, tensor<?x16xf32>, i32 {
    %sum = arith.addf %acc, %h : tensor<?x16xf32>
    %one = arith.constant 1 : i32
    %next = arith.addi %i, %one : i32
    moe.yield %h, %sum, %next : tensor<?x16xf32>, tensor<?x16xf32>, i32
  }
  return %y#0, %y#1, %y#2 : tensor<?x16xf32>, tensor<?x16xf32>, i32
}

// CHECK-LABEL: func.func @repeat_resident_moe_body(
// CHECK-SAME: %[[X:[a-zA-Z0-9_]+]]: tensor<?x16xf32>, %[[WR:[a-zA-Z0-9_]+]]: tensor<4x16xf32>
// CHECK: %{{.*}} = moe.repeat 6 schedule(resident) iter_args(%[[H:.*]] = %[[X]]) : tensor<?x16xf32> {
// CHECK: %[[FFN:.*]] = moe.layer %[[H]] router(%[[WR]]) gate_proj(%{{.*}}) up_proj(%{{.*}}) down_proj(%{{.*}}) top_k(2) normalize activation(silu_glu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
// CHECK: %[[NEXT:.*]] = arith.addf %[[H]], %[[FFN]] : tensor<?x16xf32>
// CHECK: moe.yield %[[NEXT]] : tensor<?x16xf32>
// CHECK-NEXT: }
func.func @repeat_resident_moe_body(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wg: tensor<4x32x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) -> tensor<?x16xf32> {
  %y = moe.repeat 6 schedule(resident) iter_args(%h = %x) : tensor<?x16xf32> {
    %ffn = moe.layer %h router(%wr) gate_proj(%wg) up_proj(%wu) down_proj(%wd) top_k(2) normalize activation(silu_glu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
    %next = arith.addf %h, %ffn : tensor<?x16xf32>
    moe.yield %next : tensor<?x16xf32>
  }
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @repeat_nested(
// CHECK-SAME: %[[X:[a-zA-Z0-9_]+]]: tensor<?x16xf32>, %[[W:[a-zA-Z0-9_]+]]: tensor<16x16xf32>
// CHECK: %[[Y:.*]] = moe.repeat 2 iter_args(%[[OUTER:.*]] = %[[X]]) : tensor<?x16xf32> {
// CHECK: %[[INNER:.*]] = moe.repeat 3 schedule(unroll) iter_args(%[[H:.*]] = %[[OUTER]]) : tensor<?x16xf32> {
// CHECK: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %[[T:.*]] = tensor.dim %[[H]], %[[C0]] : tensor<?x16xf32>
// CHECK: %[[INIT:.*]] = tensor.empty(%[[T]]) : tensor<?x16xf32>
// CHECK: %[[MM:.*]] = linalg.matmul ins(%[[H]], %[[W]] : tensor<?x16xf32>, tensor<16x16xf32>) outs(%[[INIT]] : tensor<?x16xf32>) -> tensor<?x16xf32>
// CHECK: moe.yield %[[MM]] : tensor<?x16xf32>
// CHECK-NEXT: }
// CHECK-NEXT: moe.yield %[[INNER]] : tensor<?x16xf32>
// CHECK-NEXT: }
// CHECK: return %[[Y]]
func.func @repeat_nested(%x: tensor<?x16xf32>, %wa: tensor<16x16xf32>) -> tensor<?x16xf32> {
  %y = moe.repeat 2 iter_args(%outer = %x) : tensor<?x16xf32> {
    %inner = moe.repeat 3 schedule(unroll) iter_args(%h = %outer) : tensor<?x16xf32> {
      %c0 = arith.constant 0 : index
      %t = tensor.dim %h, %c0 : tensor<?x16xf32>
      %init = tensor.empty(%t) : tensor<?x16xf32>
      %mm = linalg.matmul ins(%h, %wa : tensor<?x16xf32>, tensor<16x16xf32>) outs(%init : tensor<?x16xf32>) -> tensor<?x16xf32>
      moe.yield %mm : tensor<?x16xf32>
    }
    moe.yield %inner : tensor<?x16xf32>
  }
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @repeat_with_attributes(
// CHECK: %{{.*}} = moe.repeat 2 iter_args(%[[H:.*]] = %{{.*}}) : tensor<4x16xf32> attributes {moe.tag = "block"} {
// CHECK-NEXT: moe.yield %[[H]] : tensor<4x16xf32>
func.func @repeat_with_attributes(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %y = moe.repeat 2 iter_args(%h = %x) : tensor<4x16xf32> attributes {moe.tag = "block"} {
    moe.yield %h : tensor<4x16xf32>
  }
  return %y : tensor<4x16xf32>
}

// moe.peer

// CHECK-LABEL: func.func @peer_per_head_keys(
// CHECK: %{{.*}} = moe.peer %{{.*}} query(%{{.*}}) keys(%{{.*}}) down_embed(%{{.*}}) up_embed(%{{.*}}) heads(2) top_k(2) : (tensor<?x16xf32>, tensor<16x16xf32>, tensor<2x2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
func.func @peer_per_head_keys(%x: tensor<?x16xf32>, %wq: tensor<16x16xf32>, %keys: tensor<2x2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) -> tensor<?x16xf32> {
  %y = moe.peer %x query(%wq) keys(%keys) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<?x16xf32>, tensor<16x16xf32>, tensor<2x2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @peer_shared_keys_bias_gelu_relu(
// CHECK-SAME: %[[X:[a-zA-Z0-9_]+]]: tensor<6x16xf32>, %[[WQ:[a-zA-Z0-9_]+]]: tensor<16x16xf32>, %[[BQ:[a-zA-Z0-9_]+]]: tensor<16xf32>, %[[K:[a-zA-Z0-9_]+]]: tensor<2x4x4xf32>, %[[U:[a-zA-Z0-9_]+]]: tensor<16x16xf32>, %[[V:[a-zA-Z0-9_]+]]: tensor<16x16xf32>
// CHECK: %{{.*}} = moe.peer %[[X]] query(%[[WQ]], %[[BQ]]) keys(%[[K]]) down_embed(%[[U]]) up_embed(%[[V]]) heads(2) top_k(4) activation(gelu) score(relu) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<16xf32>, tensor<2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
func.func @peer_shared_keys_bias_gelu_relu(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %bq: tensor<16xf32>, %keys: tensor<2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) -> tensor<6x16xf32> {
  %y = moe.peer %x query(%wq, %bq) keys(%keys) down_embed(%u) up_embed(%v) heads(2) top_k(4) activation(gelu) score(relu) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<16xf32>, tensor<2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return %y : tensor<6x16xf32>
}

// CHECK-LABEL: func.func @peer_explicit_defaults_bf16(
// CHECK: %{{.*}} = moe.peer %{{.*}} query(%{{.*}}) keys(%{{.*}}) down_embed(%{{.*}}) up_embed(%{{.*}}) heads(1) top_k(1) : (tensor<?x16xbf16>, tensor<8x16xbf16>, tensor<1x2x3x4xbf16>, tensor<9x16xbf16>, tensor<9x16xbf16>) -> tensor<?x16xbf16>
func.func @peer_explicit_defaults_bf16(%x: tensor<?x16xbf16>, %wq: tensor<8x16xbf16>, %keys: tensor<1x2x3x4xbf16>, %u: tensor<9x16xbf16>, %v: tensor<9x16xbf16>) -> tensor<?x16xbf16> {
  %y = moe.peer %x query(%wq) keys(%keys) down_embed(%u) up_embed(%v) heads(1) top_k(1) activation(relu) score(softmax) : (tensor<?x16xbf16>, tensor<8x16xbf16>, tensor<1x2x3x4xbf16>, tensor<9x16xbf16>, tensor<9x16xbf16>) -> tensor<?x16xbf16>
  return %y : tensor<?x16xbf16>
}

// CHECK-LABEL: func.func @peer_all_dynamic(
// CHECK: %{{.*}} = moe.peer %{{.*}} query(%{{.*}}, %{{.*}}) keys(%{{.*}}) down_embed(%{{.*}}) up_embed(%{{.*}}) heads(4) top_k(8) score(relu) : (tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>, tensor<?x?x?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
func.func @peer_all_dynamic(%x: tensor<?x?xf32>, %wq: tensor<?x?xf32>, %bq: tensor<?xf32>, %keys: tensor<?x?x?x?xf32>, %u: tensor<?x?xf32>, %v: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %y = moe.peer %x query(%wq, %bq) keys(%keys) down_embed(%u) up_embed(%v) heads(4) top_k(8) score(relu) : (tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>, tensor<?x?x?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  return %y : tensor<?x?xf32>
}

// Auxiliary losses

// CHECK-LABEL: func.func @load_balancing_loss(
// CHECK: %{{.*}} = moe.load_balancing_loss %{{.*}}, %{{.*}} : (tensor<6x4xf32>, tensor<6x2xi32>) -> f32
// CHECK: %{{.*}} = moe.load_balancing_loss %{{.*}}, %{{.*}} : (tensor<?x?xf32>, tensor<?x2xi64>) -> f32
func.func @load_balancing_loss(%s: tensor<6x4xf32>, %i: tensor<6x2xi32>, %sd: tensor<?x?xf32>, %id: tensor<?x2xi64>) -> (f32, f32) {
  %a = moe.load_balancing_loss %s, %i : (tensor<6x4xf32>, tensor<6x2xi32>) -> f32
  %b = moe.load_balancing_loss %sd, %id : (tensor<?x?xf32>, tensor<?x2xi64>) -> f32
  return %a, %b : f32, f32
}

// CHECK-LABEL: func.func @load_balancing_loss_top_k_equals_num_experts(
// CHECK: %{{.*}} = moe.load_balancing_loss %{{.*}}, %{{.*}} : (tensor<?x4xf32>, tensor<?x4xi32>) -> f32
func.func @load_balancing_loss_top_k_equals_num_experts(%s: tensor<?x4xf32>, %i: tensor<?x4xi32>) -> f32 {
  %a = moe.load_balancing_loss %s, %i : (tensor<?x4xf32>, tensor<?x4xi32>) -> f32
  return %a : f32
}

// CHECK-LABEL: func.func @router_z_loss(
// CHECK: %{{.*}} = moe.router_z_loss %{{.*}} : (tensor<6x4xf32>) -> f32
// CHECK: %{{.*}} = moe.router_z_loss %{{.*}} : (tensor<?x?xf32>) -> f32
func.func @router_z_loss(%l: tensor<6x4xf32>, %ld: tensor<?x?xf32>) -> (f32, f32) {
  %a = moe.router_z_loss %l : (tensor<6x4xf32>) -> f32
  %b = moe.router_z_loss %ld : (tensor<?x?xf32>) -> f32
  return %a, %b : f32, f32
}
