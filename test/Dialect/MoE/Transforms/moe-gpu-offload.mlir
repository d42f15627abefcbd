// RUN: moe-opt %s --split-input-file --moe-gpu-offload | FileCheck %s --enable-var-scope
// RUN: moe-opt %s --split-input-file --moe-gpu-offload=block-size=128 | FileCheck %s --check-prefix=BLOCK128
// RUN: not moe-opt %s --split-input-file --moe-gpu-offload=block-size=2048 2>&1 | FileCheck %s --check-prefix=BADBLOCK

// A parallel loop at host level: one thread per iteration, the iterations
// delinearized with the innermost dimension fastest, at least one block
// (of idle threads when the space is empty); the buffer it writes is a
// device buffer.

// CHECK-LABEL: func.func @parallel_loop(
// CHECK-SAME: %[[N:.+]]: index
// CHECK: %[[BUF:.+]] = gpu.alloc (%[[N]]) : memref<?x64xf32>
// CHECK: %[[BLOCKS:.+]] = arith.ceildivsi %[[TOTAL:[0-9]+]], %[[C256:c256[_0-9]*]] : index
// CHECK: %[[GRID:.+]] = arith.maxsi %[[BLOCKS]], %{{.+}} : index
// CHECK-NOT: scf.if
// CHECK: gpu.launch blocks(%[[BX:.+]], %{{.+}}, %{{.+}}) in (%{{.+}} = %[[GRID]], %{{.+}} = %{{.+}}, %{{.+}} = %{{.+}}) threads(%[[TX:.+]], %{{.+}}, %{{.+}}) in (%[[BDX:.+]] = %[[C256]],
// CHECK: %[[ROW0:.+]] = arith.muli %[[BX]], %[[BDX]] : index
// CHECK: %[[ID:.+]] = arith.addi %[[ROW0]], %[[TX]] : index
// CHECK: %[[IN:.+]] = arith.cmpi slt, %[[ID]], %[[TOTAL]] : index
// CHECK: scf.if %[[IN]] {
// CHECK: %[[J:.+]] = arith.remui %[[ID]], %{{.+}} : index
// CHECK: %[[I:.+]] = arith.divui %[[ID]], %{{.+}} : index
// CHECK: memref.store %{{.+}}, %[[BUF]][%{{.+}}, %{{.+}}] : memref<?x64xf32>
// CHECK: gpu.terminator
// CHECK: return %[[BUF]]
// BLOCK128-LABEL: func.func @parallel_loop(
// BLOCK128: arith.constant 128 : index
// BLOCK128: gpu.launch
// BADBLOCK: error: moe-gpu-offload: block-size must be in [1, 1024] (CUDA's limit), got 2048
func.func @parallel_loop(%n: index) -> memref<?x64xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %zero = arith.constant 0.0 : f32
  %buffer = memref.alloc(%n) : memref<?x64xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c64) step (%c1, %c1) {
    memref.store %zero, %buffer[%i, %j] : memref<?x64xf32>
  }
  return %buffer : memref<?x64xf32>
}

// -----

// Sequential code that touches memory (a prefix sum, as in moe.dispatch)
// runs in a one-thread kernel in program order; a scalar it computes that
// host code needs (here the size of an allocation) comes back through a
// one-element device buffer. Copies between contiguous buffers are
// gpu.memcpy; deallocations are gpu.dealloc.

// CHECK-LABEL: func.func @sequential_then_scalar(
// CHECK-SAME: %[[COUNTS:.+]]: memref<8xi32>
// CHECK: %[[OFFSETS:.+]] = gpu.alloc () : memref<9xi32>
// CHECK: %[[STAGE:.+]] = gpu.alloc () : memref<1xindex>
// CHECK: gpu.launch blocks(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[ONE:[^,]+]], %{{.+}} = %[[ONE]], %{{.+}} = %[[ONE]]) threads(%{{.+}}, %{{.+}}, %{{.+}}) in (%{{.+}} = %[[ONE]], %{{.+}} = %[[ONE]], %{{.+}} = %[[ONE]])
// CHECK: scf.for
// CHECK: memref.load %[[COUNTS]]
// CHECK: memref.store %{{.+}}, %[[OFFSETS]]
// CHECK: %[[TOTAL:.+]] = arith.index_cast
// CHECK: memref.store %[[TOTAL]], %[[STAGE]][%{{.+}}] : memref<1xindex>
// CHECK: gpu.terminator
// CHECK: %[[HOST:.+]] = memref.alloca() : memref<1xindex>
// CHECK: gpu.memcpy  %[[HOST]], %[[STAGE]] : memref<1xindex>, memref<1xindex>
// CHECK: %[[ROWS:.+]] = memref.load %[[HOST]][%{{.+}}] : memref<1xindex>
// CHECK: gpu.dealloc  %[[STAGE]] : memref<1xindex>
// CHECK: %[[OUT:.+]] = gpu.alloc (%[[ROWS]]) : memref<?xf32>
// CHECK: %[[COPY:.+]] = gpu.alloc () : memref<9xi32>
// CHECK: gpu.memcpy  %[[COPY]], %[[OFFSETS]] : memref<9xi32>, memref<9xi32>
// CHECK: gpu.dealloc  %[[OFFSETS]] : memref<9xi32>
// CHECK: return %[[OUT]], %[[COPY]]
func.func @sequential_then_scalar(%counts: memref<8xi32>)
    -> (memref<?xf32>, memref<9xi32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %zero = arith.constant 0 : i32
  %offsets = memref.alloc() : memref<9xi32>
  memref.store %zero, %offsets[%c0] : memref<9xi32>
  scf.for %e = %c0 to %c8 step %c1 {
    %next = arith.addi %e, %c1 : index
    %start = memref.load %offsets[%e] : memref<9xi32>
    %count = memref.load %counts[%e] : memref<8xi32>
    %end = arith.addi %start, %count : i32
    memref.store %end, %offsets[%next] : memref<9xi32>
  }
  %last = memref.load %offsets[%c8] : memref<9xi32>
  %rows = arith.index_cast %last : i32 to index
  %out = memref.alloc(%rows) : memref<?xf32>
  %copy = memref.alloc() : memref<9xi32>
  memref.copy %offsets, %copy : memref<9xi32> to memref<9xi32>
  memref.dealloc %offsets : memref<9xi32>
  return %out, %copy : memref<?xf32>, memref<9xi32>
}

// -----

// A parallel loop that needs a buffer view computed from device data (the
// rows of a routed expert) runs inside the one-thread kernel that computes
// it. Buffers of static size allocated in a kernel are thread-private
// allocas at its top, and copies in a kernel are loops.

// CHECK-LABEL: func.func @view_from_device_data(
// CHECK: gpu.launch
// CHECK-NEXT: %[[SCRATCH:.+]] = memref.alloca() : memref<4xf32>
// CHECK: %[[ROW:.+]] = memref.load
// CHECK: %[[START:.+]] = arith.index_cast %[[ROW]]
// CHECK: %[[VIEW:.+]] = memref.subview %{{.+}}[%[[START]], 0] [1, 4] [1, 1]
// CHECK: scf.parallel
// CHECK: memref.load %[[VIEW]]
// CHECK: memref.store %{{.+}}, %[[SCRATCH]]
// CHECK: scf.parallel
// CHECK: memref.load %[[SCRATCH]]
// CHECK-NOT: memref.copy
// CHECK-NOT: memref.dealloc
// CHECK: gpu.terminator
func.func @view_from_device_data(%rows: memref<16x4xf32>, %which: memref<1xi32>,
                                 %out: memref<4xf32>) {
  %true = arith.constant true
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %row = memref.load %which[%c0] : memref<1xi32>
  %start = arith.index_cast %row : i32 to index
  %view = memref.subview %rows[%start, 0] [1, 4] [1, 1]
      : memref<16x4xf32> to memref<4xf32, strided<[1], offset: ?>>
  scf.if %true {
    %scratch = memref.alloc() : memref<4xf32>
    scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
      %v = memref.load %view[%i] : memref<4xf32, strided<[1], offset: ?>>
      %twice = arith.addf %v, %v : f32
      memref.store %twice, %scratch[%i] : memref<4xf32>
    }
    memref.copy %scratch, %out : memref<4xf32> to memref<4xf32>
    memref.dealloc %scratch : memref<4xf32>
  }
  return
}

// -----

// A copy out of a strided view at host level is a copy kernel.

// CHECK-LABEL: func.func @strided_copy(
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.launch
// CHECK: memref.load %{{.+}} : memref<4xf32, strided<[8], offset: 1>>
// CHECK: memref.store
func.func @strided_copy(%matrix: memref<4x8xf32>, %column: memref<4xf32>) {
  %view = memref.subview %matrix[0, 1] [4, 1] [1, 1]
      : memref<4x8xf32> to memref<4xf32, strided<[8], offset: 1>>
  memref.copy %view, %column : memref<4xf32, strided<[8], offset: 1>> to memref<4xf32>
  return
}
