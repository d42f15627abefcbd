//===- MoEPlugin.cpp - The moe dialect as an mlir-opt plugin --------------===//
//
// Lets an mlir-opt built against the same libMLIR.so (Debian's mlir-opt-22)
// parse and verify moe IR: `mlir-opt-22 --load-dialect-plugin=libMoEPlugin.so`.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "llvm/Config/llvm-config.h"

extern "C" LLVM_ATTRIBUTE_WEAK mlir::DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "MoE", LLVM_VERSION_STRING,
          [](mlir::DialectRegistry *registry) {
            registry->insert<mlir::moe::MoEDialect>();
          }};
}
