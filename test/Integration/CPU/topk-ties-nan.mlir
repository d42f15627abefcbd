// RUN: moe-run %s --entry=f32_ties_nan --print | FileCheck %s --check-prefix=F32
// RUN: moe-run %s --entry=bf16_ties --print | FileCheck %s --check-prefix=BF16
// RUN: moe-run %s --entry=f64_rank1 --print | FileCheck %s --check-prefix=F64

// moe.topk executed, with the exact values worked out by hand from the
// order of DESIGN.md 3.1: value descending, then index ascending; NaN ranks
// as -inf (below every number, tied with -inf and then ordered by index);
// -0.0 == +0.0; an all-NaN row selects 0..k-1; the values are the original
// ones (NaN and the sign of zero included). The inputs are constants, so
// the checks do not depend on how moe-run reads .npy files.

// Row 0: three 3s tie -> indices 1, 2, 4, then the 2 at index 3.
// Row 1: keys [-inf, 1, -inf, -inf, 0, 1] -> 1, 5 (tie), 4, then the first
//        of the -inf ties (NaN at index 0), whose value stays NaN.
// Row 2: all NaN -> 0, 1, 2, 3.
// Row 3: 5, 5 at 3, 4; then -0.0 (index 0) and +0.0 (index 1) tie: index
//        order, each with its own sign.
// F32:      result0: tensor<4x4xf32> =
// F32-NEXT: {{^}}{{\[}}[3, 3, 3, 2],
// F32-NEXT: {{^}} [1, 1, 0, nan],
// F32-NEXT: {{^}} [nan, nan, nan, nan],
// F32-NEXT: {{^}} [5, 5, -0, 0]]
// F32-NEXT: result1: tensor<4x4xi32> =
// F32-NEXT: {{^}}{{\[}}[1, 2, 4, 3],
// F32-NEXT: {{^}} [1, 5, 4, 0],
// F32-NEXT: {{^}} [0, 1, 2, 3],
// F32-NEXT: {{^}} [3, 4, 0, 1]]
func.func @f32_ties_nan() -> (tensor<4x4xf32>, tensor<4x4xi32>) {
  %x = arith.constant dense<[[1.0, 3.0, 3.0, 2.0, 3.0, 0.0],
                             [0x7FC00000, 1.0, 0x7FC00000, 0xFF800000, 0.0, 1.0],
                             [0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000],
                             [-0.0, 0.0, -0.0, 5.0, 5.0, -1.0]]> : tensor<4x6xf32>
  %v, %i = moe.topk %x k(4) : tensor<4x6xf32> -> tensor<4x4xf32>, tensor<4x4xi32>
  return %v, %i : tensor<4x4xf32>, tensor<4x4xi32>
}

// bf16 rows rank in f32, i64 indices. 1.00390625 rounds to 1.0 in bf16, so
// it ties with index 0. Row 1: keys [-inf, -inf, -inf, -3, -inf, -inf] ->
// -3, then NaN (index 0) and -inf (index 1) in index order.
// BF16:      result0: tensor<2x3xbf16> =
// BF16-NEXT: {{^}}{{\[}}[2, 2, 1],
// BF16-NEXT: {{^}} [-3, nan, -inf]]
// BF16-NEXT: result1: tensor<2x3xi64> =
// BF16-NEXT: {{^}}{{\[}}[2, 5, 0],
// BF16-NEXT: {{^}} [3, 0, 1]]
func.func @bf16_ties() -> (tensor<2x3xbf16>, tensor<2x3xi64>) {
  %x = arith.constant dense<[[1.0, 1.00390625, 2.0, 0x7FC0, -0.0, 2.0],
                             [0x7FC0, 0xFF80, 0x7FC0, -3.0, 0xFF80, 0x7FC0]]> : tensor<2x6xbf16>
  %v, %i = moe.topk %x k(3) : tensor<2x6xbf16> -> tensor<2x3xbf16>, tensor<2x3xi64>
  return %v, %i : tensor<2x3xbf16>, tensor<2x3xi64>
}

// f64 rows rank in f64: 1 + 2^-52 (index 1) beats 1.0 (index 0), which
// ties with the 1.0 at index 4; NaN (index 3) comes last.
// F64:      result0: tensor<3xf64> =
// F64-NEXT: {{^}}[1, 1, 1]
// F64-NEXT: result1: tensor<3xi32> =
// F64-NEXT: {{^}}[1, 0, 4]
func.func @f64_rank1() -> (tensor<3xf64>, tensor<3xi32>) {
  %x = arith.constant dense<[1.0, 1.0000000000000002, 0.5, 0x7FF8000000000000, 1.0]> : tensor<5xf64>
  %v, %i = moe.topk %x k(3) : tensor<5xf64> -> tensor<3xf64>, tensor<3xi32>
  return %v, %i : tensor<3xf64>, tensor<3xi32>
}
