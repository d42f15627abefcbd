// RUN: moe-run %s --entry=softmax --print | FileCheck %s --check-prefix=SOFTMAX
// RUN: moe-run %s --entry=sigmoid_groups --print | FileCheck %s --check-prefix=GROUPS

// moe.route executed on tiny inputs whose results are worked out by hand
// (DESIGN.md 3.2). The router is the identity, so the logits are the rows
// of %x. Printed with 6 significant digits, so f32 rounding does not show.

// Row 0: logits [0, ln 3, ln 2, 0] -> softmax [1, 3, 2, 1] / 7; top 2 are
//        experts 1, 2 with 3/7, 2/7; normalized 0.6, 0.4; scale 2 -> 1.2, 0.8.
//        softmax_topk: softmax([ln 3, ln 2]) = 0.6, 0.4.
// Row 1: all logits 0: every expert ties -> 0, 1 (index order), 1/4 each.
// Row 2: a NaN in x makes every logit NaN (NaN * 0 is NaN): NaN ranks as
//        -inf, so 0, 1 with NaN weights.
// Row 3: -0.0 == +0.0 and 2 == 2: experts 2, 3, equal weights.
// SOFTMAX:      result0: tensor<4x2xf32> =
// SOFTMAX-NEXT: {{^}}{{\[}}[1.2, 0.8],
// SOFTMAX-NEXT: {{^}} [1, 1],
// SOFTMAX-NEXT: {{^}} [nan, nan],
// SOFTMAX-NEXT: {{^}} [1, 1]]
// SOFTMAX-NEXT: result1: tensor<4x2xi32> =
// SOFTMAX-NEXT: {{^}}{{\[}}[1, 2],
// SOFTMAX-NEXT: {{^}} [0, 1],
// SOFTMAX-NEXT: {{^}} [0, 1],
// SOFTMAX-NEXT: {{^}} [2, 3]]
// SOFTMAX-NEXT: result2: tensor<4x2xf32> =
// SOFTMAX-NEXT: {{^}}{{\[}}[0.6, 0.4],
// SOFTMAX-NEXT: {{^}} [0.5, 0.5],
// SOFTMAX-NEXT: {{^}} [nan, nan],
// SOFTMAX-NEXT: {{^}} [0.5, 0.5]]
// SOFTMAX-NEXT: result3: tensor<4x2xi32> =
// SOFTMAX-NEXT: {{^}}{{\[}}[1, 2],
// SOFTMAX-NEXT: {{^}} [0, 1],
// SOFTMAX-NEXT: {{^}} [0, 1],
// SOFTMAX-NEXT: {{^}} [2, 3]]
func.func @softmax() -> (tensor<4x2xf32>, tensor<4x2xi32>, tensor<4x2xf32>, tensor<4x2xi32>) {
  %x = arith.constant dense<[[0.0, 1.0986122886681098, 0.6931471805599453, 0.0],
                             [0.0, 0.0, 0.0, 0.0],
                             [0.0, 0x7FC00000, 0.0, 0.0],
                             [-0.0, 0.0, 2.0, 2.0]]> : tensor<4x4xf32>
  %r = arith.constant dense<[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0],
                             [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]> : tensor<4x4xf32>
  %w, %i = moe.route %x, %r top_k(2) normalize scale(2.0) : (tensor<4x4xf32>, tensor<4x4xf32>) -> (tensor<4x2xf32>, tensor<4x2xi32>)
  %w2, %i2 = moe.route %x, %r top_k(2) score(softmax_topk) : (tensor<4x4xf32>, tensor<4x4xf32>) -> (tensor<4x2xf32>, tensor<4x2xi32>)
  return %w, %i, %w2, %i2 : tensor<4x2xf32>, tensor<4x2xi32>, tensor<4x2xf32>, tensor<4x2xi32>
}

// DeepSeek-style: sigmoid(0) = 0.5 for every expert; the selection-only
// bias makes sel = [0.7, 0.7, 0.8, 0.3]; groups (0, 1) and (2, 3).
// top2_sum: 1.4 vs 1.1 -> group 0 -> experts 0, 1 (a tie: index order);
//           weights s = 0.5, 0.5, normalized and scaled by 2.5 -> 1.25.
// max:      0.7 vs 0.8 -> group 1 -> experts 2, 3; weights s = 0.5, 0.5
//           (the bias does not enter the weights).
// GROUPS:      result0: tensor<2x2xf32> =
// GROUPS-NEXT: {{^}}{{\[}}[1.25, 1.25],
// GROUPS-NEXT: {{^}} [1.25, 1.25]]
// GROUPS-NEXT: result1: tensor<2x2xi32> =
// GROUPS-NEXT: {{^}}{{\[}}[0, 1],
// GROUPS-NEXT: {{^}} [0, 1]]
// GROUPS-NEXT: result2: tensor<2x2xf32> =
// GROUPS-NEXT: {{^}}{{\[}}[0.5, 0.5],
// GROUPS-NEXT: {{^}} [0.5, 0.5]]
// GROUPS-NEXT: result3: tensor<2x2xi32> =
// GROUPS-NEXT: {{^}}{{\[}}[2, 3],
// GROUPS-NEXT: {{^}} [2, 3]]
func.func @sigmoid_groups() -> (tensor<2x2xf32>, tensor<2x2xi32>, tensor<2x2xf32>, tensor<2x2xi32>) {
  %x = arith.constant dense<0.0> : tensor<2x4xf32>
  %r = arith.constant dense<1.0> : tensor<4x4xf32>
  %b = arith.constant dense<[0.2, 0.2, 0.3, -0.2]> : tensor<4xf32>
  %w, %i = moe.route %x, %r bias(%b) top_k(2) score(sigmoid) normalize scale(2.5) n_group(2) topk_group(1) group_score(top2_sum) : (tensor<2x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> (tensor<2x2xf32>, tensor<2x2xi32>)
  %w2, %i2 = moe.route %x, %r bias(%b) top_k(2) score(sigmoid) n_group(2) topk_group(1) group_score(max) : (tensor<2x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> (tensor<2x2xf32>, tensor<2x2xi32>)
  return %w, %i, %w2, %i2 : tensor<2x2xf32>, tensor<2x2xi32>, tensor<2x2xf32>, tensor<2x2xi32>
}
