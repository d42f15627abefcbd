// RUN: moe-opt %s --split-input-file --moe-gpu-emulate-on-host --verify-diagnostics | FileCheck %s --enable-var-scope

// A launch becomes a parallel loop over its grid and blocks whose body is
// the kernel's, with the ids and sizes as loop variables and bounds; device
// buffers become host buffers.

// CHECK-LABEL: func.func @launch(
// CHECK-SAME: %[[GRID:[a-z0-9]+]]: index
// CHECK: %[[C256:.+]] = arith.constant 256 : index
// CHECK: %[[BUF:.+]] = memref.alloc() {alignment = 64 : i64} : memref<1024xf32>
// CHECK: scf.parallel (%[[BX:.+]], %{{.+}}, %{{.+}}, %[[TX:.+]], %{{.+}}, %{{.+}}) = ({{.+}}) to (%[[GRID]], %{{.+}}, %{{.+}}, %[[C256]], %{{.+}}, %{{.+}})
// CHECK: %[[BASE:.+]] = arith.muli %[[BX]], %[[C256]] : index
// CHECK: %[[ID:.+]] = arith.addi %[[BASE]], %[[TX]] : index
// CHECK: memref.store %{{.+}}, %[[BUF]][%[[ID]]]
// CHECK-NOT: gpu.
// CHECK: memref.copy %[[BUF]], %{{.+}} : memref<1024xf32> to memref<1024xf32>
// CHECK: memref.dealloc %[[BUF]]
func.func @launch(%grid: index, %out: memref<1024xf32>) {
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  %one = arith.constant 1.0 : f32
  %buffer = gpu.alloc () : memref<1024xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %grid, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    %base = arith.muli %bx, %sx : index
    %id = arith.addi %base, %tx : index
    memref.store %one, %buffer[%id] : memref<1024xf32>
    gpu.terminator
  }
  gpu.memcpy %out, %buffer : memref<1024xf32>, memref<1024xf32>
  gpu.dealloc %buffer : memref<1024xf32>
  return
}

// -----

// Threads that cooperate have no meaning as independent iterations.

func.func @barrier(%out: memref<256xf32>) {
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  %one = arith.constant 1.0 : f32
  // expected-error @+1 {{moe-gpu-emulate-on-host: the kernel uses 'gpu.barrier' (threads that cooperate), which independent loop iterations cannot emulate}}
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    memref.store %one, %out[%tx] : memref<256xf32>
    gpu.barrier
    gpu.terminator
  }
  return
}
