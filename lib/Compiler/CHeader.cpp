//===- CHeader.cpp - The C header of a compiled moe module ----------------===//
//
// Declares what a C program needs to call the `_mlir_ciface_` wrappers of a
// module compiled by moe-compile: one struct per memref descriptor type
// (guarded, so that headers of several models can be included together), a
// struct of the results of a function that returns several, and the
// prototypes, which follow convert-func-to-llvm's C interface: buffers by
// pointer to their descriptor, scalars by value, and results through a
// pointer in the first argument unless there is a single scalar result.
//
//===----------------------------------------------------------------------===//

#include "moe/Compiler/AOTCompiler.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::moe;

/// The element type's name in descriptor struct names: `f32`, `index`, ...
static llvm::StringRef getElementName(ElementKind kind) {
  switch (kind) {
  case ElementKind::F16:
    return "f16";
  case ElementKind::BF16:
    return "bf16";
  case ElementKind::F32:
    return "f32";
  case ElementKind::F64:
    return "f64";
  case ElementKind::I1:
    return "i1";
  case ElementKind::I8:
    return "i8";
  case ElementKind::I16:
    return "i16";
  case ElementKind::I32:
    return "i32";
  case ElementKind::I64:
    return "i64";
  case ElementKind::Index:
    return "index";
  }
  llvm_unreachable("unknown element kind");
}

/// The C type of a scalar, or of the elements a descriptor points to.
/// In memory f16 and bf16 are their 16 bits; passed by value they must be
/// the C types that the x86-64 ABI passes in vector registers, as LLVM
/// passes `half` and `bfloat`.
static llvm::StringRef getCType(ElementKind kind, bool byValue) {
  switch (kind) {
  case ElementKind::F16:
    return byValue ? "_Float16" : "uint16_t";
  case ElementKind::BF16:
    return byValue ? "__bf16" : "uint16_t";
  case ElementKind::F32:
    return "float";
  case ElementKind::F64:
    return "double";
  case ElementKind::I1:
    return "bool";
  case ElementKind::I8:
    return "int8_t";
  case ElementKind::I16:
    return "int16_t";
  case ElementKind::I32:
    return "int32_t";
  case ElementKind::I64:
  case ElementKind::Index:
    return "int64_t";
  }
  llvm_unreachable("unknown element kind");
}

static std::string getDescriptorName(const EntryValue &value) {
  return llvm::formatv("moe_memref_{0}d_{1}", value.getRank(),
                       getElementName(value.element))
      .str();
}

/// The C type of a value in a parameter list or a struct of results.
static std::string getValueType(const EntryValue &value) {
  return value.isBuffer ? getDescriptorName(value)
                        : getCType(value.element, /*byValue=*/true).str();
}

static bool isCIdentifier(llvm::StringRef name) {
  return !name.empty() && !llvm::isDigit(name.front()) &&
         llvm::all_of(name,
                      [](char c) { return llvm::isAlnum(c) || c == '_'; });
}

static void writeDescriptorStruct(const EntryValue &value,
                                  llvm::raw_ostream &os) {
  std::string name = getDescriptorName(value);
  std::string guard = llvm::StringRef(name).upper();
  llvm::StringRef element = getCType(value.element, /*byValue=*/false);
  os << "#ifndef " << guard << "\n#define " << guard << "\n";
  os << "typedef struct " << name << " {\n";
  os << "  " << element << " *allocated; /* what to release */\n";
  os << "  " << element
     << " *aligned;   /* where element 0 is, before "
        "offset */\n";
  os << "  int64_t offset;\n";
  if (value.getRank() > 0) {
    os << "  int64_t sizes[" << value.getRank() << "];\n";
    os << "  int64_t strides[" << value.getRank() << "];\n";
  }
  os << "} " << name << ";\n#endif\n\n";
}

llvm::Error mlir::moe::writeCHeader(llvm::ArrayRef<EntrySignature> entryPoints,
                                    llvm::StringRef includeGuard,
                                    llvm::StringRef sourceName,
                                    llvm::raw_ostream &os, TargetKind target) {
  for (const EntrySignature &entry : entryPoints)
    if (!isCIdentifier(entry.name))
      return llvm::createStringError(
          "@" + entry.name +
          " is not a C identifier, so its C wrapper cannot be "
          "declared; rename the function");

  os << "/* Entry points of " << sourceName
     << ", compiled by moe-compile. Do not edit.\n"
        " *\n"
        " * Buffers are passed as memref descriptors: element (i, j, ...) of "
        "a buffer\n"
        " * is aligned[offset + i * strides[0] + j * strides[1] + ...]. "
        "Arguments stay\n"
        " * the caller's. Every buffer a function returns is newly allocated, "
        "never an\n";
  if (target == TargetKind::CUDA)
    os << " * argument or a constant. All buffers, arguments and results, "
          "are GPU\n"
          " * buffers (moe_cuda_alloc, cuMemAlloc, managed memory): release "
          "a result\n"
          " * with moe_cuda_free(result.allocated). Link the model's shared "
          "library (it\n"
          " * needs libmoe_cuda_runtime.so, libomp and libmoe_runtime.so); "
          "the kernels are\n"
          " * loaded when the library is. */\n\n";
  else
    os << " * argument or a constant (malloc): release it with "
          "free(result.allocated).\n"
          " * Link the model's shared library (it needs libomp and "
          "libmoe_runtime.so). */\n\n";
  os << "#ifndef " << includeGuard << "\n#define " << includeGuard << "\n\n";
  os << "#include <stdbool.h>\n#include <stdint.h>\n\n";
  os << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n";

  // The descriptor structs, once each, in order of first use.
  llvm::StringSet<> written;
  for (const EntrySignature &entry : entryPoints)
    for (const EntryValue &value :
         llvm::concat<const EntryValue>(entry.arguments, entry.results))
      if (value.isBuffer && written.insert(getDescriptorName(value)).second)
        writeDescriptorStruct(value, os);

  for (const EntrySignature &entry : entryPoints) {
    // The signature as MLIR wrote it.
    os << "/* @" << entry.name << "(";
    llvm::interleaveComma(entry.arguments, os, [&](const EntryValue &value) {
      os << printType(value.type);
    });
    os << ")";
    if (!entry.results.empty()) {
      os << " -> (";
      llvm::interleaveComma(entry.results, os, [&](const EntryValue &value) {
        os << printType(value.type);
      });
      os << ")";
    }
    os << " */\n";

    std::string returnType = "void";
    llvm::SmallVector<std::string> parameters;
    if (entry.results.size() > 1) {
      std::string resultsName = entry.name + "_results";
      os << "typedef struct " << resultsName << " {\n";
      for (auto [index, value] : llvm::enumerate(entry.results))
        os << "  " << getValueType(value) << " result" << index << ";\n";
      os << "} " << resultsName << ";\n";
      parameters.push_back(resultsName + " *results");
    } else if (entry.results.size() == 1) {
      if (entry.results[0].isBuffer)
        parameters.push_back(getValueType(entry.results[0]) + " *result");
      else
        returnType = getValueType(entry.results[0]);
    }
    for (auto [index, value] : llvm::enumerate(entry.arguments))
      parameters.push_back(getValueType(value) +
                           (value.isBuffer ? " *arg" : " arg") +
                           std::to_string(index));
    os << returnType << " _mlir_ciface_" << entry.name << "(";
    if (parameters.empty())
      os << "void";
    os << llvm::join(parameters, ", ") << ");\n\n";
  }

  os << "#ifdef __cplusplus\n} /* extern \"C\" */\n#endif\n\n";
  os << "#endif /* " << includeGuard << " */\n";
  return llvm::Error::success();
}
