//===- Npy.h - NumPy .npy files for the moe runners -------------*- C++ -*-===//
//
// Reading and writing the NumPy `.npy` format (versions 1.0 to 3.0) for the
// inputs and outputs of moe-run: little-endian (or single-byte) dtypes, C
// order, data read into 64-byte aligned buffers of the moe runtime.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNNER_NPY_H
#define MOE_RUNNER_NPY_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstddef>
#include <optional>
#include <string>

namespace mlir::moe {

/// A buffer from moe_aligned_alloc (64-byte aligned), released with it.
class AlignedBuffer {
public:
  AlignedBuffer() = default;
  AlignedBuffer(AlignedBuffer &&other) noexcept;
  AlignedBuffer &operator=(AlignedBuffer &&other) noexcept;
  AlignedBuffer(const AlignedBuffer &) = delete;
  AlignedBuffer &operator=(const AlignedBuffer &) = delete;
  ~AlignedBuffer();

  /// Allocates `bytes` bytes; fails (rather than aborting) when the memory
  /// is not there.
  static llvm::Expected<AlignedBuffer> allocate(size_t bytes);

  char *data() const { return data_; }
  size_t size() const { return size_; }

private:
  char *data_ = nullptr;
  size_t size_ = 0;
};

/// The contents of a .npy file.
struct NpyArray {
  /// The dtype as NumPy spells it: '<f4', '|i1', ...
  std::string descr;
  llvm::SmallVector<int64_t> shape;
  AlignedBuffer data;
};

/// The number of elements of `shape` and the bytes they take at
/// `elementBytes` each, or std::nullopt if that overflows 63 bits.
std::optional<size_t> getArrayBytes(llvm::ArrayRef<int64_t> shape,
                                    size_t elementBytes);

/// The element size of a .npy dtype string ('<f4' -> 4), or 0 if it is not
/// a plain numeric dtype.
size_t getNpyElementBytes(llvm::StringRef descr);

/// Reads `path`. Rejects, with a message naming the file: a missing or
/// unreadable file, a wrong magic string or version, a header that is not
/// the dict NumPy writes, Fortran order, big-endian and structured dtypes,
/// and data shorter or longer than the shape says.
llvm::Expected<NpyArray> readNpyFile(llvm::StringRef path);

/// Writes a C-order array in format version 1.0 (3.0 if the header does not
/// fit in 64 KiB).
llvm::Error writeNpyFile(llvm::StringRef path, llvm::StringRef descr,
                         llvm::ArrayRef<int64_t> shape, const void *data,
                         size_t bytes);

/// Formats a shape as `[8, 64]` (`?` for dynamic dimensions).
std::string formatShape(llvm::ArrayRef<int64_t> shape);

} // namespace mlir::moe

#endif // MOE_RUNNER_NPY_H
