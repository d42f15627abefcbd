//===- moe-opt.cpp - The moe-mlir optimizer driver ------------------------===//
//
// MlirOptMain with the moe dialect, its passes, and the upstream dialects and
// passes that moe graphs and pipelines use.
//
//===----------------------------------------------------------------------===//

#include "moe/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::moe::registerAllPasses();
  mlir::DialectRegistry registry;
  mlir::moe::registerAllDialects(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "moe-mlir optimizer driver\n", registry));
}
