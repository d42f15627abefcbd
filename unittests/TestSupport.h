//===- TestSupport.h - Shared helpers of the moe unit tests -----*- C++ -*-===//
//
// A test fixture that owns an MLIRContext with every dialect moe-mlir
// registers, a parser for modules written inline, and a collector for the
// diagnostics that verifiers and parsers emit.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_UNITTESTS_TESTSUPPORT_H
#define MOE_UNITTESTS_TESTSUPPORT_H

#include "moe/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/StringRef.h"

#include "gtest/gtest.h"

#include <string>
#include <vector>

namespace mlir::moe::test {

/// Records the text of every diagnostic (with its notes) emitted in a context
/// while alive, and keeps them from being printed.
class DiagnosticCollector {
public:
  explicit DiagnosticCollector(MLIRContext &context)
      : handler(&context, [this](Diagnostic &diagnostic) {
          std::string text = diagnostic.str();
          for (Diagnostic &note : diagnostic.getNotes())
            text += "\nnote: " + note.str();
          messages.push_back(std::move(text));
          return success();
        }) {}

  /// True when some diagnostic contains `text`.
  bool contains(llvm::StringRef text) const {
    for (const std::string &message : messages)
      if (llvm::StringRef(message).contains(text))
        return true;
    return false;
  }

  /// All diagnostics, one a line, for failure messages.
  std::string str() const {
    std::string all;
    for (const std::string &message : messages)
      all += message + "\n";
    return all;
  }

  bool empty() const { return messages.empty(); }

private:
  std::vector<std::string> messages;
  ScopedDiagnosticHandler handler;
};

/// A fixture with a context that has loaded every moe-mlir dialect.
class MoETest : public ::testing::Test {
protected:
  MoETest() {
    DialectRegistry registry;
    registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// Parses `source` as a module; fails the test (and returns null) when it
  /// does not parse.
  OwningOpRef<ModuleOp> parse(llvm::StringRef source) {
    DiagnosticCollector diagnostics(context);
    OwningOpRef<ModuleOp> module =
        parseSourceString<ModuleOp>(source, ParserConfig(&context));
    EXPECT_TRUE(module) << "failed to parse:\n"
                        << source.str() << "\n"
                        << diagnostics.str();
    return module;
  }

  MLIRContext context;
};

} // namespace mlir::moe::test

#endif // MOE_UNITTESTS_TESTSUPPORT_H
