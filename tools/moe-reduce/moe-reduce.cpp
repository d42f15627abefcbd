//===- moe-reduce.cpp - Test-case reducer for moe IR ----------------------===//
//
// MLIR's reducer with the moe registry: shrinks a .mlir file while an
// interestingness script keeps reporting the bug.
//
//===----------------------------------------------------------------------===//

#include "moe/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Tools/mlir-reduce/MlirReduceMain.h"

int main(int argc, char **argv) {
  mlir::moe::registerAllPasses();
  mlir::DialectRegistry registry;
  mlir::moe::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  return mlir::failed(mlir::mlirReduceMain(argc, argv, context));
}
