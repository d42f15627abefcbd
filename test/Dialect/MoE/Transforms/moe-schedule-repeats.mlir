// RUN: moe-opt %s --split-input-file --moe-schedule-repeats | FileCheck %s --enable-var-scope
// RUN: moe-opt %s --split-input-file --moe-schedule-repeats="cache-bytes=1048576" | FileCheck %s --check-prefix=LARGE --enable-var-scope
// RUN: moe-opt %s --split-input-file --moe-schedule-repeats="cache-bytes=1024" | FileCheck %s --check-prefix=SMALL --enable-var-scope
// RUN: moe-opt %s --split-input-file --moe-schedule-repeats="max-unroll-count=0" | FileCheck %s --check-prefix=NOUNROLL --enable-var-scope

// moe-schedule-repeats: each auto moe.repeat is unrolled, kept resident or
// kept as a loop, from the size of its shared weights against the module's
// #moe.target (shared_cache_bytes) or the cache-bytes option, its count and
// the size of its body.

// The 16 KiB weight fits the target's 64 KiB cache: the loop stays and is
// marked resident. A 1 KiB budget (cache-bytes=1024) overrides the target
// and keeps a plain loop (the count, 8, is too high to unroll).

module attributes {moe.target = #moe.target<kind = cpu, shared_cache_bytes = 65536>} {
// CHECK-LABEL: func.func @fits_cache
// CHECK-SAME: (%[[X:.+]]: tensor<4x64xf32>, %[[W:.+]]: tensor<64x64xf32>)
// CHECK: %[[Y:.+]] = moe.repeat 8 schedule(resident) iter_args(%[[H:.+]] = %[[X]]) : tensor<4x64xf32> {
// CHECK-NEXT: %[[E:.+]] = tensor.empty() : tensor<4x64xf32>
// CHECK-NEXT: %[[M:.+]] = linalg.matmul ins(%[[H]], %[[W]] : {{.*}}) outs(%[[E]] : tensor<4x64xf32>)
// CHECK-NEXT: moe.yield %[[M]] : tensor<4x64xf32>
// CHECK-NEXT: }
// CHECK-NEXT: return %[[Y]]

// SMALL-LABEL: func.func @fits_cache
// SMALL-NEXT: moe.repeat 8 iter_args(
func.func @fits_cache(%x: tensor<4x64xf32>, %w: tensor<64x64xf32>) -> tensor<4x64xf32> {
  %y = moe.repeat 8 iter_args(%h = %x) : tensor<4x64xf32> {
    %e = tensor.empty() : tensor<4x64xf32>
    %m = linalg.matmul ins(%h, %w : tensor<4x64xf32>, tensor<64x64xf32>)
        outs(%e : tensor<4x64xf32>) -> tensor<4x64xf32>
    moe.yield %m : tensor<4x64xf32>
  }
  return %y : tensor<4x64xf32>
}
}

// -----

// The 16 KiB weight does not fit an 8 KiB cache and the count is above
// max-unroll-count (4): the loop is kept as it is. With cache-bytes=1048576
// it fits and becomes resident.

module attributes {moe.target = #moe.target<kind = cpu, shared_cache_bytes = 8192>} {
// CHECK-LABEL: func.func @large_count
// CHECK: moe.repeat 8 iter_args(
// CHECK-NEXT: tensor.empty
// CHECK-NEXT: linalg.matmul

// LARGE-LABEL: func.func @large_count
// LARGE-NEXT: moe.repeat 8 schedule(resident) iter_args(
func.func @large_count(%x: tensor<4x64xf32>, %w: tensor<64x64xf32>) -> tensor<4x64xf32> {
  %y = moe.repeat 8 iter_args(%h = %x) : tensor<4x64xf32> {
    %e = tensor.empty() : tensor<4x64xf32>
    %m = linalg.matmul ins(%h, %w : tensor<4x64xf32>, tensor<64x64xf32>)
        outs(%e : tensor<4x64xf32>) -> tensor<4x64xf32>
    moe.yield %m : tensor<4x64xf32>
  }
  return %y : tensor<4x64xf32>
}
}

// -----

// Too big for the cache, but a small body repeated 3 times (<= 4): three
// copies in sequence, each reading what the previous one yields, the two
// iter_args swapped as the body swaps them. No repeat is left. With
// max-unroll-count=0 the loop is kept.

module attributes {moe.target = #moe.target<kind = cpu, shared_cache_bytes = 8192>} {
// CHECK-LABEL: func.func @small_body
// CHECK-SAME: (%[[X:.+]]: tensor<4x64xf32>, %[[Z:.+]]: tensor<4x64xf32>, %[[W:.+]]: tensor<64x64xf32>)
// CHECK-NOT: moe.repeat
// CHECK: %[[E0:.+]] = tensor.empty() : tensor<4x64xf32>
// CHECK-NEXT: %[[M0:.+]] = linalg.matmul ins(%[[X]], %[[W]] : {{.*}}) outs(%[[E0]] : {{.*}})
// CHECK-NEXT: %[[A0:.+]] = arith.addf %[[M0]], %[[Z]] : tensor<4x64xf32>
// CHECK-NEXT: %[[E1:.+]] = tensor.empty() : tensor<4x64xf32>
// CHECK-NEXT: %[[M1:.+]] = linalg.matmul ins(%[[A0]], %[[W]] : {{.*}}) outs(%[[E1]] : {{.*}})
// CHECK-NEXT: %[[A1:.+]] = arith.addf %[[M1]], %[[M0]] : tensor<4x64xf32>
// CHECK-NEXT: %[[E2:.+]] = tensor.empty() : tensor<4x64xf32>
// CHECK-NEXT: %[[M2:.+]] = linalg.matmul ins(%[[A1]], %[[W]] : {{.*}}) outs(%[[E2]] : {{.*}})
// CHECK-NEXT: %[[A2:.+]] = arith.addf %[[M2]], %[[M1]] : tensor<4x64xf32>
// CHECK-NEXT: return %[[A2]], %[[M2]]
// CHECK-NOT: moe.repeat

// NOUNROLL-LABEL: func.func @small_body
// NOUNROLL-NEXT: moe.repeat 3 iter_args(
func.func @small_body(%x: tensor<4x64xf32>, %z: tensor<4x64xf32>, %w: tensor<64x64xf32>)
    -> (tensor<4x64xf32>, tensor<4x64xf32>) {
  %y:2 = moe.repeat 3 iter_args(%h = %x, %r = %z) : tensor<4x64xf32>, tensor<4x64xf32> {
    %e = tensor.empty() : tensor<4x64xf32>
    %m = linalg.matmul ins(%h, %w : tensor<4x64xf32>, tensor<64x64xf32>)
        outs(%e : tensor<4x64xf32>) -> tensor<4x64xf32>
    %a = arith.addf %m, %r : tensor<4x64xf32>
    moe.yield %a, %m : tensor<4x64xf32>, tensor<4x64xf32>
  }
  return %y#0, %y#1 : tensor<4x64xf32>, tensor<4x64xf32>
}
}

// -----

// A count of 1 reuses nothing: the body is inlined, even when the weights
// fit (and whatever the budget), unless unrolling is off.

module attributes {moe.target = #moe.target<kind = cpu, shared_cache_bytes = 65536>} {
// CHECK-LABEL: func.func @count_one
// CHECK-SAME: (%[[X:.+]]: tensor<4x64xf32>, %[[W:.+]]: tensor<64x64xf32>)
// CHECK-NOT: moe.repeat
// CHECK: %[[A:.+]] = arith.addf %[[X]], %[[X]]
// CHECK-NEXT: return %[[A]]

// NOUNROLL-LABEL: func.func @count_one
// NOUNROLL-NEXT: moe.repeat 1 iter_args(
func.func @count_one(%x: tensor<4x64xf32>, %w: tensor<64x64xf32>) -> tensor<4x64xf32> {
  %y = moe.repeat 1 iter_args(%h = %x) : tensor<4x64xf32> {
    %a = arith.addf %h, %h : tensor<4x64xf32>
    moe.yield %a : tensor<4x64xf32>
  }
  return %y : tensor<4x64xf32>
}
}

// -----

// Explicit schedules win over the cost model: `unroll` is unrolled although
// the weights fit and the count is above max-unroll-count; `resident` is
// kept although the weights do not fit (and has nothing to hoist).

module attributes {moe.target = #moe.target<kind = cpu, shared_cache_bytes = 65536>} {
// CHECK-LABEL: func.func @explicit_unroll
// CHECK-SAME: (%[[X:.+]]: tensor<4x64xf32>, %[[W:.+]]: tensor<64x64xf32>)
// CHECK-NOT: moe.repeat
// CHECK: %[[A0:.+]] = arith.addf %[[X]], %[[X]]
// CHECK-NEXT: %[[A1:.+]] = arith.addf %[[A0]], %[[A0]]
// CHECK-NEXT: %[[A2:.+]] = arith.addf %[[A1]], %[[A1]]
// CHECK-NEXT: %[[A3:.+]] = arith.addf %[[A2]], %[[A2]]
// CHECK-NEXT: %[[A4:.+]] = arith.addf %[[A3]], %[[A3]]
// CHECK-NEXT: %[[A5:.+]] = arith.addf %[[A4]], %[[A4]]
// CHECK-NEXT: return %[[A5]]
func.func @explicit_unroll(%x: tensor<4x64xf32>, %w: tensor<64x64xf32>) -> tensor<4x64xf32> {
  %y = moe.repeat 6 schedule(unroll) iter_args(%h = %x) : tensor<4x64xf32> {
    %a = arith.addf %h, %h : tensor<4x64xf32>
    moe.yield %a : tensor<4x64xf32>
  }
  return %y : tensor<4x64xf32>
}

// CHECK-LABEL: func.func @explicit_resident
// CHECK-SAME: (%[[X:.+]]: tensor<4x512xf32>, %[[W:.+]]: tensor<512x512xf32>)
// CHECK-NEXT: %[[Y:.+]] = moe.repeat 8 schedule(resident) iter_args(%[[H:.+]] = %[[X]]) : tensor<4x512xf32> {
// CHECK-NEXT: %[[E:.+]] = tensor.empty() : tensor<4x512xf32>
// CHECK-NEXT: %[[M:.+]] = linalg.matmul ins(%[[H]], %[[W]] : {{.*}}) outs(%[[E]] : tensor<4x512xf32>)
// CHECK-NEXT: moe.yield %[[M]] : tensor<4x512xf32>
// CHECK-NEXT: }
// CHECK-NEXT: return %[[Y]]
func.func @explicit_resident(%x: tensor<4x512xf32>, %w: tensor<512x512xf32>) -> tensor<4x512xf32> {
  %y = moe.repeat 8 schedule(resident) iter_args(%h = %x) : tensor<4x512xf32> {
    %e = tensor.empty() : tensor<4x512xf32>
    %m = linalg.matmul ins(%h, %w : tensor<4x512xf32>, tensor<512x512xf32>)
        outs(%e : tensor<4x512xf32>) -> tensor<4x512xf32>
    moe.yield %m : tensor<4x512xf32>
  }
  return %y : tensor<4x512xf32>
}
}

// -----

// A resident body computes once, before the loop, what depends only on
// values defined outside it: the transposed and the bf16-converted weight
// (with the tensor.empty they write into) and the scale. The init of the
// per-iteration matmul (an empty and a fill, invariant too) stays in the
// body, so that each iteration writes a fresh tensor.

module attributes {moe.target = #moe.target<kind = cpu, shared_cache_bytes = 1048576>} {
// CHECK-LABEL: func.func @hoist_weight_transforms
// CHECK-SAME: (%[[X:.+]]: tensor<?x64xf32>, %[[W:.+]]: tensor<32x64xbf16>, %[[S:.+]]: f32)
// CHECK-DAG: %[[C0:.+]] = arith.constant 0 : index
// CHECK-DAG: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[T:.+]] = tensor.dim %[[X]], %[[C0]]
// CHECK: %[[TE:.+]] = tensor.empty() : tensor<64x32xbf16>
// CHECK-NEXT: %[[WT:.+]] = linalg.transpose ins(%[[W]] : tensor<32x64xbf16>) outs(%[[TE]] : tensor<64x32xbf16>) permutation = [1, 0]
// CHECK-NEXT: %[[CE:.+]] = tensor.empty() : tensor<64x32xf32>
// CHECK-NEXT: %[[WF:.+]] = linalg.generic {{.*}} ins(%[[WT]] : tensor<64x32xbf16>) outs(%[[CE]] : tensor<64x32xf32>)
// CHECK: arith.extf
// CHECK: } -> tensor<64x32xf32>
// CHECK-NEXT: %[[HALF:.+]] = arith.mulf %[[S]], %[[S]] : f32
// CHECK-NEXT: %[[Y:.+]] = moe.repeat 4 schedule(resident) iter_args(%[[H:.+]] = %[[X]]) : tensor<?x64xf32> {
// CHECK-NEXT: %[[ME:.+]] = tensor.empty(%[[T]]) : tensor<?x32xf32>
// CHECK-NEXT: %[[MI:.+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[ME]] : tensor<?x32xf32>)
// CHECK-NEXT: %[[M:.+]] = linalg.matmul ins(%[[H]], %[[WF]] : tensor<?x64xf32>, tensor<64x32xf32>) outs(%[[MI]] : tensor<?x32xf32>)
// CHECK-NEXT: %[[P:.+]] = linalg.generic {{.*}} ins(%[[M]] : tensor<?x32xf32>) outs(%[[H]] : tensor<?x64xf32>)
// CHECK: arith.mulf %{{.+}}, %[[HALF]]
// CHECK: } -> tensor<?x64xf32>
// CHECK-NEXT: moe.yield %[[P]]
// CHECK-NEXT: }
// CHECK-NEXT: return %[[Y]]
func.func @hoist_weight_transforms(%x: tensor<?x64xf32>, %w: tensor<32x64xbf16>, %s: f32)
    -> tensor<?x64xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %t = tensor.dim %x, %c0 : tensor<?x64xf32>
  %y = moe.repeat 4 iter_args(%h = %x) : tensor<?x64xf32> {
    %te = tensor.empty() : tensor<64x32xbf16>
    %wt = linalg.transpose ins(%w : tensor<32x64xbf16>) outs(%te : tensor<64x32xbf16>) permutation = [1, 0]
    %ce = tensor.empty() : tensor<64x32xf32>
    %wf = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                          iterator_types = ["parallel", "parallel"]}
        ins(%wt : tensor<64x32xbf16>) outs(%ce : tensor<64x32xf32>) {
    ^bb0(%v: bf16, %o: f32):
      %f = arith.extf %v : bf16 to f32
      linalg.yield %f : f32
    } -> tensor<64x32xf32>
    %me = tensor.empty(%t) : tensor<?x32xf32>
    %mi = linalg.fill ins(%zero : f32) outs(%me : tensor<?x32xf32>) -> tensor<?x32xf32>
    %m = linalg.matmul ins(%h, %wf : tensor<?x64xf32>, tensor<64x32xf32>)
        outs(%mi : tensor<?x32xf32>) -> tensor<?x32xf32>
    %half = arith.mulf %s, %s : f32
    %p = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j floordiv 2)>, affine_map<(i, j) -> (i, j)>],
                         iterator_types = ["parallel", "parallel"]}
        ins(%m : tensor<?x32xf32>) outs(%h : tensor<?x64xf32>) {
    ^bb0(%v: f32, %o: f32):
      %q = arith.mulf %v, %half : f32
      %r = arith.addf %q, %o : f32
      linalg.yield %r : f32
    } -> tensor<?x64xf32>
    moe.yield %p : tensor<?x64xf32>
  }
  return %y : tensor<?x64xf32>
}
}

// -----

// Nested repeats are scheduled innermost first: the inner loop (its 16 KiB
// weight fits) becomes resident and hoists the negated weight into the outer
// body; the outer loop (same weight) becomes resident too and hoists it
// further, before both loops.

module attributes {moe.target = #moe.target<kind = cpu, shared_cache_bytes = 65536>} {
// CHECK-LABEL: func.func @nested
// CHECK-SAME: (%[[X:.+]]: tensor<64x64xf32>, %[[W:.+]]: tensor<64x64xf32>)
// CHECK-NEXT: %[[N:.+]] = arith.negf %[[W]] : tensor<64x64xf32>
// CHECK-NEXT: %[[Y:.+]] = moe.repeat 8 schedule(resident) iter_args(%[[H:.+]] = %[[X]]) : tensor<64x64xf32> {
// CHECK-NEXT: %[[I:.+]] = moe.repeat 8 schedule(resident) iter_args(%[[K:.+]] = %[[H]]) : tensor<64x64xf32> {
// CHECK-NEXT: %[[A:.+]] = arith.addf %[[K]], %[[N]]
// CHECK-NEXT: moe.yield %[[A]]
// CHECK-NEXT: }
// CHECK-NEXT: moe.yield %[[I]]
// CHECK-NEXT: }
// CHECK-NEXT: return %[[Y]]
func.func @nested(%x: tensor<64x64xf32>, %w: tensor<64x64xf32>) -> tensor<64x64xf32> {
  %y = moe.repeat 8 iter_args(%h = %x) : tensor<64x64xf32> {
    %i = moe.repeat 8 iter_args(%k = %h) : tensor<64x64xf32> {
      %n = arith.negf %w : tensor<64x64xf32>
      %a = arith.addf %k, %n : tensor<64x64xf32>
      moe.yield %a : tensor<64x64xf32>
    }
    moe.yield %i : tensor<64x64xf32>
  }
  return %y : tensor<64x64xf32>
}
}
