// RUN: not moe-opt %s --split-input-file --moe-verify-lowering-contract=stage=linalg -o /dev/null 2>&1 | FileCheck %s --check-prefix=LINALG
// RUN: not moe-opt %s --split-input-file --moe-verify-lowering-contract=stage=bufferized -o /dev/null 2>&1 | FileCheck %s --check-prefix=BUFFERIZED
// RUN: not moe-opt %s --split-input-file --moe-verify-lowering-contract=stage=loops -o /dev/null 2>&1 | FileCheck %s --check-prefix=LOOPS
// RUN: not moe-opt %s --split-input-file --moe-verify-lowering-contract -o /dev/null 2>&1 | FileCheck %s --check-prefix=LLVM

// Each stage of a pipeline promises to remove some ops; the check fails on
// the first op (in pre-order) that breaks the promise and names it. The
// chunks below are programs at successive stages; each RUN line checks
// which of them a stage rejects, and why.

// LINALG: :[[# @LINE + 3]]:12: error: 'moe.topk' op is a moe op: it is left after the 'linalg' stage, which promises no moe ops
// BUFFERIZED: :[[# @LINE + 1]]:1: error: 'func.func' op has a tensor block argument: it is left after the 'bufferized' stage, which promises no moe ops and no tensors
func.func @moe_graph(%s: tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi32>) {
  %v, %i = moe.topk %s k(2) : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  return %v, %i : tensor<4x2xf32>, tensor<4x2xi32>
}

// -----

// linalg on tensors: what the linalg stage leaves.
// LOOPS: :[[# @LINE + 2]]:1: error: 'func.func' op has a tensor block argument: it is left after the 'loops' stage, which promises no moe ops, no tensors, no linalg ops and no scf.forall
// LLVM: :[[# @LINE + 1]]:1: error: 'func.func' op is not in the llvm or omp dialect: it is left after the 'llvm' stage, which promises only llvm and omp ops (and gpu.binary kernels with their gpu.launch_func) in a builtin.module
func.func @linalg_on_tensors(%a: tensor<4x8xf32>, %b: tensor<8x4xf32>,
    %c: tensor<4x4xf32>) -> tensor<4x4xf32> {
  %d = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x4xf32>)
                     outs(%c : tensor<4x4xf32>) -> tensor<4x4xf32>
  return %d : tensor<4x4xf32>
}

// -----

// A tensor made inside a bufferized function is still a tensor.
func.func @tensor_inside(%m: memref<4xf32>) {
  // BUFFERIZED: :[[# @LINE + 1]]:8: error: 'bufferization.to_tensor' op has a tensor result
  %t = bufferization.to_tensor %m : memref<4xf32> to tensor<4xf32>
  return
}

// -----

// linalg on buffers: what the bufferized stage leaves.
func.func @linalg_on_buffers(%a: memref<4x8xf32>, %b: memref<8x4xf32>,
    %c: memref<4x4xf32>) {
  // LOOPS: :[[# @LINE + 1]]:3: error: 'linalg.matmul' op is a linalg op
  linalg.matmul ins(%a, %b : memref<4x8xf32>, memref<8x4xf32>)
                outs(%c : memref<4x4xf32>)
  return
}

// -----

func.func @forall_on_buffers(%m: memref<8xf32>) {
  %zero = arith.constant 0.0 : f32
  // LOOPS: :[[# @LINE + 1]]:3: error: 'scf.forall' op is an scf.forall
  scf.forall (%i) in (8) {
    memref.store %zero, %m[%i] : memref<8xf32>
  }
  return
}

// -----

// Loops on buffers: what the loops stage leaves.
func.func @loops(%m: memref<8xf32>) {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    memref.store %zero, %m[%i] : memref<8xf32>
  }
  return
}

// -----

// A conversion left a cast between its types: not translatable.
llvm.func @leftover_cast(%p: !llvm.ptr) -> i64 {
  // LLVM: :[[# @LINE + 1]]:8: error: 'builtin.unrealized_conversion_cast' op is not in the llvm or omp dialect
  %i = builtin.unrealized_conversion_cast %p : !llvm.ptr to index
  %j = builtin.unrealized_conversion_cast %i : index to i64
  llvm.return %j : i64
}

// -----

// Only llvm and omp ops: every stage accepts it.
llvm.func @ready(%n: i64) {
  omp.parallel {
    omp.terminator
  }
  llvm.return
}

// LINALG-NOT: error:
// BUFFERIZED-NOT: error:
// LOOPS-NOT: error:
// LLVM-NOT: error:
