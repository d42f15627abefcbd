//===- moe-lsp-server.cpp - Language server for moe IR --------------------===//
//
// MLIR's language server with the moe registry: diagnostics, hover and
// go-to-definition for .mlir files that use the moe dialect.
//
//===----------------------------------------------------------------------===//

#include "moe/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-lsp-server/MlirLspServerMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::moe::registerAllDialects(registry);
  return mlir::failed(mlir::MlirLspServerMain(argc, argv, registry));
}
