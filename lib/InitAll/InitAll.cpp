//===- InitAll.cpp - The one registration point of moe-mlir ---------------===//
//
// Registers the moe dialect and passes, and exactly the upstream dialects and
// passes that moe graphs and the moe pipelines use.
//
//===----------------------------------------------------------------------===//

#include "moe/InitAll.h"

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/Extensions/AllExtensions.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

void mlir::moe::registerAllDialects(DialectRegistry &registry) {
  // The moe dialect and the upstream dialects a model graph is written in
  // (DESIGN.md section 1), plus those decompose and the lowerings create.
  registry.insert<moe::MoEDialect, func::FuncDialect, arith::ArithDialect,
                  math::MathDialect, tensor::TensorDialect,
                  linalg::LinalgDialect, scf::SCFDialect,
                  affine::AffineDialect>();
  // The func inliner interface, so that graphs split into functions can be
  // inlined before the moe passes.
  func::registerAllExtensions(registry);
}

void mlir::moe::registerAllPasses() {
  moe::registerMoEPasses();
  moe::registerMoEConversionPasses();
  // canonicalize, cse, inline, symbol-dce: used between moe passes.
  mlir::registerTransformsPasses();
}
