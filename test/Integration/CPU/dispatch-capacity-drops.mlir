// RUN: moe-run %s --entry=capacity --print | FileCheck %s --check-prefix=CAP
// RUN: moe-run %s --entry=dropless --print | FileCheck %s --check-prefix=DROPLESS

// moe.dispatch executed, results worked out by hand (DESIGN.md 3.3).
//
// Capacity: T = 4, K = 2, E = 2, capacity_factor 0.5:
// C = min(4, max(0, ceil(0.5 * 4 * 2 / 2))) = 2. Expert 0 gets 5
// assignments, (0,0) (1,0) (2,0) (2,1) (3,1); expert 1 gets 3, (0,1) (1,1)
// (3,0).
// position: the first two of each in (token, slot) order survive;
//   row_of = e*C + pos; counts 2, 2; tokens 2 and 3 lose everything.
// CAP:      result0: tensor<2x2x2xf32> =
// CAP-NEXT: {{^}}{{\[\[}}[1, -1],
// CAP-NEXT: {{^}}  [2, -2]],
// CAP-NEXT: {{^}} {{\[}}[1, -1],
// CAP-NEXT: {{^}}  [2, -2]]]
// CAP-NEXT: result1: tensor<2xi32> =
// CAP-NEXT: {{^}}[2, 2]
// CAP-NEXT: result2: tensor<4x2xi32> =
// CAP-NEXT: {{^}}{{\[}}[0, 2],
// CAP-NEXT: {{^}} [1, 3],
// CAP-NEXT: {{^}} [-1, -1],
// CAP-NEXT: {{^}} [-1, -1]]
// score: the two heaviest of each expert survive. Expert 0: (2,0) and
//   (2,1) at 0.5 beat (3,1) 0.3, (1,0) 0.2, (0,0) 0.1; expert 1: 0.9, 0.8
//   beat 0.7. The survivors keep (token, slot) order in the buffer.
// CAP-NEXT: result3: tensor<2x2x2xf32> =
// CAP-NEXT: {{^}}{{\[\[}}[3, -3],
// CAP-NEXT: {{^}}  [3, -3]],
// CAP-NEXT: {{^}} {{\[}}[1, -1],
// CAP-NEXT: {{^}}  [2, -2]]]
// CAP-NEXT: result4: tensor<2xi32> =
// CAP-NEXT: {{^}}[2, 2]
// CAP-NEXT: result5: tensor<4x2xi32> =
// CAP-NEXT: {{^}}{{\[}}[-1, 2],
// CAP-NEXT: {{^}} [-1, 3],
// CAP-NEXT: {{^}} [0, 1],
// CAP-NEXT: {{^}} [-1, -1]]
// combine skips the dropped assignments (their weights are not
// renormalized): y0 = 0.9 x0, y1 = 0.8 x1, y2 = (0.5 + 0.5) x2, y3 = 0.
// CAP-NEXT: result6: tensor<4x2xf32> =
// CAP-NEXT: {{^}}{{\[}}[0.9, -0.9],
// CAP-NEXT: {{^}} [1.6, -1.6],
// CAP-NEXT: {{^}} [3, -3],
// CAP-NEXT: {{^}} [0, 0]]
func.func @capacity() -> (tensor<2x2x2xf32>, tensor<2xi32>, tensor<4x2xi32>, tensor<2x2x2xf32>, tensor<2xi32>, tensor<4x2xi32>, tensor<4x2xf32>) {
  %x = arith.constant dense<[[1.0, -1.0], [2.0, -2.0], [3.0, -3.0], [4.0, -4.0]]> : tensor<4x2xf32>
  %idx = arith.constant dense<[[0, 1], [0, 1], [0, 0], [1, 0]]> : tensor<4x2xi32>
  %w = arith.constant dense<[[0.1, 0.9], [0.2, 0.8], [0.5, 0.5], [0.7, 0.3]]> : tensor<4x2xf32>
  %buf, %counts, %slot = moe.dispatch %x, %idx num_experts(2) mode(capacity) capacity_factor(0.5) : (tensor<4x2xf32>, tensor<4x2xi32>) -> (tensor<2x2x2xf32>, tensor<2xi32>, tensor<4x2xi32>)
  %buf2, %counts2, %slot2 = moe.dispatch %x, %idx weights(%w) num_experts(2) mode(capacity) capacity_factor(0.5) drop_policy(score) : (tensor<4x2xf32>, tensor<4x2xi32>, tensor<4x2xf32>) -> (tensor<2x2x2xf32>, tensor<2xi32>, tensor<4x2xi32>)
  %y = moe.combine %buf2, %w, %slot2 : (tensor<2x2x2xf32>, tensor<4x2xf32>, tensor<4x2xi32>) -> tensor<4x2xf32>
  return %buf, %counts, %slot, %buf2, %counts2, %slot2, %y : tensor<2x2x2xf32>, tensor<2xi32>, tensor<4x2xi32>, tensor<2x2x2xf32>, tensor<2xi32>, tensor<4x2xi32>, tensor<4x2xf32>
}

// Dropless with experts outside [0, E) (-1 and 2), which are ignored: rows
// sorted by (expert, token, slot): expert 0 has (0,0) (2,1) (3,1), expert 1
// has (0,1) (1,0) (1,1); offsets [0, 3, 6]; the last two of the T*K = 8
// rows stay zero.
// DROPLESS:      result0: tensor<8x2xf32> =
// DROPLESS-NEXT: {{^}}{{\[}}[1, -1],
// DROPLESS-NEXT: {{^}} [3, -3],
// DROPLESS-NEXT: {{^}} [4, -4],
// DROPLESS-NEXT: {{^}} [1, -1],
// DROPLESS-NEXT: {{^}} [2, -2],
// DROPLESS-NEXT: {{^}} [2, -2],
// DROPLESS-NEXT: {{^}} [0, 0],
// DROPLESS-NEXT: {{^}} [0, 0]]
// DROPLESS-NEXT: result1: tensor<3xi32> =
// DROPLESS-NEXT: {{^}}[0, 3, 6]
// DROPLESS-NEXT: result2: tensor<4x2xi32> =
// DROPLESS-NEXT: {{^}}{{\[}}[0, 3],
// DROPLESS-NEXT: {{^}} [4, 5],
// DROPLESS-NEXT: {{^}} [-1, 1],
// DROPLESS-NEXT: {{^}} [-1, 2]]
func.func @dropless() -> (tensor<8x2xf32>, tensor<3xi32>, tensor<4x2xi32>) {
  %x = arith.constant dense<[[1.0, -1.0], [2.0, -2.0], [3.0, -3.0], [4.0, -4.0]]> : tensor<4x2xf32>
  %idx = arith.constant dense<[[0, 1], [1, 1], [-1, 0], [2, 0]]> : tensor<4x2xi32>
  %rows, %offsets, %row_of = moe.dispatch %x, %idx num_experts(2) : (tensor<4x2xf32>, tensor<4x2xi32>) -> (tensor<8x2xf32>, tensor<3xi32>, tensor<4x2xi32>)
  return %rows, %offsets, %row_of : tensor<8x2xf32>, tensor<3xi32>, tensor<4x2xi32>
}
