// RUN: moe-opt %s --moe-gpu-pipeline | FileCheck %s --enable-var-scope
// RUN: moe-opt %s --moe-gpu-pipeline | FileCheck %s --check-prefix=CLEAN
// RUN: moe-opt %s --moe-gpu-pipeline | FileCheck %s --check-prefix=BINARY
// RUN: moe-opt %s --moe-gpu-pipeline="chip=sm_80 features=+ptx75 opt-level=2 block-size=128" | FileCheck %s --check-prefix=SM80
// RUN: moe-opt %s --moe-gpu-pipeline | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR
// RUN: moe-opt %s --moe-gpu-pipeline=emulate-on-host | FileCheck %s --check-prefix=EMULATED

// moe-gpu-pipeline takes every moe op (a layer with shared experts and a
// repeat around a routed layer, a capacity-mode dispatch/experts/combine, a
// PEER layer, a top-k) to host code in the llvm dialect whose every loop
// nest is a kernel in a gpu.binary (PTX for sm_90 by default), launched
// through the mgpu* runtime.

// Nothing but llvm ops, the kernels' gpu.binary and their launches is left;
// the host never allocates host memory for a buffer.
// CLEAN-NOT: {{^ *(%[^ ]+ = )?"?(moe|linalg|tensor|memref|scf|cf|arith|math|func|bufferization|omp)\.}}
// CLEAN-NOT: unrealized_conversion_cast
// CLEAN-NOT: tensor<
// CLEAN-NOT: llvm.call @malloc

// Each kernel module is PTX for sm_90 with one kernel entry.
// BINARY: gpu.binary @moe_block_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">
// BINARY-SAME: assembly = "{{.*}}.target sm_90{{.*}}.visible .entry moe_block_kernel(
// BINARY: gpu.binary @topk_with_ties_kernel
// SM80: llvm.mlir.constant(128 : index)
// SM80: gpu.binary @moe_block_kernel  [#gpu.object<#nvvm.target<chip = "sm_80", features = "+ptx75">

// The host function launches its kernels with the memref descriptors of
// device buffers.
// CHECK-LABEL: llvm.func @moe_block(
// CHECK-SAME: llvm.emit_c_interface
// CHECK-SAME: moe.signature = (memref<?x16xf32>, memref<4x16xf32>, memref<4x32x16xf32>, memref<4x32x16xf32>, memref<4x16x32xf32>, memref<64x16xf32>, memref<64x16xf32>, memref<16x64xf32>) -> memref<?x16xf32>
// CHECK: gpu.launch_func <%{{.+}} : !llvm.ptr> @moe_block_kernel::@moe_block_kernel blocks in (%{{.+}}, %{{.+}}, %{{.+}}) threads in (%{{.+}}, %{{.+}}, %{{.+}}) : i64
// The repeat is a host loop around launches (a back edge to a header).
// CHECK: llvm.cond_br
// CHECK: gpu.launch_func
// CHECK-LABEL: llvm.func @_mlir_ciface_moe_block(

// CHECK-LABEL: llvm.func @capacity_pipeline(
// CHECK: gpu.launch_func
// CHECK-LABEL: llvm.func @peer_layer(
// CHECK: gpu.launch_func
// CHECK-LABEL: llvm.func @topk_with_ties(
// CHECK: gpu.launch_func

// In LLVM IR: the PTX is embedded and loaded when the program starts, and
// the host calls the runtime with the signatures of MLIR 22's gpu-to-llvm
// (mgpuMemcpy, which these functions do not need, is pinned by
// Integration/GPU/runtime-abi.mlir).
// LLVMIR-DAG: declare ptr @mgpuModuleLoadJIT(ptr, i32)
// LLVMIR-DAG: declare ptr @mgpuModuleGetFunction(ptr, ptr)
// LLVMIR-DAG: declare void @mgpuLaunchKernel(ptr, i64, i64, i64, i64, i64, i64, i32, ptr, ptr, ptr, i64)
// LLVMIR-DAG: declare ptr @mgpuStreamCreate()
// LLVMIR-DAG: declare void @mgpuStreamSynchronize(ptr)
// LLVMIR-DAG: declare ptr @mgpuMemAlloc(i64, ptr, i8)
// LLVMIR-DAG: declare void @mgpuMemFree(ptr, ptr)
// LLVMIR-DAG: @llvm.global_ctors

// Emulated, the kernels are OpenMP loops in host code and nothing of the
// gpu dialect is left.
// EMULATED-NOT: gpu.
// EMULATED: omp.parallel
// EMULATED-NOT: gpu.

func.func @moe_block(%x: tensor<?x16xf32>, %wr: tensor<4x16xf32>,
    %wg: tensor<4x32x16xf32>, %wu: tensor<4x32x16xf32>,
    %wd: tensor<4x16x32xf32>, %sg: tensor<64x16xf32>,
    %su: tensor<64x16xf32>, %sd: tensor<16x64xf32>) -> tensor<?x16xf32> {
  %h = moe.layer %x router(%wr) gate_proj(%wg) up_proj(%wu) down_proj(%wd)
      shared_gate_proj(%sg) shared_up_proj(%su) shared_down_proj(%sd)
      top_k(2) normalize activation(silu_glu)
      : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>,
         tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<64x16xf32>,
         tensor<64x16xf32>, tensor<16x64xf32>) -> tensor<?x16xf32>
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

func.func @capacity_pipeline(%x: tensor<8x16xf32>, %idx: tensor<8x2xi32>,
    %w: tensor<8x2xf32>, %wu: tensor<4x32x16xf32>,
    %wd: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
  %buf, %counts, %slot = moe.dispatch %x, %idx weights(%w) num_experts(4)
      mode(capacity) capacity_factor(1.0) drop_policy(score)
      : (tensor<8x16xf32>, tensor<8x2xi32>, tensor<8x2xf32>)
      -> (tensor<4x4x16xf32>, tensor<4xi32>, tensor<8x2xi32>)
  %out = moe.experts %buf, %counts up_proj(%wu) down_proj(%wd) activation(relu)
      : (tensor<4x4x16xf32>, tensor<4xi32>, tensor<4x32x16xf32>,
         tensor<4x16x32xf32>) -> tensor<4x4x16xf32>
  %y = moe.combine %out, %w, %slot
      : (tensor<4x4x16xf32>, tensor<8x2xf32>, tensor<8x2xi32>) -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}

func.func @peer_layer(%x: tensor<?x24xf32>, %query: tensor<16x24xf32>,
    %keys: tensor<2x2x8x4xf32>, %down: tensor<64x24xf32>,
    %up: tensor<64x24xf32>) -> tensor<?x24xf32> {
  %y = moe.peer %x query(%query) keys(%keys) down_embed(%down) up_embed(%up)
      heads(2) top_k(4) activation(gelu) score(softmax)
      : (tensor<?x24xf32>, tensor<16x24xf32>, tensor<2x2x8x4xf32>,
         tensor<64x24xf32>, tensor<64x24xf32>) -> tensor<?x24xf32>
  return %y : tensor<?x24xf32>
}

func.func @topk_with_ties(%s: tensor<4x8xf32>)
    -> (tensor<4x3xf32>, tensor<4x3xi32>) {
  %v, %i = moe.topk %s k(3) : tensor<4x8xf32> -> tensor<4x3xf32>, tensor<4x3xi32>
  return %v, %i : tensor<4x3xf32>, tensor<4x3xi32>
}
