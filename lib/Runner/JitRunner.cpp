//===- JitRunner.cpp - Run a moe module on the CPU with the JIT -----------===//
//
// moe-run's library: inputs (from .npy files, checked against the entry
// point's signature, or seeded random data), memref descriptors, the call
// through the `_mlir_ciface_` wrapper with ExecutionEngine's packed
// interface, and the results (summary lines, full printing, .npy files),
// which are freed after each call.
//
//===----------------------------------------------------------------------===//

#include "moe/Runner/JitRunner.h"

#include "moe/Pipelines/Pipelines.h"
#include "moe/Runner/EntryPoint.h"
#include "moe/Runner/Npy.h"
#include "moe/Runtime/MoERuntime.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Parallel.h"
#include "llvm/Support/Path.h"
#include "llvm/Target/TargetMachine.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

using namespace mlir;
using namespace mlir::moe;

//===----------------------------------------------------------------------===//
// Element conversions
//===----------------------------------------------------------------------===//

static uint32_t bitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
}

static float floatOf(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

/// f32 -> bf16 bits, rounding to nearest even.
static uint16_t floatToBF16(float value) {
  uint32_t bits = bitsOf(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return 0x7fc0; // NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

static float bf16ToFloat(uint16_t bits) {
  return floatOf(uint32_t(bits) << 16);
}

/// f32 -> IEEE half bits, rounding to nearest even (subnormals, overflow to
/// infinity and NaN included).
static uint16_t floatToHalf(float value) {
  uint32_t bits = bitsOf(value);
  uint32_t sign = bits & 0x80000000u;
  bits ^= sign;
  uint16_t half;
  if (bits >= 0x47800000u) { // >= 65536.0 (rounds to inf), inf or NaN
    half = bits > 0x7f800000u ? 0x7e00 : 0x7c00;
  } else if (bits < 0x38800000u) { // below the smallest normal half
    // Adding 0.5 aligns the subnormal half mantissa at the bottom of the
    // float's, where the FPU rounds it to nearest even.
    half = static_cast<uint16_t>(bitsOf(floatOf(bits) + 0.5f) - 0x3f000000u);
  } else {
    uint32_t odd = (bits >> 13) & 1u;
    bits += 0xc8000fffu + odd; // rebias the exponent, round to nearest even
    half = static_cast<uint16_t>(bits >> 13);
  }
  return static_cast<uint16_t>(half | (sign >> 16));
}

static float halfToFloat(uint16_t half) {
  uint32_t bits = uint32_t(half & 0x7fffu) << 13;
  uint32_t exponent = bits & 0x0f800000u;
  bits += 0x38000000u; // rebias
  if (exponent == 0x0f800000u) {
    bits += 0x38000000u; // inf or NaN
  } else if (exponent == 0) {
    bits += 0x00800000u; // zero or subnormal: renormalize through the FPU
    bits = bitsOf(floatOf(bits) - floatOf(0x38800000u));
  }
  return floatOf(bits | (uint32_t(half & 0x8000u) << 16));
}

/// Reads element `index` of a buffer of an integer `kind`, exactly.
static int64_t readInteger(ElementKind kind, const char *data, size_t index) {
  const char *at = data + index * getElementBytes(kind);
  auto load = [&](auto value) {
    std::memcpy(&value, at, sizeof(value));
    return value;
  };
  switch (kind) {
  case ElementKind::I1:
    return load(uint8_t()) & 1;
  case ElementKind::I8:
    return load(int8_t());
  case ElementKind::I16:
    return load(int16_t());
  case ElementKind::I32:
    return load(int32_t());
  case ElementKind::I64:
  case ElementKind::Index:
    return load(int64_t());
  default:
    llvm_unreachable("not an integer kind");
  }
}

/// Reads element `index` of a buffer of `kind` as a double.
static double readElement(ElementKind kind, const char *data, size_t index) {
  const char *at = data + index * getElementBytes(kind);
  auto load = [&](auto value) {
    std::memcpy(&value, at, sizeof(value));
    return value;
  };
  switch (kind) {
  case ElementKind::F16:
    return halfToFloat(load(uint16_t()));
  case ElementKind::BF16:
    return bf16ToFloat(load(uint16_t()));
  case ElementKind::F32:
    return load(float());
  case ElementKind::F64:
    return load(double());
  default:
    return static_cast<double>(readInteger(kind, data, index));
  }
}

//===----------------------------------------------------------------------===//
// Inputs
//===----------------------------------------------------------------------===//

namespace {

/// SplitMix64: a small, fast generator whose streams are fixed by the seed
/// alone (unlike std::uniform_*_distribution, which vary between C++
/// libraries).
class RandomStream {
public:
  RandomStream(uint64_t seed, uint64_t stream)
      : state(seed * 0x9e3779b97f4a7c15ull ^
              (stream + 1) * 0xd1b54a32d192ed03ull) {}

  /// Skips `count` values: SplitMix64's state advances by a constant, so
  /// a stream can be split into chunks that are filled in parallel.
  void skip(uint64_t count) { state += count * 0x9e3779b97f4a7c15ull; }

  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  /// Uniform in [-1, 1) on a grid of 2^-23, exact in f32.
  float nextFloat() {
    return static_cast<float>(next() >> 40) * 0x1p-23f - 1.0f;
  }

private:
  uint64_t state;
};

/// An argument ready for the call: its data and, for a buffer, its memref
/// descriptor.
struct PreparedArgument {
  AlignedBuffer data;
  llvm::SmallVector<int64_t> shape;
  /// {allocated, aligned, offset, sizes[rank], strides[rank]}.
  llvm::SmallVector<int64_t> descriptor;
};

} // namespace

/// The row-major descriptor of a contiguous buffer.
static void buildDescriptor(PreparedArgument &argument) {
  auto pointer = reinterpret_cast<intptr_t>(argument.data.data());
  int64_t rank = argument.shape.size();
  argument.descriptor.assign(3 + 2 * rank, 0);
  argument.descriptor[0] = pointer;
  argument.descriptor[1] = pointer;
  int64_t stride = 1;
  for (int64_t dim = rank - 1; dim >= 0; --dim) {
    argument.descriptor[3 + dim] = argument.shape[dim];
    argument.descriptor[3 + rank + dim] = stride;
    stride *= argument.shape[dim];
  }
}

/// Fills elements [begin, end) of a buffer of `kind` with the seeded random
/// data of argument `index`.
static void fillRandomRange(ElementKind kind, char *data, size_t begin,
                            size_t end, uint64_t seed, unsigned index) {
  RandomStream random(seed, index);
  random.skip(begin);
  for (size_t i = begin; i < end; ++i) {
    char *at = data + i * getElementBytes(kind);
    auto store = [&](auto value) { std::memcpy(at, &value, sizeof(value)); };
    switch (kind) {
    case ElementKind::F16:
      store(floatToHalf(random.nextFloat()));
      break;
    case ElementKind::BF16:
      store(floatToBF16(random.nextFloat()));
      break;
    case ElementKind::F32:
      store(random.nextFloat());
      break;
    case ElementKind::F64:
      store(static_cast<double>(random.nextFloat()));
      break;
    case ElementKind::I1:
      store(static_cast<uint8_t>(random.next() & 1));
      break;
    case ElementKind::I8:
      store(static_cast<int8_t>(random.next() & 7));
      break;
    case ElementKind::I16:
      store(static_cast<int16_t>(random.next() & 7));
      break;
    case ElementKind::I32:
      store(static_cast<int32_t>(random.next() & 7));
      break;
    case ElementKind::I64:
    case ElementKind::Index:
      store(static_cast<int64_t>(random.next() & 7));
      break;
    }
  }
}

/// Fills a buffer of `kind` with the seeded random data of argument `index`;
/// large buffers in chunks on all cores (the same data as one sequential
/// pass: each chunk starts where the stream would be).
static void fillRandom(ElementKind kind, char *data, size_t count,
                       uint64_t seed, unsigned index) {
  constexpr size_t chunk = size_t(1) << 22;
  if (count <= chunk) {
    fillRandomRange(kind, data, 0, count, seed, index);
    return;
  }
  llvm::parallelFor(0, (count + chunk - 1) / chunk, [&](size_t part) {
    fillRandomRange(kind, data, part * chunk,
                    std::min(count, (part + 1) * chunk), seed, index);
  });
}

/// Whether a file of dtype `descr` can feed an argument of `kind`: the exact
/// dtype, or for i1 also NumPy's bool ('|b1').
static bool acceptsDescr(ElementKind kind, llvm::StringRef descr) {
  return descr == getNpyDescr(kind) ||
         (kind == ElementKind::I1 && descr == "|b1");
}

/// Reads or generates argument `index`.
static llvm::Expected<PreparedArgument>
prepareArgument(const EntryValue &value, unsigned index,
                const RunOptions &options) {
  std::string what = llvm::formatv("argument #{0} (%arg{0}: {1})", index,
                                   printType(value.type))
                         .str();
  PreparedArgument argument;
  if (index < options.inputs.size()) {
    llvm::StringRef path = options.inputs[index];
    auto array = readNpyFile(path);
    if (!array)
      return llvm::createStringError(what + ": " +
                                     llvm::toString(array.takeError()));
    if (!acceptsDescr(value.element, array->descr))
      return llvm::createStringError(what + ": expected dtype '" +
                                     getNpyDescr(value.element) + "', found '" +
                                     array->descr + "' in " + path);
    bool matches = array->shape.size() == value.shape.size();
    for (auto [expected, found] : llvm::zip(value.shape, array->shape))
      matches &= ShapedType::isDynamic(expected) || expected == found;
    if (!matches)
      return llvm::createStringError(what + ": expected shape " +
                                     formatShape(value.shape) + ", found " +
                                     formatShape(array->shape) + " in " + path);
    argument.shape = array->shape;
    argument.data = std::move(array->data);
  } else {
    for (int64_t size : value.shape)
      argument.shape.push_back(ShapedType::isDynamic(size) ? options.dynamicSize
                                                           : size);
    std::optional<size_t> bytes =
        getArrayBytes(argument.shape, getElementBytes(value.element));
    if (!bytes)
      return llvm::createStringError(what + ": random shape " +
                                     formatShape(argument.shape) +
                                     " is too large");
    auto buffer = AlignedBuffer::allocate(*bytes);
    if (!buffer)
      return llvm::createStringError(what + ": " +
                                     llvm::toString(buffer.takeError()));
    argument.data = std::move(*buffer);
    fillRandom(value.element, argument.data.data(),
               *bytes / getElementBytes(value.element), options.seed, index);
  }
  if (value.isBuffer)
    buildDescriptor(argument);
  return argument;
}

//===----------------------------------------------------------------------===//
// Results
//===----------------------------------------------------------------------===//

namespace {

/// A result copied out of the call into a contiguous host buffer.
struct HostResult {
  llvm::SmallVector<int64_t> shape;
  AlignedBuffer data;
};

} // namespace

/// Copies the buffer a descriptor describes (any strides) into a row-major
/// host buffer.
static llvm::Expected<HostResult>
copyResult(const EntryValue &value, const int64_t *descriptor, unsigned index) {
  HostResult result;
  int64_t rank = value.getRank();
  const int64_t *sizes = descriptor + 3, *strides = descriptor + 3 + rank;
  for (int64_t dim = 0; dim < rank; ++dim) {
    if (sizes[dim] < 0)
      return llvm::createStringError("result #" + llvm::Twine(index) +
                                     " has a negative size in its descriptor");
    result.shape.push_back(sizes[dim]);
  }
  size_t elementBytes = getElementBytes(value.element);
  std::optional<size_t> bytes = getArrayBytes(result.shape, elementBytes);
  if (!bytes)
    return llvm::createStringError("result #" + llvm::Twine(index) +
                                   " is too large");
  auto buffer = AlignedBuffer::allocate(*bytes);
  if (!buffer)
    return buffer.takeError();
  result.data = std::move(*buffer);
  size_t count = *bytes / elementBytes;
  if (count == 0)
    return result;
  const char *base = reinterpret_cast<const char *>(descriptor[1]) +
                     descriptor[2] * elementBytes;
  llvm::SmallVector<int64_t> position(rank, 0);
  for (size_t i = 0; i < count; ++i) {
    int64_t offset = 0;
    for (int64_t dim = 0; dim < rank; ++dim)
      offset += position[dim] * strides[dim];
    std::memcpy(result.data.data() + i * elementBytes,
                base + offset * elementBytes, elementBytes);
    for (int64_t dim = rank - 1; dim >= 0; --dim) {
      if (++position[dim] < sizes[dim])
        break;
      position[dim] = 0;
    }
  }
  return result;
}

/// The type of a result with its actual shape: `tensor<16x64xf32>`.
static std::string describeResult(const EntryValue &value,
                                  llvm::ArrayRef<int64_t> shape) {
  if (!value.isBuffer)
    return printType(value.type);
  auto shaped = cast<ShapedType>(value.type);
  return printType(shaped.cloneWith(shape, shaped.getElementType()));
}

/// Formats one element for --print.
static void printElement(llvm::raw_ostream &os, ElementKind kind,
                         const char *data, size_t index) {
  if (isFloatKind(kind))
    os << llvm::format("%.6g", readElement(kind, data, index));
  else
    os << readInteger(kind, data, index);
}

/// Prints a row-major array as nested brackets, one innermost row a line.
static void printArray(llvm::raw_ostream &os, ElementKind kind,
                       const char *data, llvm::ArrayRef<int64_t> shape,
                       size_t &index, unsigned depth) {
  if (depth == shape.size()) {
    printElement(os, kind, data, index++);
    return;
  }
  os << '[';
  for (int64_t i = 0; i < shape[depth]; ++i) {
    if (i > 0) {
      os << ',';
      if (depth + 1 == shape.size()) {
        os << ' ';
      } else {
        os << '\n';
        os.indent(depth + 1);
      }
    }
    printArray(os, kind, data, shape, index, depth + 1);
  }
  os << ']';
}

/// Reports one result as the options say.
static llvm::Error reportResult(const EntryValue &value,
                                const HostResult &result, unsigned index,
                                const RunOptions &options,
                                llvm::raw_ostream &os) {
  size_t count = result.data.size() / getElementBytes(value.element);
  std::string type = describeResult(value, result.shape);
  if (!options.outputDirectory.empty()) {
    llvm::SmallString<256> path(options.outputDirectory);
    llvm::sys::path::append(path, "result" + llvm::Twine(index) + ".npy");
    if (llvm::Error error =
            writeNpyFile(path, getNpyDescr(value.element), result.shape,
                         result.data.data(), result.data.size()))
      return error;
  }
  if (options.printResults) {
    os << "result" << index << ": " << type << " =\n";
    size_t position = 0;
    printArray(os, value.element, result.data.data(), result.shape, position,
               0);
    os << '\n';
    return llvm::Error::success();
  }
  double sum = 0, absSum = 0;
  for (size_t i = 0; i < count; ++i) {
    double element = readElement(value.element, result.data.data(), i);
    sum += element;
    absSum += std::fabs(element);
  }
  os << "result" << index << ": " << type
     << llvm::format(" sum=%.9g abs_sum=%.9g\n", sum, absSum);
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// Leak checking
//===----------------------------------------------------------------------===//

namespace {

/// The heap buffers that JIT-compiled code holds. Under --check-leaks the
/// engine resolves the compiled code's malloc, calloc, realloc,
/// aligned_alloc and free to the functions below, which keep this set, so
/// a missing deallocation shows up as a buffer that outlives its call.
struct HeapTracker {
  std::mutex mutex;
  llvm::DenseMap<void *, size_t> live;
  size_t allocations = 0;
  size_t invalidFrees = 0;

  void *record(void *buffer, size_t bytes) {
    if (buffer) {
      std::lock_guard<std::mutex> lock(mutex);
      live[buffer] = bytes;
      ++allocations;
    }
    return buffer;
  }

  void release(void *buffer) {
    if (!buffer)
      return;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!live.erase(buffer)) {
        // Not from the compiled code: do not hand it to free().
        ++invalidFrees;
        return;
      }
    }
    std::free(buffer);
  }
};

HeapTracker heapTracker;

void *moeTrackedMalloc(size_t bytes) {
  return heapTracker.record(std::malloc(bytes), bytes);
}
void *moeTrackedCalloc(size_t count, size_t bytes) {
  return heapTracker.record(std::calloc(count, bytes), count * bytes);
}
void *moeTrackedAlignedAlloc(size_t alignment, size_t bytes) {
  return heapTracker.record(std::aligned_alloc(alignment, bytes), bytes);
}
void *moeTrackedRealloc(void *buffer, size_t bytes) {
  if (buffer) {
    std::lock_guard<std::mutex> lock(heapTracker.mutex);
    heapTracker.live.erase(buffer);
  }
  return heapTracker.record(std::realloc(buffer, bytes), bytes);
}
void moeTrackedFree(void *buffer) { heapTracker.release(buffer); }

/// Resolves the compiled code's heap functions to the tracking ones.
void trackHeapOf(ExecutionEngine &engine) {
  engine.registerSymbols([](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap symbols;
    auto define = [&](llvm::StringRef name, auto *function) {
      symbols[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(function),
                                 llvm::JITSymbolFlags::Exported};
    };
    define("malloc", &moeTrackedMalloc);
    define("calloc", &moeTrackedCalloc);
    define("aligned_alloc", &moeTrackedAlignedAlloc);
    define("realloc", &moeTrackedRealloc);
    define("free", &moeTrackedFree);
    // What memref.alloc and memref.dealloc lower to (the runtime's caching
    // heap functions otherwise): tracked, and never cached, so that a buffer
    // left behind shows.
    define("_mlir_memref_to_llvm_alloc", &moeTrackedMalloc);
    define("_mlir_memref_to_llvm_aligned_alloc", &moeTrackedAlignedAlloc);
    define("_mlir_memref_to_llvm_free", &moeTrackedFree);
    return symbols;
  });
}

/// Fails if the compiled code still holds buffers or freed foreign ones.
llvm::Error checkHeap(llvm::StringRef entry, unsigned calls) {
  std::lock_guard<std::mutex> lock(heapTracker.mutex);
  if (heapTracker.invalidFrees)
    return llvm::createStringError("@" + entry + " freed " +
                                   llvm::Twine(heapTracker.invalidFrees) +
                                   " buffers it did not allocate");
  if (heapTracker.live.empty())
    return llvm::Error::success();
  size_t bytes = 0;
  for (auto &buffer : heapTracker.live)
    bytes += buffer.second;
  size_t count = heapTracker.live.size();
  return llvm::createStringError(
      llvm::Twine(count) + (count == 1 ? " buffer (" : " buffers (") +
      llvm::Twine(bytes) + " bytes) that @" + entry + " allocated " +
      (count == 1 ? "was" : "were") + " not freed after " + llvm::Twine(calls) +
      (calls == 1 ? " call" : " calls"));
}

} // namespace

//===----------------------------------------------------------------------===//
// The call
//===----------------------------------------------------------------------===//

namespace {

/// One call of the entry point through its C wrapper, with the storage the
/// packed interface reads arguments from and writes results to.
class EntryCall {
public:
  EntryCall(const EntrySignature &signature,
            llvm::MutableArrayRef<PreparedArgument> arguments, bool trackHeap)
      : signature(signature), arguments(arguments), trackHeap(trackHeap) {
    size_t structBytes = 0;
    resultOffsets = signature.getResultOffsets(&structBytes);
    resultStorage.assign((structBytes + 7) / 8 + 1, 0);
    for (const PreparedArgument &argument : arguments)
      inputPointers.insert(argument.data.data());
  }

  /// Calls the function; the results are in the result storage until
  /// freeResults.
  llvm::Error invoke(ExecutionEngine &engine) {
    std::fill(resultStorage.begin(), resultStorage.end(), 0);
    // The packed interface takes a pointer to each argument of the wrapper:
    // to the pointer to a descriptor, or to the scalar itself.
    llvm::SmallVector<void *> packed;
    llvm::SmallVector<void *> descriptors;
    descriptors.reserve(arguments.size());
    void *resultPointer = resultStorage.data();
    if (signature.returnsThroughPointer())
      packed.push_back(&resultPointer);
    for (auto [value, argument] : llvm::zip(signature.arguments, arguments)) {
      if (value.isBuffer) {
        descriptors.push_back(argument.descriptor.data());
        packed.push_back(&descriptors.back());
      } else {
        packed.push_back(argument.data.data());
      }
    }
    if (signature.results.size() == 1 && !signature.returnsThroughPointer())
      packed.push_back(resultStorage.data());
    return engine.invokePacked("_mlir_ciface_" + signature.name, packed);
  }

  /// Where result `index` is: a memref descriptor or a scalar.
  const char *getResult(unsigned index) const {
    return reinterpret_cast<const char *>(resultStorage.data()) +
           resultOffsets[index];
  }

  /// Frees the buffers of the buffer results: each distinct allocation
  /// once, never an input's buffer or a constant global (which MLIR's
  /// lowering marks with the allocated pointer 0xdeadbeef).
  void freeResults() {
    llvm::SmallPtrSet<void *, 8> freed;
    for (auto [index, value] : llvm::enumerate(signature.results)) {
      if (!value.isBuffer)
        continue;
      void *allocated;
      std::memcpy(&allocated, getResult(index), sizeof(void *));
      if (!allocated || allocated == reinterpret_cast<void *>(0xdeadbeef) ||
          inputPointers.contains(allocated) || !freed.insert(allocated).second)
        continue;
      // Compiled code allocates with malloc (finalize-memref-to-llvm).
      if (trackHeap)
        moeTrackedFree(allocated);
      else
        std::free(allocated);
    }
  }

private:
  const EntrySignature &signature;
  llvm::MutableArrayRef<PreparedArgument> arguments;
  llvm::SmallVector<size_t> resultOffsets;
  llvm::SmallVector<uint64_t> resultStorage;
  llvm::SmallPtrSet<void *, 8> inputPointers;
  bool trackHeap;
};

} // namespace

llvm::Error mlir::moe::runModule(ModuleOp module, const RunOptions &options,
                                 llvm::raw_ostream &os) {
  auto entry = chooseEntryPoint(module, options.entry);
  if (!entry)
    return entry.takeError();
  // The signature as written (tensor types) for messages and shapes.
  auto signature = getEntrySignature(module, *entry);
  if (!signature)
    return signature.takeError();
  if (options.inputs.size() > signature->arguments.size())
    return llvm::createStringError(
        "@" + *entry + " takes " + llvm::Twine(signature->arguments.size()) +
        " arguments, but " + llvm::Twine(options.inputs.size()) +
        " input files were given");
  if (options.dynamicSize < 0)
    return llvm::createStringError("--dynamic-size must be >= 0");

  // Inputs first: a wrong file should not wait for the compiler.
  std::vector<PreparedArgument> arguments;
  for (auto [index, value] : llvm::enumerate(signature->arguments)) {
    auto argument = prepareArgument(value, index, options);
    if (!argument)
      return argument.takeError();
    arguments.push_back(std::move(*argument));
  }

  auto machine = createHostTargetMachine();
  if (!machine)
    return machine.takeError();
  if (llvm::Error error = fitTargetToMachine(module, **machine))
    return error;
  CPUPipelineOptions pipelineOptions;
  pipelineOptions.emitCInterface = true;
  if (llvm::Error error = lowerToLLVMDialect(module, pipelineOptions))
    return error;
  if (!module.lookupSymbol<LLVM::LLVMFuncOp>("_mlir_ciface_" + *entry))
    return llvm::createStringError(
        "@" + *entry + " has no C wrapper (_mlir_ciface_" + *entry +
        "); lower it with moe-cpu-pipeline{c-interface=1}");
  // The lowered signature must pass the same values as the one written.
  auto lowered = getEntrySignature(module, *entry);
  if (!lowered)
    return lowered.takeError();
  if (lowered->arguments.size() != signature->arguments.size() ||
      lowered->results.size() != signature->results.size())
    return llvm::createStringError("@" + *entry +
                                   " changed its signature when lowered");

  auto transformer = makeOptimizingTransformer(/*optLevel=*/3,
                                               /*sizeLevel=*/0, machine->get());
  llvm::SmallVector<llvm::StringRef> libraries(options.sharedLibraries.begin(),
                                               options.sharedLibraries.end());
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  engineOptions.sharedLibPaths = libraries;
  auto engine = ExecutionEngine::create(module, engineOptions);
  if (!engine)
    return llvm::createStringError("JIT compilation failed: " +
                                   llvm::toString(engine.takeError()));

  if (options.checkLeaks)
    trackHeapOf(**engine);

  EntryCall call(*signature, arguments, options.checkLeaks);
  if (llvm::Error error = call.invoke(**engine))
    return error;
  for (auto [index, value] : llvm::enumerate(signature->results)) {
    HostResult result;
    if (value.isBuffer) {
      auto copied = copyResult(
          value, reinterpret_cast<const int64_t *>(call.getResult(index)),
          index);
      if (!copied) {
        call.freeResults();
        return copied.takeError();
      }
      result = std::move(*copied);
    } else {
      auto buffer = AlignedBuffer::allocate(getElementBytes(value.element));
      if (!buffer)
        return buffer.takeError();
      result.data = std::move(*buffer);
      std::memcpy(result.data.data(), call.getResult(index),
                  result.data.size());
    }
    if (llvm::Error error = reportResult(value, result, index, options, os)) {
      call.freeResults();
      return error;
    }
  }
  call.freeResults();
  if (options.checkLeaks)
    if (llvm::Error error = checkHeap(*entry, 1))
      return error;

  // A cold run draws new activations before each timed call: the
  // arguments with a dynamic dimension, else the first one.
  llvm::SmallVector<unsigned> activations;
  if (options.cold && options.benchRuns > 0) {
    for (auto [index, value] : llvm::enumerate(signature->arguments))
      if (llvm::any_of(value.shape, ShapedType::isDynamic))
        activations.push_back(index);
    if (activations.empty() && !arguments.empty())
      activations.push_back(0);
  }

  // The first call was the warm-up (it also compiled the code lazily and
  // started OpenMP's threads); time the next ones.
  llvm::SmallVector<double> milliseconds;
  size_t flushedBytes = 0;
  for (unsigned run = 0; run < options.benchWarmup + options.benchRuns; ++run) {
    if (options.cold) {
      for (unsigned index : activations) {
        ElementKind kind = signature->arguments[index].element;
        PreparedArgument &argument = arguments[index];
        fillRandom(kind, argument.data.data(),
                   argument.data.size() / getElementBytes(kind),
                   options.seed + 1 + run, index);
      }
      flushedBytes = moe_flush_caches(options.coldFlushBytes);
      if (flushedBytes == 0)
        return llvm::createStringError(
            "--cold: cannot allocate the cache flush buffer");
    }
    uint64_t start = moe_now_ns();
    if (llvm::Error error = call.invoke(**engine))
      return error;
    uint64_t end = moe_now_ns();
    call.freeResults();
    if (run >= options.benchWarmup)
      milliseconds.push_back((end - start) * 1e-6);
  }
  unsigned calls = 1 + options.benchWarmup + options.benchRuns;
  if (options.checkLeaks) {
    if (llvm::Error error = checkHeap(*entry, calls))
      return error;
    os << "leak check: ok (" << calls << " calls, " << heapTracker.allocations
       << " buffers allocated and freed)\n";
  }
  if (options.cold && options.benchRuns > 0) {
    moe_flush_caches_release();
    os << llvm::formatv("cold: flush_mib={0} refilled=", flushedBytes >> 20);
    if (activations.empty())
      os << "none";
    llvm::interleave(
        activations, os, [&](unsigned index) { os << "%arg" << index; }, ",");
    os << "\n";
  }
  if (options.benchRuns > 0) {
    llvm::sort(milliseconds);
    double median = milliseconds[milliseconds.size() / 2];
    if (milliseconds.size() % 2 == 0)
      median = (median + milliseconds[milliseconds.size() / 2 - 1]) / 2;
    os << llvm::format("bench: runs=%u median_ms=%.4f min_ms=%.4f\n",
                       options.benchRuns, median, milliseconds.front());
  }
  return llvm::Error::success();
}
