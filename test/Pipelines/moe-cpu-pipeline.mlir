// RUN: moe-opt %s --moe-cpu-pipeline | FileCheck %s --enable-var-scope
// RUN: moe-opt %s --moe-cpu-pipeline | FileCheck %s --check-prefix=CLEAN
// RUN: moe-opt %s --moe-cpu-pipeline | FileCheck %s --check-prefix=SCHED
// RUN: moe-opt %s --moe-cpu-pipeline="openmp=false c-interface=false" | FileCheck %s --check-prefix=SERIAL
// RUN: moe-opt %s --moe-cpu-pipeline | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR

// moe-cpu-pipeline takes a moe graph (a moe.layer with shared experts, a
// moe.topk, a moe.repeat around a routed layer) to nothing but llvm and omp
// ops: the per-token and per-expert loops run on OpenMP threads, every
// public function gets a C wrapper and records its buffer signature.

// No moe op, no linalg op, nothing of another dialect is left (attribute
// names such as moe.signature are not ops).
// CLEAN-NOT: {{^ *(%[^ ]+ = )?"?(moe|linalg|tensor|memref|scf|cf|arith|math|func|bufferization)\.}}
// CLEAN-NOT: unrealized_conversion_cast
// CLEAN-NOT: tensor<

// CHECK-LABEL: llvm.func @moe_block(
// CHECK-SAME: -> !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>
// CHECK-SAME: llvm.emit_c_interface
// CHECK-SAME: moe.signature = (memref<?x16xf32>, memref<4x16xf32>, memref<4x32x16xf32>, memref<4x32x16xf32>, memref<4x16x32xf32>, memref<64x16xf32>, memref<64x16xf32>, memref<16x64xf32>) -> memref<?x16xf32>
// The routed experts and tokens run in parallel.
// CHECK: omp.parallel
// CHECK: omp.wsloop
// CHECK: omp.loop_nest
// Exactly the prefill variant's two loops over whole experts (one F-tile
// run per iteration) are dealt out dynamically; the decode variant's loops
// over (expert, F-tile run), the shared expert's and the per-token loops
// keep the static schedule.
// SCHED-COUNT-2: omp.wsloop schedule(dynamic)
// SCHED-NOT: schedule(dynamic)
// The repeat is a loop around the block (a back edge to a header).
// CHECK: llvm.cond_br
// SiLU and softmax use the exp intrinsic.
// CHECK: llvm.intr.exp
// Buffers come from the runtime's heap functions (libmoe_runtime keeps
// large ones between calls), not from malloc and free directly.
// CHECK: llvm.call @_mlir_memref_to_llvm_alloc
// CHECK: llvm.call @_mlir_memref_to_llvm_free

// The C wrapper takes each memref descriptor by pointer and returns the
// result through a pointer in its first argument.
// CHECK-LABEL: llvm.func @_mlir_ciface_moe_block(
// CHECK-SAME: %{{[^:]+}}: !llvm.ptr, %{{[^:]+}}: !llvm.ptr, %{{[^:]+}}: !llvm.ptr, %{{[^:]+}}: !llvm.ptr, %{{[^:]+}}: !llvm.ptr, %{{[^:]+}}: !llvm.ptr, %{{[^:]+}}: !llvm.ptr, %{{[^:]+}}: !llvm.ptr, %{{[^:]+}}: !llvm.ptr)
// CHECK: llvm.call @moe_block(

// Without OpenMP, the parallel loops are plain loops; without the C
// interface, no wrapper.
// SERIAL-NOT: omp.
// SERIAL-NOT: _mlir_ciface_
// SERIAL: llvm.func @moe_block(
// SERIAL-NOT: llvm.emit_c_interface
// SERIAL-SAME: moe.signature
// SERIAL-NOT: omp.
// SERIAL-NOT: _mlir_ciface_

// The output translates to LLVM IR: the OpenMP regions are outlined and
// forked through libomp; GELU's erf is a libm call.
// LLVMIR-DAG: define { ptr, ptr, i64, [2 x i64], [2 x i64] } @moe_block(
// LLVMIR-DAG: define void @_mlir_ciface_moe_block(
// LLVMIR-DAG: define void @_mlir_ciface_topk_with_ties(
// LLVMIR-DAG: define internal void @moe_block..omp_par
// LLVMIR-DAG: call void (ptr, i32, ptr, ...) @__kmpc_fork_call(
// LLVMIR-DAG: call float @erff(

func.func @moe_block(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>,
    %wg: tensor<4x32x16xf32>, %wu: tensor<4x32x16xf32>,
    %wd: tensor<4x16x32xf32>, %sg: tensor<64x16xf32>,
    %su: tensor<64x16xf32>, %sd: tensor<16x64xf32>) -> tensor<?x16xf32> {
  // A DeepSeek-style layer: routed experts plus always-on shared experts.
  %h = moe.layer %x router(%wr) gate_proj(%wg) up_proj(%wu) down_proj(%wd)
      shared_gate_proj(%sg) shared_up_proj(%su) shared_down_proj(%sd)
      top_k(2) normalize activation(silu_glu)
      : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>,
         tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<64x16xf32>,
         tensor<64x16xf32>, tensor<16x64xf32>) -> tensor<?x16xf32>
  // The same routed layer (GELU experts) applied three times with shared
  // weights, with a residual connection written as an elementwise add on
  // whole tensors.
  %y = moe.repeat 3 iter_args(%a = %h) : tensor<?x16xf32> {
    %b = moe.layer %a router(%wr) up_proj(%wu) down_proj(%wd) top_k(1)
        activation(gelu)
        : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>,
           tensor<4x16x32xf32>) -> tensor<?x16xf32>
    %c = arith.addf %a, %b : tensor<?x16xf32>
    moe.yield %c : tensor<?x16xf32>
  }
  return %y : tensor<?x16xf32>
}

// CHECK-LABEL: llvm.func @topk_with_ties(
// CHECK-SAME: moe.signature = (memref<4x8xf32>) -> (memref<4x3xf32>, memref<4x3xi32>)
// CHECK: omp.parallel
// CHECK-LABEL: llvm.func @_mlir_ciface_topk_with_ties(
func.func @topk_with_ties(%s: tensor<4x8xf32>)
    -> (tensor<4x3xf32>, tensor<4x3xi32>) {
  %v, %i = moe.topk %s k(3) : tensor<4x8xf32> -> tensor<4x3xf32>, tensor<4x3xi32>
  return %v, %i : tensor<4x3xf32>, tensor<4x3xi32>
}

// A private helper gets internal linkage and no wrapper.
// CHECK-LABEL: llvm.func internal @scale_rows(
// CHECK-NOT: moe.signature
// CHECK-NOT: _mlir_ciface_scale_rows
func.func private @scale_rows(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %two = arith.constant 2.0 : f32
  %init = tensor.empty() : tensor<4x3xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>,
                                        affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x3xf32>) outs(%init : tensor<4x3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.mulf %in, %two : f32
    linalg.yield %m : f32
  } -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// CHECK-LABEL: llvm.func @call_helper(
// CHECK: llvm.call @scale_rows(
func.func @call_helper(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %y = func.call @scale_rows(%x) : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}
