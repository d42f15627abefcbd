//===- SpecializeTokens.cpp - Decode and prefill variants of a function ---===//
//
// The `moe-specialize-tokens` pass: a function whose moe.experts ops run on
// a dynamic number of rows gets a decode variant (gemv experts, for few
// tokens, where the weights' bytes bound the time) and a prefill variant
// (gemm experts, for many tokens, where the FLOPs do), selected at run time
// by its token count.
//
//===----------------------------------------------------------------------===//

#include "moe/Analysis/CostModel.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOESPECIALIZETOKENSPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// Fixes `op`'s kernel: a tiling with `kernel = auto` (or none) is replaced
/// by the cost model's tiling for `kernel`; a tiling with a fixed kernel
/// (written by a user) is kept.
void setKernel(ExpertsOp op, ExpertKernel kernel) {
  ExpertTilingAttr tiling = op.getTilingAttr();
  if (tiling && tiling.getKernel() != ExpertKernel::Auto)
    return;
  op.setTilingAttr(tileExperts(op, /*fastMemoryBytes=*/0, kernel));
}

/// The argument whose dimension 0 is the token count: the first ranked
/// tensor argument with a dynamic dimension 0, or, in a function with
/// static shapes, the first ranked tensor argument.
BlockArgument findTokenArgument(func::FuncOp function, bool &dynamic) {
  BlockArgument firstTensor;
  for (BlockArgument argument : function.getArguments()) {
    auto type = dyn_cast<RankedTensorType>(argument.getType());
    if (!type || type.getRank() == 0)
      continue;
    if (type.isDynamicDim(0)) {
      dynamic = true;
      return argument;
    }
    if (!firstTensor)
      firstTensor = argument;
  }
  dynamic = false;
  return firstTensor;
}

} // namespace

bool mlir::moe::specializeTokens(func::FuncOp function, uint64_t threshold) {
  SmallVector<ExpertsOp> experts;
  function.walk([&](ExpertsOp op) { experts.push_back(op); });
  if (experts.empty() || function.isExternal())
    return false;
  bool dynamic = false;
  BlockArgument tokens = findTokenArgument(function, dynamic);
  if (!tokens)
    return false;
  if (threshold == 0)
    threshold = chooseTokenThreshold(getExpertProblem(experts.front()),
                                     getTargetOrHostDefault(function));

  if (!dynamic) {
    // Static shapes: the regime is known now; no run-time selection.
    int64_t count = cast<RankedTensorType>(tokens.getType()).getDimSize(0);
    ExpertKernel kernel = static_cast<uint64_t>(count) < threshold
                              ? ExpertKernel::Gemv
                              : ExpertKernel::Auto;
    for (ExpertsOp op : experts)
      setKernel(op, kernel);
    return true;
  }

  // Only single-block bodies (what importers and moe-decompose produce)
  // can be wrapped in one scf.if.
  if (!llvm::hasSingleElement(function.getBody()))
    return false;
  Block &body = function.getBody().front();
  auto terminator = dyn_cast<func::ReturnOp>(body.getTerminator());
  if (!terminator)
    return false;

  SmallVector<Operation *> original;
  for (Operation &op : body.without_terminator())
    original.push_back(&op);

  OpBuilder builder = OpBuilder::atBlockBegin(&body);
  Location loc = function.getLoc();
  Value count = tensor::DimOp::create(builder, loc, tokens, 0);
  Value limit = arith::ConstantIndexOp::create(builder, loc, threshold);
  Value decode = arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::ult,
                                       count, limit);
  auto variants = scf::IfOp::create(builder, loc, terminator.getOperandTypes(),
                                    decode, /*withElseRegion=*/true);
  auto fillVariant = [&](Block *block, ExpertKernel kernel) {
    OpBuilder inner = OpBuilder::atBlockEnd(block);
    // scf.if regions created with results start without a terminator.
    if (!block->empty())
      inner.setInsertionPoint(block->getTerminator());
    IRMapping mapping;
    for (Operation *op : original) {
      Operation *copy = inner.clone(*op, mapping);
      copy->walk([&](ExpertsOp cloned) { setKernel(cloned, kernel); });
    }
    SmallVector<Value> results;
    for (Value operand : terminator.getOperands())
      results.push_back(mapping.lookupOrDefault(operand));
    if (!block->empty() && isa<scf::YieldOp>(block->back()))
      block->back().setOperands(results);
    else
      scf::YieldOp::create(inner, loc, results);
  };
  fillVariant(variants.thenBlock(), ExpertKernel::Gemv);
  fillVariant(variants.elseBlock(), ExpertKernel::Auto);
  terminator->setOperands(variants.getResults());
  for (Operation *op : llvm::reverse(original))
    op->erase();
  return true;
}

namespace {

struct MoESpecializeTokensPass
    : public mlir::moe::impl::MoESpecializeTokensPassBase<
          MoESpecializeTokensPass> {
  using MoESpecializeTokensPassBase::MoESpecializeTokensPassBase;

  void runOnOperation() override {
    specializeTokens(getOperation(), threshold);
  }
};

} // namespace
