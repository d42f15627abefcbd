// moe-run also runs modules that are already in the LLVM dialect, taking
// the signature from the `moe.signature` attribute that moe-cpu-pipeline
// records; the results are the same as from the tensor-level module.

// RUN: rm -rf %t && split-file %s %t
// RUN: moe-opt %t/model.mlir --moe-cpu-pipeline -o %t/lowered.mlir
// RUN: moe-run %t/model.mlir --dynamic-size=3 -o %t/tensor | FileCheck %s --check-prefix=TENSOR
// RUN: moe-run %t/lowered.mlir --dynamic-size=3 -o %t/lowered | FileCheck %s --check-prefix=LOWERED
// RUN: cmp %t/tensor/result0.npy %t/lowered/result0.npy
// TENSOR: result0: tensor<3x2xf32> sum=[[SUM:.+]] abs_sum
// LOWERED: result0: memref<3x2xf32> sum=

// A lowered function whose results alias its argument: moe-run must not
// free them (it would free the input twice).
// RUN: moe-run %t/alias.mlir --print | FileCheck %s --check-prefix=ALIAS
// ALIAS: result0: memref<4xf32> =
// ALIAS-NEXT: [[VALUES:\[.+\]]]
// ALIAS-NEXT: result1: memref<4xf32> =
// ALIAS-NEXT: [[VALUES]]

// A lowered function that leaks a buffer: --check-leaks says so.
// RUN: moe-run %t/leak.mlir | FileCheck %s --check-prefix=LEAK-OFF
// RUN: not moe-run %t/leak.mlir --check-leaks 2>&1 | FileCheck %s --check-prefix=LEAK
// LEAK-OFF: result0: f32 sum=1 abs_sum=1
// LEAK: {{^}}moe-run: 1 buffer (64 bytes) that @leak allocated was not freed after 1 call{{$}}

//--- model.mlir
func.func @main(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %init = tensor.empty() : tensor<2x2xf32>
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x2xf32>
  %out = tensor.empty(%n) : tensor<?x2xf32>
  %y = linalg.generic {
      indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<?x2xf32>) outs(%out : tensor<?x2xf32>) {
  ^bb0(%v: f32, %o: f32):
    %e = math.exp %v : f32
    linalg.yield %e : f32
  } -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}

//--- alias.mlir
!descriptor = !llvm.struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)>
llvm.func @id() attributes {
    moe.signature = (memref<4xf32>) -> (memref<4xf32>, memref<4xf32>)} {
  llvm.return
}
llvm.func @_mlir_ciface_id(%results: !llvm.ptr, %argument: !llvm.ptr) {
  %d = llvm.load %argument : !llvm.ptr -> !descriptor
  llvm.store %d, %results : !descriptor, !llvm.ptr
  %second = llvm.getelementptr %results[1] : (!llvm.ptr) -> !llvm.ptr, !descriptor
  llvm.store %d, %second : !descriptor, !llvm.ptr
  llvm.return
}

//--- leak.mlir
llvm.mlir.global @sink() : !llvm.ptr {
  %null = llvm.mlir.zero : !llvm.ptr
  llvm.return %null : !llvm.ptr
}
llvm.func @malloc(i64) -> !llvm.ptr
llvm.func @leak() -> f32 attributes {moe.signature = () -> f32} {
  %one = llvm.mlir.constant(1.0 : f32) : f32
  llvm.return %one : f32
}
llvm.func @_mlir_ciface_leak() -> f32 {
  %bytes = llvm.mlir.constant(64 : i64) : i64
  %buffer = llvm.call @malloc(%bytes) : (i64) -> !llvm.ptr
  %sink = llvm.mlir.addressof @sink : !llvm.ptr
  llvm.store %buffer, %sink : !llvm.ptr, !llvm.ptr
  %one = llvm.mlir.constant(1.0 : f32) : f32
  llvm.return %one : f32
}
