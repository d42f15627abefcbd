//===- NpyTest.cpp - Tests of the .npy reader and writer ------------------===//
//
// Round trips through writeNpyFile/readNpyFile, and the reader's rejection
// of files that are not what NumPy writes.
//
//===----------------------------------------------------------------------===//

#include "moe/Runner/Npy.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <cstring>

using namespace mlir::moe;

namespace {

/// A temporary file removed at the end of the test.
class TemporaryNpy {
public:
  TemporaryNpy() {
    EXPECT_FALSE(
        llvm::sys::fs::createTemporaryFile("moe-npy-test", "npy", path));
    remover.setFile(path);
  }
  llvm::StringRef get() const { return path; }

  /// Replaces the file's contents with `bytes`.
  void write(llvm::StringRef bytes) {
    std::error_code error;
    llvm::raw_fd_ostream os(path, error);
    ASSERT_FALSE(error);
    os << bytes;
  }

  std::string read() const {
    auto buffer = llvm::MemoryBuffer::getFile(path);
    return buffer ? (*buffer)->getBuffer().str() : std::string();
  }

private:
  llvm::SmallString<128> path;
  llvm::FileRemover remover;
};

std::string errorOf(llvm::Expected<NpyArray> array) {
  if (array)
    return "no error";
  return llvm::toString(array.takeError());
}

TEST(NpyTest, RoundTripsShapesAndData) {
  TemporaryNpy file;
  float values[6] = {0.5f, -1.0f, 2.0f, 3.5f, -4.0f, 8.0f};
  ASSERT_FALSE(writeNpyFile(file.get(), "<f4", {2, 3}, values, sizeof(values)));
  // The header is padded so that the data starts at a multiple of 64.
  std::string contents = file.read();
  EXPECT_EQ((contents.size() - sizeof(values)) % 64, 0u);
  EXPECT_NE(contents.find("'shape': (2, 3), }"), std::string::npos);

  auto array = readNpyFile(file.get());
  ASSERT_TRUE(bool(array)) << llvm::toString(array.takeError());
  EXPECT_EQ(array->descr, "<f4");
  EXPECT_EQ(array->shape, (llvm::SmallVector<int64_t>{2, 3}));
  ASSERT_EQ(array->data.size(), sizeof(values));
  EXPECT_EQ(std::memcmp(array->data.data(), values, sizeof(values)), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(array->data.data()) % 64, 0u);
}

TEST(NpyTest, WritesOneAndZeroDimensionalShapesAsPython) {
  TemporaryNpy vector, scalar;
  int64_t values[3] = {1, 2, 3};
  ASSERT_FALSE(writeNpyFile(vector.get(), "<i8", {3}, values, 24));
  ASSERT_FALSE(writeNpyFile(scalar.get(), "<i8", {}, values, 8));
  EXPECT_NE(vector.read().find("'shape': (3,), }"), std::string::npos);
  EXPECT_NE(scalar.read().find("'shape': (), }"), std::string::npos);
  auto array = readNpyFile(scalar.get());
  ASSERT_TRUE(bool(array));
  EXPECT_TRUE(array->shape.empty());
  EXPECT_EQ(array->data.size(), 8u);
}

TEST(NpyTest, RejectsWhatNumPyDoesNotWrite) {
  TemporaryNpy file;
  auto header = [](llvm::StringRef dict) {
    std::string text("\x93NUMPY\x01\x00", 8);
    text.push_back(static_cast<char>(dict.size()));
    text.push_back(0);
    return text + dict.str();
  };
  file.write("PK\x03\x04 not numpy");
  EXPECT_NE(errorOf(readNpyFile(file.get())).find("bad magic string"),
            std::string::npos);
  file.write(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,"));
  EXPECT_NE(errorOf(readNpyFile(file.get())).find("malformed header"),
            std::string::npos);
  file.write(
      header("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }") +
      std::string(4, '\0'));
  EXPECT_NE(errorOf(readNpyFile(file.get())).find("Fortran-order"),
            std::string::npos);
  file.write(
      header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }") +
      std::string(4, '\0'));
  EXPECT_NE(errorOf(readNpyFile(file.get())).find("truncated data"),
            std::string::npos);
  file.write(
      header("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }") +
      std::string(8, '\0'));
  EXPECT_NE(errorOf(readNpyFile(file.get())).find("unsupported dtype '<c8'"),
            std::string::npos);
}

TEST(NpyTest, FormatsShapesWithDynamicDimensions) {
  EXPECT_EQ(formatShape({8, -1, 64}), "[8, ?, 64]");
  EXPECT_EQ(formatShape({}), "[]");
}

} // namespace
