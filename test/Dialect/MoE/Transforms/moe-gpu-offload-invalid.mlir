// RUN: moe-opt %s --split-input-file --moe-gpu-offload --verify-diagnostics

// Host memory that a kernel would see is an error at compile time, not a
// fault on the GPU.

memref.global "private" constant @table : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>
func.func @global_table(%out: memref<4xf32>) {
  // expected-error @+1 {{moe-gpu-offload: 'memref.get_global' at host level would give kernels a host buffer; expected buffers from memref.alloc or function arguments}}
  %table = memref.get_global @table : memref<4xf32>
  memref.copy %table, %out : memref<4xf32> to memref<4xf32>
  return
}

// -----

func.func @host_stack(%out: memref<4xf32>) {
  // expected-error @+1 {{moe-gpu-offload: 'memref.alloca' at host level would give kernels a host buffer}}
  %scratch = memref.alloca() : memref<4xf32>
  memref.copy %scratch, %out : memref<4xf32> to memref<4xf32>
  return
}

// -----

// A call cannot run in a kernel.

func.func private @consume(memref<4xf32, strided<[1], offset: ?>>)
func.func @call_with_device_view(%rows: memref<16x4xf32>, %which: memref<1xi32>) {
  %c0 = arith.constant 0 : index
  %row = memref.load %which[%c0] : memref<1xi32>
  %start = arith.index_cast %row : i32 to index
  %view = memref.subview %rows[%start, 0] [1, 4] [1, 1]
      : memref<16x4xf32> to memref<4xf32, strided<[1], offset: ?>>
  // expected-error @+1 {{moe-gpu-offload: a call cannot run in a kernel, and its operand is a buffer view computed from device data}}
  func.call @consume(%view) : (memref<4xf32, strided<[1], offset: ?>>) -> ()
  return
}

// -----

// A strided copy of rank 0 at host level has no kernel form.

func.func @scalar_view_copy(%matrix: memref<4xf32>, %out: memref<f32>) {
  %view = memref.subview %matrix[1] [1] [1] : memref<4xf32> to memref<f32, strided<[], offset: 1>>
  // expected-error @+1 {{moe-gpu-offload: expected a copy of rank >= 1 or between contiguous buffers at host level}}
  memref.copy %view, %out : memref<f32, strided<[], offset: 1>> to memref<f32>
  return
}
