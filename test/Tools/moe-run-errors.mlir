// REQUIRES: numpy
// Every way moe-run's inputs can be wrong ends in one clear line on stderr
// that names the argument (number, name, type) and the file, and a non-zero
// exit; `not` fails if moe-run crashes instead.

// RUN: rm -rf %t && split-file %s %t
// RUN: %python -c "import numpy as np; d = '%t/'; \
// RUN:   np.save(d + 'good.npy', np.ones((2, 3), np.float32)); \
// RUN:   np.save(d + 'wide.npy', np.ones((2, 4), np.float32)); \
// RUN:   np.save(d + 'flat.npy', np.ones(6, np.float32)); \
// RUN:   np.save(d + 'f64.npy', np.ones((2, 3))); \
// RUN:   np.save(d + 'rows.npy', np.ones((5, 3), np.int32)); \
// RUN:   np.save(d + 'fortran.npy', np.asfortranarray(np.ones((2, 3), np.float32))); \
// RUN:   np.save(d + 'big.npy', np.ones((2, 3), '>f4')); \
// RUN:   np.save(d + 'record.npy', np.zeros(2, dtype=[('a', '<f4'), ('b', '<i4')])); \
// RUN:   np.save(d + 'vector.npy', np.ones(3, np.float32)); \
// RUN:   good = open(d + 'good.npy', 'rb').read(); \
// RUN:   open(d + 'truncated.npy', 'wb').write(good[:-4]); \
// RUN:   open(d + 'trailing.npy', 'wb').write(good + bytes(8)); \
// RUN:   open(d + 'version.npy', 'wb').write(good[:6] + bytes([9, 0]) + good[8:]); \
// RUN:   open(d + 'header.npy', 'wb').write(good[:10] + good[10:].replace(b'False', b'Nope!', 1)); \
// RUN:   open(d + 'short.npy', 'wb').write(good[:9]); \
// RUN:   open(d + 'text.npy', 'w').write('1 2 3\n')"

// RUN: not moe-run %t/main.mlir -i %t/good.npy -i %t/rows.npy -i %t/good.npy 2>&1 | FileCheck %s --check-prefix=ARITY
// ARITY: {{^}}moe-run: @main takes 2 arguments, but 3 input files were given{{$}}

// RUN: not moe-run %t/main.mlir -i %t/wide.npy 2>&1 | FileCheck %s --check-prefix=SHAPE
// SHAPE: {{^}}moe-run: argument #0 (%arg0: tensor<2x3xf32>): expected shape [2, 3], found [2, 4] in {{.*}}wide.npy{{$}}

// RUN: not moe-run %t/main.mlir -i %t/flat.npy 2>&1 | FileCheck %s --check-prefix=RANK
// RANK: {{^}}moe-run: argument #0 (%arg0: tensor<2x3xf32>): expected shape [2, 3], found [6] in {{.*}}flat.npy{{$}}

// A dynamic dimension takes the file's size, a static one must match.
// RUN: not moe-run %t/main.mlir -i %t/good.npy -i %t/rows.npy 2>&1 | FileCheck %s --check-prefix=DYNAMIC
// DYNAMIC: {{^}}moe-run: argument #1 (%arg1: tensor<?x4xi32>): expected shape [?, 4], found [5, 3] in {{.*}}rows.npy{{$}}

// RUN: not moe-run %t/main.mlir -i %t/f64.npy 2>&1 | FileCheck %s --check-prefix=DTYPE
// DTYPE: {{^}}moe-run: argument #0 (%arg0: tensor<2x3xf32>): expected dtype '<f4', found '<f8' in {{.*}}f64.npy{{$}}

// RUN: not moe-run %t/main.mlir -i %t/missing.npy 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: {{^}}moe-run: argument #0 (%arg0: tensor<2x3xf32>): cannot read {{.*}}missing.npy: No such file or directory{{$}}

// RUN: not moe-run %t/main.mlir -i %t/text.npy 2>&1 | FileCheck %s --check-prefix=MAGIC
// MAGIC: {{^}}moe-run: argument #0 (%arg0: tensor<2x3xf32>): {{.*}}text.npy: not a .npy file (bad magic string){{$}}

// RUN: not moe-run %t/main.mlir -i %t/short.npy 2>&1 | FileCheck %s --check-prefix=SHORT
// SHORT: {{^}}moe-run: argument #0 (%arg0: tensor<2x3xf32>): {{.*}}short.npy: truncated header{{$}}

// RUN: not moe-run %t/main.mlir -i %t/version.npy 2>&1 | FileCheck %s --check-prefix=VERSION
// VERSION: {{^}}moe-run: argument #0 (%arg0: tensor<2x3xf32>): {{.*}}version.npy: unsupported .npy format version 9.0{{$}}

// RUN: not moe-run %t/main.mlir -i %t/header.npy 2>&1 | FileCheck %s --check-prefix=HEADER
// HEADER: {{^}}moe-run: argument #0 (%arg0: tensor<2x3xf32>): {{.*}}header.npy: malformed header: expected True or False for 'fortran_order'{{$}}

// RUN: not moe-run %t/main.mlir -i %t/fortran.npy 2>&1 | FileCheck %s --check-prefix=FORTRAN
// FORTRAN: {{^}}moe-run: argument #0 (%arg0: tensor<2x3xf32>): {{.*}}fortran.npy: Fortran-order arrays are not supported (save a C-order array, e.g. numpy.ascontiguousarray){{$}}

// RUN: not moe-run %t/main.mlir -i %t/truncated.npy 2>&1 | FileCheck %s --check-prefix=TRUNCATED
// TRUNCATED: {{^}}moe-run: argument #0 (%arg0: tensor<2x3xf32>): {{.*}}truncated.npy: truncated data: shape [2, 3] of '<f4' needs 24 bytes, found 20{{$}}

// RUN: not moe-run %t/main.mlir -i %t/trailing.npy 2>&1 | FileCheck %s --check-prefix=TRAILING
// TRAILING: {{^}}moe-run: argument #0 (%arg0: tensor<2x3xf32>): {{.*}}trailing.npy: 8 bytes of data after the 24 that shape [2, 3] of '<f4' holds{{$}}

// RUN: not moe-run %t/main.mlir -i %t/big.npy 2>&1 | FileCheck %s --check-prefix=ENDIAN
// ENDIAN: {{^}}moe-run: argument #0 (%arg0: tensor<2x3xf32>): {{.*}}big.npy: big-endian dtype '>f4' is not supported{{$}}

// RUN: not moe-run %t/main.mlir -i %t/record.npy 2>&1 | FileCheck %s --check-prefix=RECORD
// RECORD: {{^}}moe-run: argument #0 (%arg0: tensor<2x3xf32>): {{.*}}record.npy: structured dtypes are not supported{{$}}

// A scalar argument takes a 0-d array.
// RUN: not moe-run %t/scalar.mlir -i %t/vector.npy 2>&1 | FileCheck %s --check-prefix=SCALAR
// SCALAR: {{^}}moe-run: argument #0 (%arg0: f32): expected shape [], found [3] in {{.*}}vector.npy{{$}}

// RUN: not moe-run %t/main.mlir --entry=nope 2>&1 | FileCheck %s --check-prefix=ENTRY
// ENTRY: {{^}}moe-run: the module has no function @nope{{$}}

// RUN: not moe-run %t/two.mlir 2>&1 | FileCheck %s --check-prefix=AMBIGUOUS
// AMBIGUOUS: {{^}}moe-run: the module has 2 public functions (@f, @g): choose one with --entry=NAME{{$}}

// RUN: not moe-run %t/unranked.mlir 2>&1 | FileCheck %s --check-prefix=UNRANKED
// UNRANKED: {{^}}moe-run: @main: argument #0 has type 'tensor<*xf32>': only ranked tensors and memrefs can be passed{{$}}

// RUN: not moe-run %t/unsigned.mlir 2>&1 | FileCheck %s --check-prefix=UNSIGNED
// UNSIGNED: {{^}}moe-run: @main: result #0 has type 'tensor<4xui8>': the element type must be f16, bf16, f32, f64, i1, i8, i16, i32, i64 or index{{$}}

// RUN: not moe-run %t/nosignature.mlir 2>&1 | FileCheck %s --check-prefix=NOSIGNATURE
// NOSIGNATURE: {{^}}moe-run: @f is an llvm.func without a recorded 'moe.signature' function type; lower the module with moe-cpu-pipeline, which records it{{$}}

// RUN: not moe-run %t/syntax.mlir 2>&1 | FileCheck %s --check-prefix=SYNTAX
// SYNTAX: syntax.mlir:1:{{[0-9]+}}: error:
// SYNTAX: {{^}}moe-run: cannot parse {{.*}}syntax.mlir{{$}}

// RUN: not moe-run %t/main.mlir --dynamic-size=-1 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// NEGATIVE: {{^}}moe-run: --dynamic-size must be >= 0{{$}}

// RUN: not moe-run %t/main.mlir -o %t/good.npy/out 2>&1 | FileCheck %s --check-prefix=OUTDIR
// OUTDIR: {{^}}moe-run: cannot create {{.*}}good.npy/out: Not a directory{{$}}

//--- main.mlir
func.func @main(%a: tensor<2x3xf32>, %rows: tensor<?x4xi32>) -> tensor<2x3xf32> {
  return %a : tensor<2x3xf32>
}

//--- scalar.mlir
func.func @main(%s: f32) -> f32 {
  return %s : f32
}

//--- two.mlir
func.func @f() { return }
func.func @g() { return }
func.func private @h() { return }

//--- unranked.mlir
func.func @main(%a: tensor<*xf32>) { return }

//--- unsigned.mlir
func.func @main() -> tensor<4xui8> {
  %e = tensor.empty() : tensor<4xui8>
  return %e : tensor<4xui8>
}

//--- nosignature.mlir
llvm.func @f() {
  llvm.return
}

//--- syntax.mlir
func.func @main( {
