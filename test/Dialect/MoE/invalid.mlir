// RUN: moe-opt %s -split-input-file -verify-diagnostics -allow-unregistered-dialect

// Every verifier rule of the moe dialect (lib/Dialect/MoE/IR/MoEOps.cpp and
// MoEDialect.cpp), the moe.repeat and enum-keyword parser errors, and the
// type constraints ODS generates. The boundary cases at the end must be
// accepted. (-allow-unregistered-dialect is only for the one case whose
// moe.repeat body ends in a terminator other than moe.yield.)

//===----------------------------------------------------------------------===//
// moe.topk
//===----------------------------------------------------------------------===//

func.func @topk_rank0(%x: tensor<f32>) {
  // expected-error @+1 {{expects an input of rank >= 1, but found a rank-0 tensor}}
  %v, %i = moe.topk %x k(1) : tensor<f32> -> tensor<f32>, tensor<i32>
  return
}

// -----

func.func @topk_k_zero(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{expects k >= 1, but found 0}}
  %v, %i = moe.topk %x k(0) : tensor<4x8xf32> -> tensor<4x0xf32>, tensor<4x0xi32>
  return
}

// -----

func.func @topk_k_negative(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{expects k >= 1, but found -2}}
  %v, %i = moe.topk %x k(-2) : tensor<?x8xf32> -> tensor<?x?xf32>, tensor<?x?xi32>
  return
}

// -----

func.func @topk_k_too_large(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{expects k (9) <= the size of the last dimension (8)}}
  %v, %i = moe.topk %x k(9) : tensor<4x8xf32> -> tensor<4x9xf32>, tensor<4x9xi32>
  return
}

// -----

func.func @topk_values_element_type(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{expects values of the input element type 'f32', but found 'bf16'}}
  %v, %i = moe.topk %x k(2) : tensor<4x8xf32> -> tensor<4x2xbf16>, tensor<4x2xi32>
  return
}

// -----

func.func @topk_values_shape(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{expects values of shape [4, 2], but found [4, 3]}}
  %v, %i = moe.topk %x k(2) : tensor<4x8xf32> -> tensor<4x3xf32>, tensor<4x2xi32>
  return
}

// -----

func.func @topk_values_rank(%x: tensor<2x4x8xf32>) {
  // expected-error @+1 {{expects values of shape [2, 4, 2], but found [8, 2]}}
  %v, %i = moe.topk %x k(2) : tensor<2x4x8xf32> -> tensor<8x2xf32>, tensor<2x4x2xi32>
  return
}

// -----

func.func @topk_indices_shape(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{expects indices of shape [?, 2], but found [?, 1]}}
  %v, %i = moe.topk %x k(2) : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x1xi32>
  return
}

// -----

func.func @topk_float_indices(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{result #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<4x2xf32>'}}
  %v, %i = moe.topk %x k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xf32>
  return
}

// -----

func.func @topk_i16_indices(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{result #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values}}
  %v, %i = moe.topk %x k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi16>
  return
}

// -----

func.func @topk_integer_input(%x: tensor<4x8xi32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 64-bit float or 32-bit float or bfloat16 type or 16-bit float values, but got 'tensor<4x8xi32>'}}
  %v, %i = moe.topk %x k(2) : tensor<4x8xi32> -> tensor<4x2xi32>, tensor<4x2xi32>
  return
}

// -----

func.func @topk_unranked_input(%x: tensor<*xf32>) {
  // expected-error @+1 {{invalid kind of type specified: expected builtin.tensor, but found 'tensor<*xf32>'}}
  %v, %i = moe.topk %x k(2) : tensor<*xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

//===----------------------------------------------------------------------===//
// moe.route
//===----------------------------------------------------------------------===//

// -----

func.func @route_x_rank(%x: tensor<2x6x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{expects x to be a T x D matrix (rank 2), but found rank 3}}
  %wt, %i = moe.route %x, %w top_k(2) : (tensor<2x6x16xf32>, tensor<4x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_router_rank(%x: tensor<6x16xf32>, %w: tensor<16xf32>) {
  // expected-error @+1 {{expects router_weight to be an E x D matrix (rank 2), but found rank 1}}
  %wt, %i = moe.route %x, %w top_k(2) : (tensor<6x16xf32>, tensor<16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_model_width(%x: tensor<6x16xf32>, %w: tensor<4x32xf32>) {
  // expected-error @+1 {{expects router_weight dim 1 (32) to match x dim 1 (16)}}
  %wt, %i = moe.route %x, %w top_k(2) : (tensor<6x16xf32>, tensor<4x32xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_top_k_zero(%x: tensor<6x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{expects top_k >= 1, but found 0}}
  %wt, %i = moe.route %x, %w top_k(0) : (tensor<6x16xf32>, tensor<4x16xf32>) -> (tensor<6x0xf32>, tensor<6x0xi32>)
  return
}

// -----

func.func @route_top_k_too_large(%x: tensor<?x16xf32>, %w: tensor<8x16xf32>) {
  // expected-error @+1 {{expects top_k (9) <= num_experts (8)}}
  %wt, %i = moe.route %x, %w top_k(9) : (tensor<?x16xf32>, tensor<8x16xf32>) -> (tensor<?x9xf32>, tensor<?x9xi32>)
  return
}

// -----

func.func @route_bias_rank(%x: tensor<6x16xf32>, %w: tensor<4x16xf32>, %b: tensor<1x4xf32>) {
  // expected-error @+1 {{expects bias to be a vector of E scores (rank 1), but found rank 2}}
  %wt, %i = moe.route %x, %w bias(%b) top_k(2) : (tensor<6x16xf32>, tensor<4x16xf32>, tensor<1x4xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_bias_size(%x: tensor<6x16xf32>, %w: tensor<4x16xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{expects bias size (8) to match num_experts (4)}}
  %wt, %i = moe.route %x, %w bias(%b) top_k(2) : (tensor<6x16xf32>, tensor<4x16xf32>, tensor<8xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_bias_bf16(%x: tensor<6x16xf32>, %w: tensor<4x16xf32>, %b: tensor<4xbf16>) {
  // expected-error @+1 {{operand #2 must be ranked tensor of 32-bit float values, but got 'tensor<4xbf16>'}}
  %wt, %i = moe.route %x, %w bias(%b) top_k(2) : (tensor<6x16xf32>, tensor<4x16xf32>, tensor<4xbf16>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_scale_zero(%x: tensor<6x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{expects a finite scale > 0, but found 0}}
  %wt, %i = moe.route %x, %w top_k(2) scale(0.0) : (tensor<6x16xf32>, tensor<4x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_scale_negative(%x: tensor<6x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{expects a finite scale > 0, but found -2.5}}
  %wt, %i = moe.route %x, %w top_k(2) scale(-2.5) : (tensor<6x16xf32>, tensor<4x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_scale_infinite(%x: tensor<6x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{expects a finite scale > 0, but found INF}}
  %wt, %i = moe.route %x, %w top_k(2) scale(0x7F800000) : (tensor<6x16xf32>, tensor<4x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_scale_nan(%x: tensor<6x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{expects a finite scale > 0, but found nan}}
  %wt, %i = moe.route %x, %w top_k(2) scale(0x7FC00000) : (tensor<6x16xf32>, tensor<4x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_n_group_zero(%x: tensor<6x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{expects n_group >= 1, but found 0}}
  %wt, %i = moe.route %x, %w top_k(2) n_group(0) topk_group(0) : (tensor<6x16xf32>, tensor<4x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_topk_group_zero(%x: tensor<6x16xf32>, %w: tensor<8x16xf32>) {
  // expected-error @+1 {{expects 1 <= topk_group <= n_group (4), but found 0}}
  %wt, %i = moe.route %x, %w top_k(2) n_group(4) topk_group(0) : (tensor<6x16xf32>, tensor<8x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_topk_group_too_large(%x: tensor<6x16xf32>, %w: tensor<8x16xf32>) {
  // expected-error @+1 {{expects 1 <= topk_group <= n_group (4), but found 5}}
  %wt, %i = moe.route %x, %w top_k(2) n_group(4) topk_group(5) : (tensor<6x16xf32>, tensor<8x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_groups_not_divisible(%x: tensor<6x16xf32>, %w: tensor<8x16xf32>) {
  // expected-error @+1 {{expects num_experts (8) to be divisible by n_group (3)}}
  %wt, %i = moe.route %x, %w top_k(2) n_group(3) topk_group(2) : (tensor<6x16xf32>, tensor<8x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_top2_sum_groups_of_one(%x: tensor<6x16xf32>, %w: tensor<8x16xf32>) {
  // expected-error @+1 {{expects groups of at least 2 experts for group_score(top2_sum), but found groups of 1}}
  %wt, %i = moe.route %x, %w top_k(2) n_group(8) topk_group(4) group_score(top2_sum) : (tensor<6x16xf32>, tensor<8x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_top_k_over_kept_groups(%x: tensor<6x16xf32>, %w: tensor<8x16xf32>) {
  // expected-error @+1 {{expects top_k (3) <= the experts in the kept groups (topk_group 1 x group size 2 = 2)}}
  %wt, %i = moe.route %x, %w top_k(3) n_group(4) topk_group(1) : (tensor<6x16xf32>, tensor<8x16xf32>) -> (tensor<6x3xf32>, tensor<6x3xi32>)
  return
}

// -----

func.func @route_weights_shape(%x: tensor<6x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{expects weights of shape [6, 2], but found [6, 3]}}
  %wt, %i = moe.route %x, %w top_k(2) : (tensor<6x16xf32>, tensor<4x16xf32>) -> (tensor<6x3xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_indices_shape(%x: tensor<6x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{expects indices of shape [6, 2], but found [5, 2]}}
  %wt, %i = moe.route %x, %w top_k(2) : (tensor<6x16xf32>, tensor<4x16xf32>) -> (tensor<6x2xf32>, tensor<5x2xi32>)
  return
}

// -----

func.func @route_scores_shape(%x: tensor<?x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{expects scores of shape [?, 4], but found [?, 8]}}
  %wt, %i, %s = moe.route %x, %w top_k(2) : (tensor<?x16xf32>, tensor<4x16xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x8xf32>)
  return
}

// -----

func.func @route_i64_indices(%x: tensor<6x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{result #1 must be ranked tensor of 32-bit signless integer values, but got 'tensor<6x2xi64>'}}
  %wt, %i = moe.route %x, %w top_k(2) : (tensor<6x16xf32>, tensor<4x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi64>)
  return
}

// -----

func.func @route_bf16_weights(%x: tensor<6x16xbf16>, %w: tensor<4x16xbf16>) {
  // expected-error @+1 {{result #0 must be ranked tensor of 32-bit float values, but got 'tensor<6x2xbf16>'}}
  %wt, %i = moe.route %x, %w top_k(2) : (tensor<6x16xbf16>, tensor<4x16xbf16>) -> (tensor<6x2xbf16>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_f64_x(%x: tensor<6x16xf64>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float or bfloat16 type or 16-bit float values, but got 'tensor<6x16xf64>'}}
  %wt, %i = moe.route %x, %w top_k(2) : (tensor<6x16xf64>, tensor<4x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_unknown_score(%x: tensor<6x16xf32>, %w: tensor<4x16xf32>) {
  // expected-error @+1 {{unknown score 'tanh'}}
  %wt, %i = moe.route %x, %w top_k(2) score(tanh) : (tensor<6x16xf32>, tensor<4x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

// -----

func.func @route_unknown_group_score(%x: tensor<6x16xf32>, %w: tensor<8x16xf32>) {
  // expected-error @+1 {{unknown group_score 'sum'}}
  %wt, %i = moe.route %x, %w top_k(2) n_group(4) topk_group(2) group_score(sum) : (tensor<6x16xf32>, tensor<8x16xf32>) -> (tensor<6x2xf32>, tensor<6x2xi32>)
  return
}

//===----------------------------------------------------------------------===//
// moe.dispatch
//===----------------------------------------------------------------------===//

// -----

func.func @dispatch_x_rank(%x: tensor<96xf32>, %i: tensor<6x2xi32>) {
  // expected-error @+1 {{expects x to be a T x D matrix (rank 2), but found rank 1}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) : (tensor<96xf32>, tensor<6x2xi32>) -> (tensor<12x16xf32>, tensor<5xi32>, tensor<6x2xi32>)
  return
}

// -----

func.func @dispatch_indices_rank(%x: tensor<6x16xf32>, %i: tensor<6xi32>) {
  // expected-error @+1 {{expects indices to be a T x K matrix (rank 2), but found rank 1}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) : (tensor<6x16xf32>, tensor<6xi32>) -> (tensor<6x16xf32>, tensor<5xi32>, tensor<6x1xi32>)
  return
}

// -----

func.func @dispatch_token_mismatch(%x: tensor<6x16xf32>, %i: tensor<5x2xi32>) {
  // expected-error @+1 {{expects indices dim 0 (tokens) (5) to match x dim 0 (tokens) (6)}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) : (tensor<6x16xf32>, tensor<5x2xi32>) -> (tensor<12x16xf32>, tensor<5xi32>, tensor<6x2xi32>)
  return
}

// -----

func.func @dispatch_num_experts_zero(%x: tensor<6x16xf32>, %i: tensor<6x2xi32>) {
  // expected-error @+1 {{expects num_experts >= 1, but found 0}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(0) : (tensor<6x16xf32>, tensor<6x2xi32>) -> (tensor<12x16xf32>, tensor<1xi32>, tensor<6x2xi32>)
  return
}

// -----

func.func @dispatch_top_k_too_large(%x: tensor<6x16xf32>, %i: tensor<6x5xi32>) {
  // expected-error @+1 {{expects indices dim 1 (top_k = 5) <= num_experts (4)}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) : (tensor<6x16xf32>, tensor<6x5xi32>) -> (tensor<30x16xf32>, tensor<5xi32>, tensor<6x5xi32>)
  return
}

// -----

func.func @dispatch_dropless_capacity_factor(%x: tensor<6x16xf32>, %i: tensor<6x2xi32>) {
  // expected-error @+1 {{expects no capacity_factor in mode(dropless); it is only meaningful in mode(capacity)}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) capacity_factor(1.25) : (tensor<6x16xf32>, tensor<6x2xi32>) -> (tensor<12x16xf32>, tensor<5xi32>, tensor<6x2xi32>)
  return
}

// -----

func.func @dispatch_dropless_min_capacity(%x: tensor<6x16xf32>, %i: tensor<6x2xi32>) {
  // expected-error @+1 {{expects no min_capacity in mode(dropless), but found 4}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) min_capacity(4) : (tensor<6x16xf32>, tensor<6x2xi32>) -> (tensor<12x16xf32>, tensor<5xi32>, tensor<6x2xi32>)
  return
}

// -----

func.func @dispatch_dropless_drop_policy(%x: tensor<6x16xf32>, %i: tensor<6x2xi32>, %w: tensor<6x2xf32>) {
  // expected-error @+1 {{expects no drop_policy in mode(dropless), but found drop_policy(score)}}
  %r, %s, %o = moe.dispatch %x, %i weights(%w) num_experts(4) drop_policy(score) : (tensor<6x16xf32>, tensor<6x2xi32>, tensor<6x2xf32>) -> (tensor<12x16xf32>, tensor<5xi32>, tensor<6x2xi32>)
  return
}

// -----

func.func @dispatch_capacity_without_factor(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{expects a capacity_factor in mode(capacity)}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) mode(capacity) : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<4x4x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
  return
}

// -----

func.func @dispatch_capacity_factor_zero(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{expects a finite capacity_factor > 0, but found 0}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) mode(capacity) capacity_factor(0.0) : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<4x0x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
  return
}

// -----

func.func @dispatch_capacity_factor_negative(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{expects a finite capacity_factor > 0, but found -1.5}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) mode(capacity) capacity_factor(-1.5) : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<4x1x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
  return
}

// -----

func.func @dispatch_capacity_factor_infinite(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{expects a finite capacity_factor > 0, but found INF}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) mode(capacity) capacity_factor(0x7FF0000000000000) : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<4x8x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
  return
}

// -----

func.func @dispatch_min_capacity_negative(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{expects min_capacity >= 0, but found -1}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) mode(capacity) capacity_factor(1.0) min_capacity(-1) : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<4x4x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
  return
}

// -----

func.func @dispatch_score_without_weights(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{expects a weights operand for drop_policy(score)}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) mode(capacity) capacity_factor(1.0) drop_policy(score) : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<4x4x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
  return
}

// -----

func.func @dispatch_dropless_weights(%x: tensor<6x16xf32>, %i: tensor<6x2xi32>, %w: tensor<6x2xf32>) {
  // expected-error @+1 {{expects no weights operand: only drop_policy(score) in mode(capacity) reads it}}
  %r, %s, %o = moe.dispatch %x, %i weights(%w) num_experts(4) : (tensor<6x16xf32>, tensor<6x2xi32>, tensor<6x2xf32>) -> (tensor<12x16xf32>, tensor<5xi32>, tensor<6x2xi32>)
  return
}

// -----

func.func @dispatch_position_weights(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>, %w: tensor<8x2xf32>) {
  // expected-error @+1 {{expects no weights operand: only drop_policy(score) in mode(capacity) reads it}}
  %r, %s, %o = moe.dispatch %x, %i weights(%w) num_experts(4) mode(capacity) capacity_factor(1.0) drop_policy(position) : (tensor<8x16xf32>, tensor<8x2xi32>, tensor<8x2xf32>) -> (tensor<4x4x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
  return
}

// -----

func.func @dispatch_weights_shape(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>, %w: tensor<8x1xf32>) {
  // expected-error @+1 {{expects weights of shape [8, 2], but found [8, 1]}}
  %r, %s, %o = moe.dispatch %x, %i weights(%w) num_experts(4) mode(capacity) capacity_factor(1.0) drop_policy(score) : (tensor<8x16xf32>, tensor<8x2xi32>, tensor<8x1xf32>) -> (tensor<4x4x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
  return
}

// -----

func.func @dispatch_rows_element_type(%x: tensor<6x16xf32>, %i: tensor<6x2xi32>) {
  // expected-error @+1 {{expects rows of the element type of x ('f32'), but found 'bf16'}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) : (tensor<6x16xf32>, tensor<6x2xi32>) -> (tensor<12x16xbf16>, tensor<5xi32>, tensor<6x2xi32>)
  return
}

// -----

func.func @dispatch_row_of_shape(%x: tensor<6x16xf32>, %i: tensor<6x2xi32>) {
  // expected-error @+1 {{expects row_of of shape [6, 2], but found [12]}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) : (tensor<6x16xf32>, tensor<6x2xi32>) -> (tensor<12x16xf32>, tensor<5xi32>, tensor<12xi32>)
  return
}

// -----

func.func @dispatch_dropless_rows_shape(%x: tensor<6x16xf32>, %i: tensor<6x2xi32>) {
  // expected-error @+1 {{expects rows of shape [12, 16], but found [6, 16]}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) : (tensor<6x16xf32>, tensor<6x2xi32>) -> (tensor<6x16xf32>, tensor<5xi32>, tensor<6x2xi32>)
  return
}

// -----

func.func @dispatch_dropless_rows_capacity_layout(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{expects rows of shape [16, 16], but found [4, 4, 16]}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<4x4x16xf32>, tensor<5xi32>, tensor<8x2xi32>)
  return
}

// -----

func.func @dispatch_dropless_offsets_size(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{expects segments (the E+1 offsets) of shape [5], but found [4]}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<?x16xf32>, tensor<4xi32>, tensor<?x2xi32>)
  return
}

// -----

// C = min(8, max(0, ceil(1.25 * 8 * 2 / 4))) = 5.
func.func @dispatch_capacity_rows_shape(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{expects rows of shape [4, 5, 16], but found [4, 4, 16]}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) mode(capacity) capacity_factor(1.25) : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<4x4x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
  return
}

// -----

// min_capacity raises C: min(8, max(7, 4)) = 7.
func.func @dispatch_capacity_min_capacity_shape(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{expects rows of shape [4, 7, 16], but found [4, 4, 16]}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) mode(capacity) capacity_factor(1.0) min_capacity(7) : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<4x4x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
  return
}

// -----

// C is clamped to T: min(8, max(100, 4)) = 8.
func.func @dispatch_capacity_clamped_shape(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{expects rows of shape [4, 8, 16], but found [4, 100, 16]}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) mode(capacity) capacity_factor(1.0) min_capacity(100) : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<4x100x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
  return
}

// -----

func.func @dispatch_capacity_counts_size(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{expects segments (the E counts) of shape [4], but found [5]}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) mode(capacity) capacity_factor(1.0) : (tensor<?x16xf32>, tensor<?x2xi32>) -> (tensor<4x?x16xf32>, tensor<5xi32>, tensor<?x2xi32>)
  return
}

// -----

func.func @dispatch_i64_row_of(%x: tensor<6x16xf32>, %i: tensor<6x2xi32>) {
  // expected-error @+1 {{result #2 must be ranked tensor of 32-bit signless integer values, but got 'tensor<6x2xi64>'}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) : (tensor<6x16xf32>, tensor<6x2xi32>) -> (tensor<12x16xf32>, tensor<5xi32>, tensor<6x2xi64>)
  return
}

// -----

func.func @dispatch_float_indices(%x: tensor<6x16xf32>, %i: tensor<6x2xf32>) {
  // expected-error @+1 {{operand #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<6x2xf32>'}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) : (tensor<6x16xf32>, tensor<6x2xf32>) -> (tensor<12x16xf32>, tensor<5xi32>, tensor<6x2xi32>)
  return
}

// -----

func.func @dispatch_unknown_mode(%x: tensor<6x16xf32>, %i: tensor<6x2xi32>) {
  // expected-error @+1 {{unknown dispatch_mode 'padded'}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) mode(padded) : (tensor<6x16xf32>, tensor<6x2xi32>) -> (tensor<12x16xf32>, tensor<5xi32>, tensor<6x2xi32>)
  return
}

// -----

func.func @dispatch_unknown_drop_policy(%x: tensor<8x16xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{unknown drop_policy 'random'}}
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) mode(capacity) capacity_factor(1.0) drop_policy(random) : (tensor<8x16xf32>, tensor<8x2xi32>) -> (tensor<4x4x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
  return
}

//===----------------------------------------------------------------------===//
// moe.experts
//===----------------------------------------------------------------------===//

// -----

func.func @experts_rows_rank(%rows: tensor<16xf32>, %off: tensor<5xi32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects rows to be R x D (dropless) or E x C x D (capacity), but found rank 1}}
  %y = moe.experts %rows, %off up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<16xf32>
  return
}

// -----

func.func @experts_segments_rank(%rows: tensor<12x16xf32>, %off: tensor<5x1xi32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects segments to be a vector of offsets or counts (rank 1), but found rank 2}}
  %y = moe.experts %rows, %off up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<12x16xf32>, tensor<5x1xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<12x16xf32>
  return
}

// -----

func.func @experts_no_offsets(%rows: tensor<?x16xf32>, %off: tensor<1xi32>, %wu: tensor<?x32x16xf32>, %wd: tensor<?x16x32xf32>) {
  // expected-error @+1 {{expects segments to hold at least 2 offsets (one expert), but found 1}}
  %y = moe.experts %rows, %off up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<?x16xf32>, tensor<1xi32>, tensor<?x32x16xf32>, tensor<?x16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @experts_no_counts(%buf: tensor<?x5x16xf32>, %counts: tensor<0xi32>, %wu: tensor<?x32x16xf32>, %wd: tensor<?x16x32xf32>) {
  // expected-error @+1 {{expects segments to hold at least 1 count (one expert), but found 0}}
  %y = moe.experts %buf, %counts up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<?x5x16xf32>, tensor<0xi32>, tensor<?x32x16xf32>, tensor<?x16x32xf32>) -> tensor<?x5x16xf32>
  return
}

// -----

func.func @experts_zero_experts(%rows: tensor<?x16xf32>, %off: tensor<?xi32>, %wu: tensor<0x32x16xf32>, %wd: tensor<0x16x32xf32>) {
  // expected-error @+1 {{expects at least one expert (up_proj dim 0 >= 1), but found 0}}
  %y = moe.experts %rows, %off up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<?x16xf32>, tensor<?xi32>, tensor<0x32x16xf32>, tensor<0x16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @experts_gated_without_gate(%rows: tensor<12x16xf32>, %off: tensor<5xi32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects a gate_proj operand for the gated activation silu_glu}}
  %y = moe.experts %rows, %off up_proj(%wu) down_proj(%wd) activation(silu_glu) : (tensor<12x16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<12x16xf32>
  return
}

// -----

func.func @experts_gelu_glu_without_gate(%rows: tensor<12x16xf32>, %off: tensor<5xi32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects a gate_proj operand for the gated activation gelu_glu}}
  %y = moe.experts %rows, %off up_proj(%wu) down_proj(%wd) activation(gelu_glu) : (tensor<12x16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<12x16xf32>
  return
}

// -----

func.func @experts_non_gated_with_gate(%rows: tensor<12x16xf32>, %off: tensor<5xi32>, %wg: tensor<4x32x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects no gate_proj operand for the non-gated activation gelu}}
  %y = moe.experts %rows, %off gate_proj(%wg) up_proj(%wu) down_proj(%wd) activation(gelu) : (tensor<12x16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<12x16xf32>
  return
}

// -----

func.func @experts_up_proj_rank(%rows: tensor<12x16xf32>, %off: tensor<5xi32>, %wu: tensor<128x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects up_proj to be an E x F x D tensor (rank 3), but found rank 2}}
  %y = moe.experts %rows, %off up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<12x16xf32>, tensor<5xi32>, tensor<128x16xf32>, tensor<4x16x32xf32>) -> tensor<12x16xf32>
  return
}

// -----

func.func @experts_down_proj_rank(%rows: tensor<12x16xf32>, %off: tensor<5xi32>, %wu: tensor<4x32x16xf32>, %wd: tensor<16x128xf32>) {
  // expected-error @+1 {{expects down_proj to be an E x D x F tensor (rank 3), but found rank 2}}
  %y = moe.experts %rows, %off up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<12x16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<16x128xf32>) -> tensor<12x16xf32>
  return
}

// -----

func.func @experts_gate_proj_rank(%rows: tensor<12x16xf32>, %off: tensor<5xi32>, %wg: tensor<128x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects gate_proj to be an E x F x D tensor (rank 3), but found rank 2}}
  %y = moe.experts %rows, %off gate_proj(%wg) up_proj(%wu) down_proj(%wd) activation(silu_glu) : (tensor<12x16xf32>, tensor<5xi32>, tensor<128x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<12x16xf32>
  return
}

// -----

func.func @experts_gate_proj_shape(%rows: tensor<12x16xf32>, %off: tensor<5xi32>, %wg: tensor<4x64x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects gate_proj (the shape of up_proj) of shape [4, 32, 16], but found [4, 64, 16]}}
  %y = moe.experts %rows, %off gate_proj(%wg) up_proj(%wu) down_proj(%wd) activation(silu_glu) : (tensor<12x16xf32>, tensor<5xi32>, tensor<4x64x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<12x16xf32>
  return
}

// -----

func.func @experts_offsets_count(%rows: tensor<12x16xf32>, %off: tensor<4xi32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects up_proj dim 0 (experts) (4) to match the number of offsets in segments minus 1 (3)}}
  %y = moe.experts %rows, %off up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<12x16xf32>, tensor<4xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<12x16xf32>
  return
}

// -----

func.func @experts_counts_count(%buf: tensor<4x5x16xf32>, %counts: tensor<5xi32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects up_proj dim 0 (experts) (4) to match the number of counts in segments (5)}}
  %y = moe.experts %buf, %counts up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<4x5x16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<4x5x16xf32>
  return
}

// -----

func.func @experts_model_width(%rows: tensor<12x8xf32>, %off: tensor<5xi32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects up_proj dim 2 (model width) (16) to match the model width (8)}}
  %y = moe.experts %rows, %off up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<12x8xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<12x8xf32>
  return
}

// -----

func.func @experts_down_proj_shape(%rows: tensor<12x16xf32>, %off: tensor<5xi32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x32x16xf32>) {
  // expected-error @+1 {{expects down_proj of shape [4, 16, 32], but found [4, 32, 16]}}
  %y = moe.experts %rows, %off up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<12x16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>) -> tensor<12x16xf32>
  return
}

// -----

func.func @experts_weight_element_types(%rows: tensor<12x16xf32>, %off: tensor<5xi32>, %wg: tensor<4x32x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xbf16>) {
  // expected-error @+1 {{expects gate_proj, up_proj and down_proj to share one element type, but found 'f32', 'f32' and 'bf16'}}
  %y = moe.experts %rows, %off gate_proj(%wg) up_proj(%wu) down_proj(%wd) activation(silu_glu) : (tensor<12x16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xbf16>) -> tensor<12x16xf32>
  return
}

// -----

func.func @experts_gate_element_type(%rows: tensor<12x16xf32>, %off: tensor<5xi32>, %wg: tensor<4x32x16xf16>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects gate_proj, up_proj and down_proj to share one element type, but found 'f16', 'f32' and 'f32'}}
  %y = moe.experts %rows, %off gate_proj(%wg) up_proj(%wu) down_proj(%wd) activation(gelu_glu) : (tensor<12x16xf32>, tensor<5xi32>, tensor<4x32x16xf16>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<12x16xf32>
  return
}

// -----

func.func @experts_capacity_rows_experts(%buf: tensor<3x5x16xf32>, %counts: tensor<?xi32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects rows dim 0 (experts) (3) to match up_proj dim 0 (experts) (4)}}
  %y = moe.experts %buf, %counts up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<3x5x16xf32>, tensor<?xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<3x5x16xf32>
  return
}

// -----

func.func @experts_result_element_type(%rows: tensor<12x16xf32>, %off: tensor<5xi32>, %wu: tensor<4x32x16xbf16>, %wd: tensor<4x16x32xbf16>) {
  // expected-error @+1 {{expects a result of the element type of rows ('f32'), but found 'bf16'}}
  %y = moe.experts %rows, %off up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<12x16xf32>, tensor<5xi32>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<12x16xbf16>
  return
}

// -----

func.func @experts_result_shape(%buf: tensor<4x5x16xf32>, %counts: tensor<4xi32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects result (the shape of rows) of shape [4, 5, 16], but found [20, 16]}}
  %y = moe.experts %buf, %counts up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<4x5x16xf32>, tensor<4xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<20x16xf32>
  return
}

// -----

func.func @experts_float_segments(%rows: tensor<12x16xf32>, %off: tensor<5xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{operand #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<5xf32>'}}
  %y = moe.experts %rows, %off up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<12x16xf32>, tensor<5xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<12x16xf32>
  return
}

// -----

func.func @experts_i8_weights(%rows: tensor<12x16xf32>, %off: tensor<5xi32>, %wu: tensor<4x32x16xi8>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{must be ranked tensor of 32-bit float or bfloat16 type or 16-bit float values, but got 'tensor<4x32x16xi8>'}}
  %y = moe.experts %rows, %off up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<12x16xf32>, tensor<5xi32>, tensor<4x32x16xi8>, tensor<4x16x32xf32>) -> tensor<12x16xf32>
  return
}

// -----

func.func @experts_unknown_activation(%rows: tensor<12x16xf32>, %off: tensor<5xi32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{unknown activation 'tanh'}}
  %y = moe.experts %rows, %off up_proj(%wu) down_proj(%wd) activation(tanh) : (tensor<12x16xf32>, tensor<5xi32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<12x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// moe.combine
//===----------------------------------------------------------------------===//

// -----

func.func @combine_rows_rank(%rows: tensor<2x4x5x16xf32>, %w: tensor<8x2xf32>, %o: tensor<8x2xi32>) {
  // expected-error @+1 {{expects rows to be R x D (dropless) or E x C x D (capacity), but found rank 4}}
  %y = moe.combine %rows, %w, %o : (tensor<2x4x5x16xf32>, tensor<8x2xf32>, tensor<8x2xi32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @combine_weights_rank(%rows: tensor<16x16xf32>, %w: tensor<16xf32>, %o: tensor<16xi32>) {
  // expected-error @+1 {{expects weights to be a T x K matrix (rank 2), but found rank 1}}
  %y = moe.combine %rows, %w, %o : (tensor<16x16xf32>, tensor<16xf32>, tensor<16xi32>) -> tensor<16x16xf32>
  return
}

// -----

func.func @combine_row_of_shape(%rows: tensor<16x16xf32>, %w: tensor<8x2xf32>, %o: tensor<8x1xi32>) {
  // expected-error @+1 {{expects row_of (the shape of weights) of shape [8, 2], but found [8, 1]}}
  %y = moe.combine %rows, %w, %o : (tensor<16x16xf32>, tensor<8x2xf32>, tensor<8x1xi32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @combine_result_element_type(%rows: tensor<16x16xbf16>, %w: tensor<8x2xf32>, %o: tensor<8x2xi32>) {
  // expected-error @+1 {{expects a result of the element type of rows ('bf16'), but found 'f32'}}
  %y = moe.combine %rows, %w, %o : (tensor<16x16xbf16>, tensor<8x2xf32>, tensor<8x2xi32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @combine_result_tokens(%rows: tensor<16x16xf32>, %w: tensor<8x2xf32>, %o: tensor<8x2xi32>) {
  // expected-error @+1 {{expects result of shape [8, 16], but found [16, 16]}}
  %y = moe.combine %rows, %w, %o : (tensor<16x16xf32>, tensor<8x2xf32>, tensor<8x2xi32>) -> tensor<16x16xf32>
  return
}

// -----

func.func @combine_capacity_result_width(%buf: tensor<4x5x16xf32>, %w: tensor<?x2xf32>, %o: tensor<?x2xi32>) {
  // expected-error @+1 {{expects result of shape [?, 16], but found [?, 5]}}
  %y = moe.combine %buf, %w, %o : (tensor<4x5x16xf32>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x5xf32>
  return
}

// -----

func.func @combine_bf16_weights(%rows: tensor<16x16xf32>, %w: tensor<8x2xbf16>, %o: tensor<8x2xi32>) {
  // expected-error @+1 {{operand #1 must be ranked tensor of 32-bit float values, but got 'tensor<8x2xbf16>'}}
  %y = moe.combine %rows, %w, %o : (tensor<16x16xf32>, tensor<8x2xbf16>, tensor<8x2xi32>) -> tensor<8x16xf32>
  return
}

// -----

func.func @combine_float_row_of(%rows: tensor<16x16xf32>, %w: tensor<8x2xf32>, %o: tensor<8x2xf32>) {
  // expected-error @+1 {{operand #2 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<8x2xf32>'}}
  %y = moe.combine %rows, %w, %o : (tensor<16x16xf32>, tensor<8x2xf32>, tensor<8x2xf32>) -> tensor<8x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// moe.layer
//===----------------------------------------------------------------------===//

// -----

func.func @layer_x_rank(%x: tensor<16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects x to be a T x D matrix (rank 2), but found rank 1}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(2) activation(relu) : (tensor<16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<16xf32>
  return
}

// -----

func.func @layer_top_k_too_large(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects top_k (5) <= num_experts (4)}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(5) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_bias_size(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %b: tensor<3xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects bias size (3) to match num_experts (4)}}
  %y = moe.layer %x router(%wr) bias(%b) up_proj(%wu) down_proj(%wd) top_k(2) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<3xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_groups(%x: tensor<?x16xf32>, %wr: tensor<6x16xf32>, %wu: tensor<6x32x16xf32>, %wd: tensor<6x16x32xf32>) {
  // expected-error @+1 {{expects num_experts (6) to be divisible by n_group (4)}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(2) n_group(4) topk_group(2) activation(relu) : (tensor<?x16xf32>, tensor<6x16xf32>, tensor<6x32x16xf32>, tensor<6x16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_scale(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects a finite scale > 0, but found -1}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(2) scale(-1.0) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_gated_without_gate(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects a gate_proj operand for the gated activation silu_glu}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(2) activation(silu_glu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_non_gated_with_gate(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wg: tensor<4x32x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects no gate_proj operand for the non-gated activation silu}}
  %y = moe.layer %x router(%wr) gate_proj(%wg) up_proj(%wu) down_proj(%wd) top_k(2) activation(silu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_expert_count(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<8x32x16xf32>, %wd: tensor<8x16x32xf32>) {
  // expected-error @+1 {{expects up_proj dim 0 (experts) (8) to match router_weight dim 0 (experts) (4)}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(2) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<8x32x16xf32>, tensor<8x16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_expert_width(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x8xf32>, %wd: tensor<4x8x32xf32>) {
  // expected-error @+1 {{expects up_proj dim 2 (model width) (8) to match the model width (16)}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(2) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x8xf32>, tensor<4x8x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_capacity_without_factor(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects a capacity_factor in mode(capacity)}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(2) mode(capacity) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_dropless_capacity_factor(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects no capacity_factor in mode(dropless)}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(2) capacity_factor(1.0) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_min_capacity_negative(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects min_capacity >= 0, but found -3}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(2) mode(capacity) capacity_factor(1.0) min_capacity(-3) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_shared_up_only(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>, %su: tensor<32x16xf32>) {
  // expected-error @+1 {{expects shared_up_proj and shared_down_proj together, but found only shared_up_proj}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) shared_up_proj(%su) top_k(2) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<32x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_shared_down_only(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>, %sd: tensor<16x32xf32>) {
  // expected-error @+1 {{expects shared_up_proj and shared_down_proj together, but found only shared_down_proj}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) shared_down_proj(%sd) top_k(2) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_shared_gate_only(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wg: tensor<4x32x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>, %sg: tensor<32x16xf32>) {
  // expected-error @+1 {{expects shared_gate_proj only with shared_up_proj and shared_down_proj}}
  %y = moe.layer %x router(%wr) gate_proj(%wg) up_proj(%wu) down_proj(%wd) shared_gate_proj(%sg) top_k(2) activation(silu_glu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<32x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_shared_expert_gate_only(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>, %seg: tensor<1x16xf32>) {
  // expected-error @+1 {{expects shared_expert_gate only with shared experts (shared_up_proj, shared_down_proj)}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) shared_expert_gate(%seg) top_k(2) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<1x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_shared_gated_without_gate(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wg: tensor<4x32x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>, %su: tensor<32x16xf32>, %sd: tensor<16x32xf32>) {
  // expected-error @+1 {{expects a shared_gate_proj for the gated activation gelu_glu}}
  %y = moe.layer %x router(%wr) gate_proj(%wg) up_proj(%wu) down_proj(%wd) shared_up_proj(%su) shared_down_proj(%sd) top_k(2) activation(gelu_glu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_shared_non_gated_with_gate(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>, %sg: tensor<32x16xf32>, %su: tensor<32x16xf32>, %sd: tensor<16x32xf32>) {
  // expected-error @+1 {{expects no shared_gate_proj for the non-gated activation relu}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) shared_gate_proj(%sg) shared_up_proj(%su) shared_down_proj(%sd) top_k(2) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_shared_up_rank(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>, %su: tensor<2x32x16xf32>, %sd: tensor<16x64xf32>) {
  // expected-error @+1 {{expects shared_up_proj to be an F_s x D matrix (rank 2), but found rank 3}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) shared_up_proj(%su) shared_down_proj(%sd) top_k(2) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<2x32x16xf32>, tensor<16x64xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_shared_up_width(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>, %su: tensor<32x8xf32>, %sd: tensor<16x32xf32>) {
  // expected-error @+1 {{expects shared_up_proj dim 1 (8) to match x dim 1 (16)}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) shared_up_proj(%su) shared_down_proj(%sd) top_k(2) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<32x8xf32>, tensor<16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_shared_gate_rank(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wg: tensor<4x32x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>, %sg: tensor<512xf32>, %su: tensor<32x16xf32>, %sd: tensor<16x32xf32>) {
  // expected-error @+1 {{expects shared_gate_proj to be an F_s x D matrix (rank 2), but found rank 1}}
  %y = moe.layer %x router(%wr) gate_proj(%wg) up_proj(%wu) down_proj(%wd) shared_gate_proj(%sg) shared_up_proj(%su) shared_down_proj(%sd) top_k(2) activation(silu_glu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<512xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_shared_gate_shape(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wg: tensor<4x32x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>, %sg: tensor<64x16xf32>, %su: tensor<32x16xf32>, %sd: tensor<16x32xf32>) {
  // expected-error @+1 {{expects shared_gate_proj of shape [32, 16], but found [64, 16]}}
  %y = moe.layer %x router(%wr) gate_proj(%wg) up_proj(%wu) down_proj(%wd) shared_gate_proj(%sg) shared_up_proj(%su) shared_down_proj(%sd) top_k(2) activation(silu_glu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<64x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_shared_down_rank(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>, %su: tensor<32x16xf32>, %sd: tensor<1x16x32xf32>) {
  // expected-error @+1 {{expects shared_down_proj to be a D x F_s matrix (rank 2), but found rank 3}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) shared_up_proj(%su) shared_down_proj(%sd) top_k(2) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<32x16xf32>, tensor<1x16x32xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_shared_down_shape(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>, %su: tensor<32x16xf32>, %sd: tensor<32x16xf32>) {
  // expected-error @+1 {{expects shared_down_proj of shape [16, 32], but found [32, 16]}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) shared_up_proj(%su) shared_down_proj(%sd) top_k(2) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<32x16xf32>, tensor<32x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_shared_expert_gate_rank(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>, %su: tensor<32x16xf32>, %sd: tensor<16x32xf32>, %seg: tensor<16xf32>) {
  // expected-error @+1 {{expects shared_expert_gate to be a 1 x D matrix (rank 2), but found rank 1}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) shared_up_proj(%su) shared_down_proj(%sd) shared_expert_gate(%seg) top_k(2) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_shared_expert_gate_shape(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>, %su: tensor<32x16xf32>, %sd: tensor<16x32xf32>, %seg: tensor<2x16xf32>) {
  // expected-error @+1 {{expects shared_expert_gate of shape [1, 16], but found [2, 16]}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) shared_up_proj(%su) shared_down_proj(%sd) shared_expert_gate(%seg) top_k(2) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<32x16xf32>, tensor<16x32xf32>, tensor<2x16xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_result_element_type(%x: tensor<?x16xbf16>, %wr: tensor<4x16xbf16>, %wu: tensor<4x32x16xbf16>, %wd: tensor<4x16x32xbf16>) {
  // expected-error @+1 {{expects a result of the element type of x ('bf16'), but found 'f32'}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(2) activation(relu) : (tensor<?x16xbf16>, tensor<4x16xbf16>, tensor<4x32x16xbf16>, tensor<4x16x32xbf16>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_result_shape(%x: tensor<6x16xf32>, %wr: tensor<4x16xf32>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{expects result (the shape of x) of shape [6, 16], but found [12, 16]}}
  %y = moe.layer %x router(%wr) up_proj(%wu) down_proj(%wd) top_k(2) activation(relu) : (tensor<6x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<12x16xf32>
  return
}

// -----

func.func @layer_bf16_bias(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>, %b: tensor<4xbf16>, %wu: tensor<4x32x16xf32>, %wd: tensor<4x16x32xf32>) {
  // expected-error @+1 {{operand #2 must be ranked tensor of 32-bit float values, but got 'tensor<4xbf16>'}}
  %y = moe.layer %x router(%wr) bias(%b) up_proj(%wu) down_proj(%wd) top_k(2) activation(relu) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4xbf16>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<?x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// moe.repeat / moe.yield
//===----------------------------------------------------------------------===//

// -----

func.func @repeat_unknown_schedule(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  // expected-error @+1 {{expected schedule auto, unroll or resident, but found 'pipelined'}}
  %y = moe.repeat 2 schedule(pipelined) iter_args(%h = %x) : tensor<4x16xf32> {
    moe.yield %h : tensor<4x16xf32>
  }
  return %y : tensor<4x16xf32>
}

// -----

func.func @repeat_too_few_types(%x: tensor<4x16xf32>, %c: tensor<4x16xf32>) {
  // expected-error @+1 {{expected 2 iter_args types, but found 1}}
  %y:2 = moe.repeat 2 iter_args(%h = %x, %a = %c) : tensor<4x16xf32> {
    moe.yield %h, %a : tensor<4x16xf32>, tensor<4x16xf32>
  }
  return
}

// -----

func.func @repeat_count_zero(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  // expected-error @+1 {{expects a repeat count >= 1, but found 0}}
  %y = moe.repeat 0 iter_args(%h = %x) : tensor<4x16xf32> {
    moe.yield %h : tensor<4x16xf32>
  }
  return %y : tensor<4x16xf32>
}

// -----

func.func @repeat_count_negative(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  // expected-error @+1 {{expects a repeat count >= 1, but found -3}}
  %y = moe.repeat -3 schedule(unroll) iter_args(%h = %x) : tensor<4x16xf32> {
    moe.yield %h : tensor<4x16xf32>
  }
  return %y : tensor<4x16xf32>
}

// -----

func.func @repeat_no_iter_args() {
  // expected-error @+1 {{expects at least one iter_arg: a repeat with no loop-carried value computes nothing}}
  "moe.repeat"() <{count = 2 : i64}> ({
    "moe.yield"() : () -> ()
  }) : () -> ()
  return
}

// -----

func.func @repeat_result_types(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{expects result types to match the iter_args types}}
  %y = "moe.repeat"(%x) <{count = 2 : i64}> ({
  ^bb0(%h: tensor<4x16xf32>):
    "moe.yield"(%h) : (tensor<4x16xf32>) -> ()
  }) : (tensor<4x16xf32>) -> tensor<4x16xbf16>
  return
}

// -----

func.func @repeat_body_arg_count(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{expects the body to take 1 block arguments (one per iter_arg), but found 2}}
  %y = "moe.repeat"(%x) <{count = 2 : i64}> ({
  ^bb0(%h: tensor<4x16xf32>, %g: tensor<4x16xf32>):
    "moe.yield"(%h) : (tensor<4x16xf32>) -> ()
  }) : (tensor<4x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @repeat_body_arg_type(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{expects body argument #0 of type 'tensor<4x16xf32>', but found 'tensor<?x16xf32>'}}
  %y = "moe.repeat"(%x) <{count = 2 : i64}> ({
  ^bb0(%h: tensor<?x16xf32>):
    %c = tensor.cast %h : tensor<?x16xf32> to tensor<4x16xf32>
    "moe.yield"(%c) : (tensor<4x16xf32>) -> ()
  }) : (tensor<4x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @repeat_two_blocks(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{expects region #0 to have 0 or 1 blocks}}
  %y = "moe.repeat"(%x) <{count = 2 : i64}> ({
  ^bb0(%h: tensor<4x16xf32>):
    "moe.yield"(%h) : (tensor<4x16xf32>) -> ()
  ^bb1(%g: tensor<4x16xf32>):
    "moe.yield"(%g) : (tensor<4x16xf32>) -> ()
  }) : (tensor<4x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @repeat_other_terminator(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  // expected-error @+1 {{expects the body to end in moe.yield}}
  %y = moe.repeat 2 iter_args(%h = %x) : tensor<4x16xf32> {
    "test.terminator"(%h) : (tensor<4x16xf32>) -> ()
  }
  return %y : tensor<4x16xf32>
}

// -----

func.func @repeat_yield_count(%x: tensor<4x16xf32>, %c: tensor<4x16xf32>) {
  %y:2 = moe.repeat 2 iter_args(%h = %x, %a = %c) : tensor<4x16xf32>, tensor<4x16xf32> {
    // expected-error @+1 {{expects 2 yielded values (one per iter_arg), but found 1}}
    moe.yield %h : tensor<4x16xf32>
  }
  return
}

// -----

func.func @repeat_yield_type(%x: tensor<4x16xf32>, %n: i32) {
  %y:2 = moe.repeat 2 iter_args(%h = %x, %i = %n) : tensor<4x16xf32>, i32 {
    %e = arith.extsi %i : i32 to i64
    // expected-error @+1 {{expects yielded value #1 of type 'i32', but found 'i64'}}
    moe.yield %h, %e : tensor<4x16xf32>, i64
  }
  return
}

// -----

func.func @yield_outside_repeat(%x: tensor<4x16xf32>) {
  // expected-error @+1 {{expects parent op 'moe.repeat'}}
  moe.yield %x : tensor<4x16xf32>
}

//===----------------------------------------------------------------------===//
// moe.peer
//===----------------------------------------------------------------------===//

// -----

func.func @peer_x_rank(%x: tensor<16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects x to be a T x D matrix (rank 2), but found rank 1}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<16xf32>, tensor<16x16xf32>, tensor<2x2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16xf32>
  return
}

// -----

func.func @peer_heads_zero(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects heads >= 1, but found 0}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(0) top_k(2) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_top_k_zero(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects top_k >= 1, but found 0}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(0) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<2x2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_gated_activation(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects activation relu or gelu, but found silu_glu}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) activation(silu_glu) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<2x2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_silu_activation(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects activation relu or gelu, but found silu}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) activation(silu) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<2x2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_keys_heads(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<4x2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects keys dim 0 (heads) (4) to match heads (2)}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<4x2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_keys_rank(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects keys of shape H x 2 x n x Dk/2 (or 2 x n x Dk/2 shared by all heads), but found rank 2}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_keys_halves(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x3x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects 2 sub-key sets (one per query half) in keys, but found 3}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<2x3x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_query_rank(%x: tensor<6x16xf32>, %wq: tensor<2x8x16xf32>, %k: tensor<2x2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects query_weight to be an (H*Dk) x D matrix (rank 2), but found rank 3}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<2x8x16xf32>, tensor<2x2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_query_width(%x: tensor<6x16xf32>, %wq: tensor<16x32xf32>, %k: tensor<2x2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects query_weight dim 1 (32) to match x dim 1 (16)}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<16x32xf32>, tensor<2x2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_query_heads(%x: tensor<6x16xf32>, %wq: tensor<15x16xf32>, %k: tensor<2x4x?xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects query_weight dim 0 (15) to be divisible by heads (2)}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<15x16xf32>, tensor<2x4x?xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_odd_query_width(%x: tensor<6x16xf32>, %wq: tensor<14x16xf32>, %k: tensor<2x2x4x?xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects an even query width per head Dk, but found 7}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<14x16xf32>, tensor<2x2x4x?xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_key_width(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x2x4x8xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects keys dim 3 (8) to be half the query width per head (8)}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<2x2x4x8xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_shared_key_width(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x4x2xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects keys dim 2 (2) to be half the query width per head (8)}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<2x4x2xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_query_bias_rank(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %bq: tensor<2x8xf32>, %k: tensor<2x2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects query_bias to be a vector (rank 1), but found rank 2}}
  %y = moe.peer %x query(%wq, %bq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<2x8xf32>, tensor<2x2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_query_bias_size(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %bq: tensor<8xf32>, %k: tensor<2x2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects query_bias size (8) to match query_weight dim 0 (16)}}
  %y = moe.peer %x query(%wq, %bq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<8xf32>, tensor<2x2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_top_k_too_large(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects top_k (5) <= the number of sub-keys n (4)}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(5) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<2x2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_down_embed_rank(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x2x4x4xf32>, %u: tensor<4x4x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects down_embed to be an N x D matrix (rank 2), but found rank 3}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<2x2x4x4xf32>, tensor<4x4x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_up_embed_rank(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<256xf32>) {
  // expected-error @+1 {{expects up_embed to be an N x D matrix (rank 2), but found rank 1}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<2x2x4x4xf32>, tensor<16x16xf32>, tensor<256xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_not_square(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x2x?x4xf32>, %u: tensor<15x16xf32>, %v: tensor<15x16xf32>) {
  // expected-error @+1 {{expects a perfect square number of experts N = n * n, but found 15}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<2x2x?x4xf32>, tensor<15x16xf32>, tensor<15x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_square_mismatch(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x2x4x4xf32>, %u: tensor<9x16xf32>, %v: tensor<9x16xf32>) {
  // expected-error @+1 {{expects N (9) to be the square of the number of sub-keys (4)}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<2x2x4x4xf32>, tensor<9x16xf32>, tensor<9x16xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_down_embed_width(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x2x4x4xf32>, %u: tensor<16x8xf32>, %v: tensor<16x8xf32>) {
  // expected-error @+1 {{expects down_embed dim 1 (8) to match x dim 1 (16)}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<2x2x4x4xf32>, tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_up_embed_shape(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x32xf32>) {
  // expected-error @+1 {{expects up_embed (the shape of down_embed) of shape [16, 16], but found [16, 32]}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<2x2x4x4xf32>, tensor<16x16xf32>, tensor<16x32xf32>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_result_element_type(%x: tensor<6x16xf16>, %wq: tensor<16x16xf16>, %k: tensor<2x2x4x4xf16>, %u: tensor<16x16xf16>, %v: tensor<16x16xf16>) {
  // expected-error @+1 {{expects a result of the element type of x ('f16'), but found 'f32'}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<6x16xf16>, tensor<16x16xf16>, tensor<2x2x4x4xf16>, tensor<16x16xf16>, tensor<16x16xf16>) -> tensor<6x16xf32>
  return
}

// -----

func.func @peer_result_shape(%x: tensor<?x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{expects result (the shape of x) of shape [?, 16], but found [?, 8]}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) : (tensor<?x16xf32>, tensor<16x16xf32>, tensor<2x2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @peer_unknown_score(%x: tensor<6x16xf32>, %wq: tensor<16x16xf32>, %k: tensor<2x2x4x4xf32>, %u: tensor<16x16xf32>, %v: tensor<16x16xf32>) {
  // expected-error @+1 {{unknown peer_score 'sigmoid'}}
  %y = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(2) top_k(2) score(sigmoid) : (tensor<6x16xf32>, tensor<16x16xf32>, tensor<2x2x4x4xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<6x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// Auxiliary losses
//===----------------------------------------------------------------------===//

// -----

func.func @lb_loss_scores_rank(%s: tensor<24xf32>, %i: tensor<6x2xi32>) {
  // expected-error @+1 {{expects scores to be a T x E matrix (rank 2), but found rank 1}}
  %l = moe.load_balancing_loss %s, %i : (tensor<24xf32>, tensor<6x2xi32>) -> f32
  return
}

// -----

func.func @lb_loss_indices_rank(%s: tensor<6x4xf32>, %i: tensor<12xi32>) {
  // expected-error @+1 {{expects indices to be a T x K matrix (rank 2), but found rank 1}}
  %l = moe.load_balancing_loss %s, %i : (tensor<6x4xf32>, tensor<12xi32>) -> f32
  return
}

// -----

func.func @lb_loss_tokens(%s: tensor<6x4xf32>, %i: tensor<5x2xi32>) {
  // expected-error @+1 {{expects indices dim 0 (tokens) (5) to match scores dim 0 (tokens) (6)}}
  %l = moe.load_balancing_loss %s, %i : (tensor<6x4xf32>, tensor<5x2xi32>) -> f32
  return
}

// -----

func.func @lb_loss_top_k(%s: tensor<?x4xf32>, %i: tensor<?x5xi64>) {
  // expected-error @+1 {{expects indices dim 1 (top_k = 5) <= scores dim 1 (num_experts = 4)}}
  %l = moe.load_balancing_loss %s, %i : (tensor<?x4xf32>, tensor<?x5xi64>) -> f32
  return
}

// -----

func.func @lb_loss_bf16_scores(%s: tensor<6x4xbf16>, %i: tensor<6x2xi32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float values, but got 'tensor<6x4xbf16>'}}
  %l = moe.load_balancing_loss %s, %i : (tensor<6x4xbf16>, tensor<6x2xi32>) -> f32
  return
}

// -----

func.func @lb_loss_float_indices(%s: tensor<6x4xf32>, %i: tensor<6x2xf32>) {
  // expected-error @+1 {{operand #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<6x2xf32>'}}
  %l = moe.load_balancing_loss %s, %i : (tensor<6x4xf32>, tensor<6x2xf32>) -> f32
  return
}

// -----

func.func @lb_loss_f64_result(%s: tensor<6x4xf32>, %i: tensor<6x2xi32>) {
  // expected-error @+1 {{result #0 must be 32-bit float, but got 'f64'}}
  %l = moe.load_balancing_loss %s, %i : (tensor<6x4xf32>, tensor<6x2xi32>) -> f64
  return
}

// -----

func.func @z_loss_rank(%l: tensor<2x6x4xf32>) {
  // expected-error @+1 {{expects logits to be a T x E matrix (rank 2), but found rank 3}}
  %z = moe.router_z_loss %l : (tensor<2x6x4xf32>) -> f32
  return
}

// -----

func.func @z_loss_f16_logits(%l: tensor<6x4xf16>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float values, but got 'tensor<6x4xf16>'}}
  %z = moe.router_z_loss %l : (tensor<6x4xf16>) -> f32
  return
}

// -----

func.func @z_loss_tensor_result(%l: tensor<6x4xf32>) {
  // expected-error @+1 {{result #0 must be 32-bit float, but got 'tensor<f32>'}}
  %z = moe.router_z_loss %l : (tensor<6x4xf32>) -> tensor<f32>
  return
}

//===----------------------------------------------------------------------===//
// #moe.target and the moe.* discardable attributes
//===----------------------------------------------------------------------===//

// -----

// expected-error @+1 {{expects vector_bits to be a multiple of 32 and at most 4096 (or 0 for the default), but found 48}}
module attributes {moe.target = #moe.target<kind = cpu, vector_bits = 48>} {}

// -----

// expected-error @+1 {{expects vector_bits to be a multiple of 32 and at most 4096 (or 0 for the default), but found 8192}}
module attributes {moe.target = #moe.target<kind = cuda, vector_bits = 8192>} {}

// -----

// expected-error @+1 {{expects shared_cache_bytes (262144) >= fast_memory_bytes (1048576) on a cpu target}}
module attributes {moe.target = #moe.target<kind = cpu, fast_memory_bytes = 1048576, shared_cache_bytes = 262144>} {}

// -----

// expected-error @+1 {{expects bf16_dot = avx512 only on a cpu target, but found it on a cuda target}}
module attributes {moe.target = #moe.target<kind = cuda, bf16_dot = avx512>} {}

// -----

// expected-error @+1 {{expects hidden_tile >= 1, but found 0}}
module attributes {test.tiling = #moe.expert_tiling<kernel = gemv, hidden_tile = 0, token_tile = 32>} {}

// -----

// expected-error @+1 {{expects token_tile >= 1, but found 0}}
module attributes {test.tiling = #moe.expert_tiling<kernel = gemm, hidden_tile = 16, token_tile = 0>} {}

// -----

// expected-error @+1 {{expects gemm_min_rows only with kernel = auto, but found gemm_min_rows = 8 with kernel = gemv}}
module attributes {test.tiling = #moe.expert_tiling<kernel = gemv, hidden_tile = 16, token_tile = 32, gemm_min_rows = 8>} {}

// -----

// expected-error @+2 {{expected ::mlir::moe::ExpertKernel to be one of: auto, gemv, gemm}}
// expected-error @+1 {{failed to parse MoE_ExpertTilingAttr parameter 'kernel'}}
module attributes {test.tiling = #moe.expert_tiling<kernel = blas, hidden_tile = 16, token_tile = 32>} {}

// -----

// expected-error @+2 {{expected ::mlir::moe::TargetKind to be one of: cpu, cuda}}
// expected-error @+1 {{failed to parse MoE_TargetAttr parameter 'kind'}}
module attributes {moe.target = #moe.target<kind = tpu>} {}

// -----

// expected-error @+1 {{struct is missing required parameter: kind}}
module attributes {moe.target = #moe.target<vector_bits = 512>} {}

// -----

// expected-error @+1 {{expects 'moe.target' to be a #moe.target attribute, but found "cpu"}}
module attributes {moe.target = "cpu"} {}

// -----

// expected-error @+1 {{expects the 'moe.target' attribute on a builtin.module, but found it on 'func.func'}}
func.func @target_on_func() attributes {moe.target = #moe.target<kind = cpu>} {
  return
}

// -----

func.func @activation_on_op() {
  // expected-error @+1 {{expects 'moe.activation' on a function argument, not on an operation}}
  %c = arith.constant {moe.activation} 0 : i32
  return
}

// -----

// expected-error @+1 {{expects 'moe.activation' to be a unit attribute, but found 1 : i64}}
func.func @activation_not_unit(%x: tensor<4x8xf32> {moe.activation = 1 : i64}) {
  return
}


//===----------------------------------------------------------------------===//
// Boundary cases that must be accepted (no diagnostics).
//===----------------------------------------------------------------------===//

// -----

// cuda may have shared_cache_bytes < fast_memory_bytes; vector_bits 4096 is
// the largest; every parameter given (bf16_dot = none is allowed on cuda).
module attributes {moe.target = #moe.target<kind = cuda, fast_memory_bytes = 1048576, shared_cache_bytes = 262144, vector_bits = 4096, compute_units = 132, bandwidth_gbps = 3350, peak_gflops = 989000, bf16_dot = none>} {
  func.func @accepted_in_target_module(%x: tensor<4x8xf32> {moe.activation}) {
    return
  }
}

// -----

// cpu with shared_cache_bytes == fast_memory_bytes, and an unknown moe.*
// discardable attribute (later passes record their choices that way).
module attributes {moe.target = #moe.target<kind = cpu, fast_memory_bytes = 65536, shared_cache_bytes = 65536, vector_bits = 32>, moe.tile.sizes = [4, 8]} {}

// -----

func.func @accepted_topk_k_equals_last_dim(%x: tensor<4x8xf32>, %d: tensor<?x?x?xbf16>) {
  %v, %i = moe.topk %x k(8) : tensor<4x8xf32> -> tensor<4x8xf32>, tensor<4x8xi64>
  %dv, %di = moe.topk %d k(100) : tensor<?x?x?xbf16> -> tensor<?x?x100xbf16>, tensor<?x?x?xi32>
  return
}

// -----

func.func @accepted_route_boundaries(%x: tensor<?x16xf32>, %w8: tensor<8x16xf32>, %w1: tensor<1x16xf32>, %xd: tensor<?x?xf32>, %wd: tensor<?x?xf32>, %bd: tensor<?xf32>) {
  // top_k == E, topk_group == n_group, groups of exactly 2 for top2_sum.
  %a, %ai = moe.route %x, %w8 top_k(8) n_group(4) topk_group(4) group_score(top2_sum) : (tensor<?x16xf32>, tensor<8x16xf32>) -> (tensor<?x8xf32>, tensor<?x8xi32>)
  // top_k == the experts of the kept groups.
  %b, %bi = moe.route %x, %w8 top_k(4) n_group(4) topk_group(2) : (tensor<?x16xf32>, tensor<8x16xf32>) -> (tensor<?x4xf32>, tensor<?x4xi32>)
  // Groups of one expert with group_score(max).
  %c, %ci = moe.route %x, %w8 top_k(3) n_group(8) topk_group(3) group_score(max) : (tensor<?x16xf32>, tensor<8x16xf32>) -> (tensor<?x3xf32>, tensor<?x3xi32>)
  // E == 1.
  %d, %di, %ds = moe.route %x, %w1 top_k(1) score(sigmoid) normalize : (tensor<?x16xf32>, tensor<1x16xf32>) -> (tensor<?x1xf32>, tensor<?x1xi32>, tensor<?x1xf32>)
  // Dynamic everywhere: no static check applies to E.
  %e, %ei, %es = moe.route %xd, %wd bias(%bd) top_k(64) n_group(7) topk_group(7) : (tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>) -> (tensor<?x?xf32>, tensor<?x?xi32>, tensor<?x?xf32>)
  return
}

// -----

func.func @accepted_dispatch_boundaries(%x: tensor<8x16xf32>, %i: tensor<8x4xi32>, %xd: tensor<?x?xf32>, %id: tensor<?x?xi64>, %wd: tensor<?x?xf32>, %x1: tensor<8x16xf32>, %i1: tensor<8x1xi32>) {
  // top_k == num_experts; min_capacity(0); C = min(8, ceil(1.0 * 8 * 4 / 4)) = 8.
  %r, %s, %o = moe.dispatch %x, %i num_experts(4) mode(capacity) capacity_factor(1.0) min_capacity(0) : (tensor<8x16xf32>, tensor<8x4xi32>) -> (tensor<4x8x16xf32>, tensor<4xi32>, tensor<8x4xi32>)
  // E == 1.
  %r1, %s1, %o1 = moe.dispatch %x1, %i1 num_experts(1) : (tensor<8x16xf32>, tensor<8x1xi32>) -> (tensor<8x16xf32>, tensor<2xi32>, tensor<8x1xi32>)
  // A tiny capacity factor rounds up to 1 row per expert: ceil(0.01 * 8 / 1) = 1.
  %r2, %s2, %o2 = moe.dispatch %x1, %i1 num_experts(1) mode(capacity) capacity_factor(0.01) : (tensor<8x16xf32>, tensor<8x1xi32>) -> (tensor<1x1x16xf32>, tensor<1xi32>, tensor<8x1xi32>)
  // A capacity factor far past T * K / E: C is clamped to T = 8.
  %r3, %s3, %o3 = moe.dispatch %x1, %i1 num_experts(1) mode(capacity) capacity_factor(1.0e300) : (tensor<8x16xf32>, tensor<8x1xi32>) -> (tensor<1x8x16xf32>, tensor<1xi32>, tensor<8x1xi32>)
  // Dynamic everywhere.
  %rd, %sd, %od = moe.dispatch %xd, %id weights(%wd) num_experts(3) mode(capacity) capacity_factor(1.5) min_capacity(0) drop_policy(score) : (tensor<?x?xf32>, tensor<?x?xi64>, tensor<?x?xf32>) -> (tensor<?x?x?xf32>, tensor<?xi32>, tensor<?x?xi32>)
  return
}

// -----

func.func @accepted_experts_boundaries(%rows: tensor<?x?xf32>, %off: tensor<?xi64>, %wu: tensor<?x?x?xbf16>, %wd: tensor<?x?x?xbf16>, %r1: tensor<0x16xf32>, %o1: tensor<2xi32>, %u1: tensor<1x1x16xf32>, %d1: tensor<1x16x1xf32>) {
  %a = moe.experts %rows, %off up_proj(%wu) down_proj(%wd) activation(relu) : (tensor<?x?xf32>, tensor<?xi64>, tensor<?x?x?xbf16>, tensor<?x?x?xbf16>) -> tensor<?x?xf32>
  // E == 1, F == 1, no rows at all.
  %b = moe.experts %r1, %o1 up_proj(%u1) down_proj(%d1) activation(silu) : (tensor<0x16xf32>, tensor<2xi32>, tensor<1x1x16xf32>, tensor<1x16x1xf32>) -> tensor<0x16xf32>
  return
}

// -----

func.func @accepted_layer_boundaries(%x: tensor<?x?xf32>, %wr: tensor<?x?xf32>, %wg: tensor<?x?x?xf32>, %wu: tensor<?x?x?xf32>, %wd: tensor<?x?x?xf32>, %sg: tensor<?x?xf32>, %su: tensor<?x?xf32>, %sd: tensor<?x?xf32>, %seg: tensor<?x?xf32>) {
  %y = moe.layer %x router(%wr) gate_proj(%wg) up_proj(%wu) down_proj(%wd) shared_gate_proj(%sg) shared_up_proj(%su) shared_down_proj(%sd) shared_expert_gate(%seg) top_k(6) n_group(3) topk_group(3) mode(capacity) capacity_factor(1.0) min_capacity(0) activation(silu_glu) : (tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  return
}

// -----

func.func @accepted_peer_boundaries(%x: tensor<?x16xf32>, %wq: tensor<4x16xf32>, %k: tensor<2x1x2xf32>, %u: tensor<1x16xf32>, %v: tensor<1x16xf32>, %xd: tensor<?x?xf32>, %wqd: tensor<?x?xf32>, %kd: tensor<?x?x?xf32>, %ud: tensor<?x?xf32>, %vd: tensor<?x?xf32>) {
  // n == 1 (N == 1), top_k == n, Dk == 4.
  %a = moe.peer %x query(%wq) keys(%k) down_embed(%u) up_embed(%v) heads(1) top_k(1) : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<2x1x2xf32>, tensor<1x16xf32>, tensor<1x16xf32>) -> tensor<?x16xf32>
  %b = moe.peer %xd query(%wqd) keys(%kd) down_embed(%ud) up_embed(%vd) heads(3) top_k(32) activation(gelu) : (tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  return
}

// -----

func.func @accepted_loss_boundaries(%s: tensor<6x4xf32>, %i: tensor<6x4xi32>, %sd: tensor<?x?xf32>, %id: tensor<?x?xi64>) {
  // top_k == num_experts.
  %a = moe.load_balancing_loss %s, %i : (tensor<6x4xf32>, tensor<6x4xi32>) -> f32
  %b = moe.load_balancing_loss %sd, %id : (tensor<?x?xf32>, tensor<?x?xi64>) -> f32
  %c = moe.router_z_loss %sd : (tensor<?x?xf32>) -> f32
  return
}

// -----

func.func @accepted_repeat_huge_count(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %y = moe.repeat 9223372036854775807 schedule(resident) iter_args(%h = %x) : tensor<4x16xf32> {
    moe.yield %h : tensor<4x16xf32>
  }
  return %y : tensor<4x16xf32>
}
