//===- ReassociateFloatArith.cpp - Allow vectorized float reductions ------===//
//
// The `moe-reassociate-float-arith` pass: marks float adds, subtracts and
// multiplies `reassoc` and `contract`, so that LLVM vectorizes the float
// sums of the loops that linalg ops lower to and fuses multiply-adds into
// FMAs. NaN, infinity and signed-zero semantics are kept.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/MoE/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEREASSOCIATEFLOATARITHPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

void mlir::moe::reassociateFloatArith(Operation *root) {
  root->walk([](Operation *op) {
    if (!isa<arith::AddFOp, arith::SubFOp, arith::MulFOp>(op))
      return;
    // f64 arithmetic is scalar bookkeeping (the capacity formula), which
    // must round exactly as written to agree with the verifier's shapes.
    if (op->getResult(0).getType().isF64())
      return;
    auto fastMath = cast<arith::ArithFastMathInterface>(op);
    arith::FastMathFlags flags = fastMath.getFastMathFlagsAttr().getValue() |
                                 arith::FastMathFlags::reassoc |
                                 arith::FastMathFlags::contract;
    op->setAttr(fastMath.getFastMathAttrName(),
                arith::FastMathFlagsAttr::get(op->getContext(), flags));
  });
}

namespace {

struct MoEReassociateFloatArithPass
    : public mlir::moe::impl::MoEReassociateFloatArithPassBase<
          MoEReassociateFloatArithPass> {
  void runOnOperation() override { reassociateFloatArith(getOperation()); }
};

} // namespace
