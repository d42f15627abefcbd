//===- Npy.cpp - NumPy .npy files for the moe runners ---------------------===//
//
// A reader that checks everything a hand-made or truncated file can get
// wrong (and says which file and what), and a writer of the format that
// numpy.load reads. The header is the Python dict literal NumPy writes:
// {'descr': '<f4', 'fortran_order': False, 'shape': (8, 64), }.
//
//===----------------------------------------------------------------------===//

#include "moe/Runner/Npy.h"

#include "moe/Runtime/MoERuntime.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace mlir;
using namespace mlir::moe;

static constexpr llvm::StringLiteral kMagic("\x93NUMPY");

AlignedBuffer::AlignedBuffer(AlignedBuffer &&other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

AlignedBuffer &AlignedBuffer::operator=(AlignedBuffer &&other) noexcept {
  if (this != &other) {
    moe_aligned_free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

AlignedBuffer::~AlignedBuffer() { moe_aligned_free(data_); }

llvm::Expected<AlignedBuffer> AlignedBuffer::allocate(size_t bytes) {
  AlignedBuffer buffer;
  buffer.data_ = static_cast<char *>(moe_aligned_alloc(bytes));
  if (!buffer.data_)
    return llvm::createStringError("out of memory allocating " +
                                   llvm::Twine(bytes) + " bytes");
  buffer.size_ = bytes;
  return buffer;
}

std::optional<size_t> mlir::moe::getArrayBytes(llvm::ArrayRef<int64_t> shape,
                                               size_t elementBytes) {
  uint64_t bytes = elementBytes;
  for (int64_t size : shape) {
    if (size < 0)
      return std::nullopt;
    bool overflow = false;
    bytes = llvm::SaturatingMultiply<uint64_t>(bytes, size, &overflow);
    if (overflow || bytes > (uint64_t(1) << 62))
      return std::nullopt;
  }
  return static_cast<size_t>(bytes);
}

size_t mlir::moe::getNpyElementBytes(llvm::StringRef descr) {
  // <byte order><kind><size>, for the numeric kinds only.
  if (descr.size() < 3 || !llvm::StringRef("<>|=").contains(descr[0]) ||
      !llvm::StringRef("biuf").contains(descr[1]))
    return 0;
  size_t bytes = 0;
  if (descr.drop_front(2).getAsInteger(10, bytes) || bytes == 0 || bytes > 16)
    return 0;
  return bytes;
}

std::string mlir::moe::formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string text = "[";
  llvm::raw_string_ostream os(text);
  llvm::interleave(
      shape, os,
      [&](int64_t size) {
        if (size < 0)
          os << '?';
        else
          os << size;
      },
      ", ");
  os << ']';
  return text;
}

namespace {

/// A parser of the header dict, over the subset of Python literals that
/// NumPy writes.
class HeaderParser {
public:
  explicit HeaderParser(llvm::StringRef text) : text(text) {}

  /// Parses the dict into the three fields; an error says what is wrong.
  llvm::Error parse(std::string &descr, bool &fortranOrder,
                    llvm::SmallVectorImpl<int64_t> &shape) {
    bool seenDescr = false, seenOrder = false, seenShape = false;
    if (!consume('{'))
      return fail("expected '{'");
    while (!consume('}')) {
      std::string key;
      if (llvm::Error error = parseString(key))
        return error;
      if (!consume(':'))
        return fail("expected ':' after '" + key + "'");
      if (key == "descr") {
        skipSpace();
        if (!text.empty() && (text.front() == '[' || text.front() == '('))
          return llvm::createStringError("structured dtypes are not supported");
        if (llvm::Error error = parseString(descr))
          return error;
        seenDescr = true;
      } else if (key == "fortran_order") {
        if (consumeWord("True"))
          fortranOrder = true;
        else if (consumeWord("False"))
          fortranOrder = false;
        else
          return fail("expected True or False for 'fortran_order'");
        seenOrder = true;
      } else if (key == "shape") {
        if (llvm::Error error = parseShape(shape))
          return error;
        seenShape = true;
      } else {
        return fail("unexpected key '" + key + "'");
      }
      if (!consume(',') && !peek('}'))
        return fail("expected ',' or '}'");
    }
    if (!seenDescr || !seenOrder || !seenShape)
      return fail("expected the keys 'descr', 'fortran_order' and 'shape'");
    skipSpace();
    if (!text.empty())
      return fail("unexpected text after the dict");
    return llvm::Error::success();
  }

private:
  void skipSpace() { text = text.ltrim(" \t\r\n"); }

  bool peek(char c) {
    skipSpace();
    return !text.empty() && text.front() == c;
  }

  bool consume(char c) {
    if (!peek(c))
      return false;
    text = text.drop_front();
    return true;
  }

  bool consumeWord(llvm::StringRef word) {
    skipSpace();
    return text.consume_front(word);
  }

  llvm::Error fail(const llvm::Twine &message) {
    return llvm::createStringError("malformed header: " + message);
  }

  llvm::Error parseString(std::string &value) {
    skipSpace();
    if (text.empty() || (text.front() != '\'' && text.front() != '"'))
      return fail("expected a quoted string");
    char quote = text.front();
    size_t end = text.find(quote, 1);
    if (end == llvm::StringRef::npos)
      return fail("unterminated string");
    value = text.substr(1, end - 1).str();
    text = text.drop_front(end + 1);
    return llvm::Error::success();
  }

  llvm::Error parseShape(llvm::SmallVectorImpl<int64_t> &shape) {
    if (!consume('('))
      return fail("expected '(' for 'shape'");
    while (!consume(')')) {
      skipSpace();
      size_t digits = text.find_first_not_of("0123456789");
      if (digits == 0 || digits == llvm::StringRef::npos)
        return fail("expected a dimension size in 'shape'");
      int64_t size;
      if (text.take_front(digits).getAsInteger(10, size))
        return fail("dimension size out of range in 'shape'");
      text = text.drop_front(digits);
      text.consume_front("L"); // Python 2 longs.
      shape.push_back(size);
      if (!consume(',') && !peek(')'))
        return fail("expected ',' or ')' in 'shape'");
    }
    return llvm::Error::success();
  }

  llvm::StringRef text;
};

} // namespace

llvm::Expected<NpyArray> mlir::moe::readNpyFile(llvm::StringRef path) {
  auto fileOrError = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                                 /*RequiresNullTerminator=*/
                                                 false);
  if (!fileOrError)
    return llvm::createStringError("cannot read " + path + ": " +
                                   fileOrError.getError().message());
  llvm::StringRef contents = (*fileOrError)->getBuffer();
  auto fail = [&](const llvm::Twine &message) {
    return llvm::createStringError(path + ": " + message);
  };

  if (!contents.starts_with(kMagic))
    return fail("not a .npy file (bad magic string)");
  if (contents.size() < 10)
    return fail("truncated header");
  unsigned major = static_cast<unsigned char>(contents[6]);
  unsigned minor = static_cast<unsigned char>(contents[7]);
  if (major < 1 || major > 3 || minor != 0)
    return fail("unsupported .npy format version " + llvm::Twine(major) + "." +
                llvm::Twine(minor));
  size_t lengthBytes = major == 1 ? 2 : 4;
  if (contents.size() < 8 + lengthBytes)
    return fail("truncated header");
  size_t headerBytes =
      major == 1 ? llvm::support::endian::read16le(contents.data() + 8)
                 : llvm::support::endian::read32le(contents.data() + 8);
  size_t dataStart = 8 + lengthBytes + headerBytes;
  if (contents.size() < dataStart)
    return fail("truncated header");

  NpyArray array;
  bool fortranOrder = false;
  HeaderParser parser(contents.slice(8 + lengthBytes, dataStart));
  if (llvm::Error error = parser.parse(array.descr, fortranOrder, array.shape))
    return fail(llvm::toString(std::move(error)));
  if (fortranOrder)
    return fail("Fortran-order arrays are not supported (save a C-order "
                "array, e.g. numpy.ascontiguousarray)");
  size_t elementBytes = getNpyElementBytes(array.descr);
  if (elementBytes == 0)
    return fail("unsupported dtype '" + array.descr + "'");
  if (array.descr[0] == '>' && elementBytes > 1)
    return fail("big-endian dtype '" + array.descr + "' is not supported");
  if (array.descr[0] == '=')
    array.descr[0] = '<'; // x86-64 is little-endian.

  std::optional<size_t> expected = getArrayBytes(array.shape, elementBytes);
  if (!expected)
    return fail("shape " + formatShape(array.shape) + " is too large");
  size_t found = contents.size() - dataStart;
  if (found < *expected)
    return fail("truncated data: shape " + formatShape(array.shape) + " of '" +
                array.descr + "' needs " + llvm::Twine(*expected) +
                " bytes, found " + llvm::Twine(found));
  if (found > *expected)
    return fail(llvm::Twine(found - *expected) + " bytes of data after the " +
                llvm::Twine(*expected) + " that shape " +
                formatShape(array.shape) + " of '" + array.descr + "' holds");
  auto buffer = AlignedBuffer::allocate(*expected);
  if (!buffer)
    return fail(llvm::toString(buffer.takeError()));
  array.data = std::move(*buffer);
  std::memcpy(array.data.data(), contents.data() + dataStart, *expected);
  return array;
}

llvm::Error mlir::moe::writeNpyFile(llvm::StringRef path, llvm::StringRef descr,
                                    llvm::ArrayRef<int64_t> shape,
                                    const void *data, size_t bytes) {
  std::string header;
  llvm::raw_string_ostream os(header);
  os << "{'descr': '" << descr << "', 'fortran_order': False, 'shape': (";
  for (int64_t size : shape)
    os << size << (shape.size() == 1 ? "," : ", ");
  if (shape.size() > 1)
    header.resize(header.size() - 2);
  os << "), }";
  // Pad with spaces to a multiple of 64 bytes, newline last.
  bool wide = header.size() + 1 + 10 > 65535;
  size_t prefix = wide ? 12 : 10;
  size_t total = llvm::alignTo(prefix + header.size() + 1, 64);
  header.append(total - prefix - header.size() - 1, ' ');
  header.push_back('\n');

  std::error_code error;
  llvm::raw_fd_ostream file(path, error, llvm::sys::fs::OF_None);
  if (error)
    return llvm::createStringError("cannot write " + path + ": " +
                                   error.message());
  file << kMagic;
  file << static_cast<char>(wide ? 3 : 1) << static_cast<char>(0);
  char length[4];
  if (wide) {
    llvm::support::endian::write32le(length, header.size());
    file.write(length, 4);
  } else {
    llvm::support::endian::write16le(length, header.size());
    file.write(length, 2);
  }
  file << header;
  file.write(static_cast<const char *>(data), bytes);
  file.close();
  if (file.has_error())
    return llvm::createStringError("cannot write " + path + ": " +
                                   file.error().message());
  return llvm::Error::success();
}
