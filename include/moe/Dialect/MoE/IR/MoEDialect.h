//===- MoEDialect.h - The moe dialect ---------------------------*- C++ -*-===//
//
// Declares the moe dialect class, its enums and attributes.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEDIALECT_H
#define MOE_DIALECT_MOE_IR_MOEDIALECT_H

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dialect.h"

#include "moe/Dialect/MoE/IR/MoEDialect.h.inc"
#include "moe/Dialect/MoE/IR/MoEEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "moe/Dialect/MoE/IR/MoEAttrs.h.inc"

namespace mlir::moe {

/// True for the gated activations (silu_glu, gelu_glu), which need a gate
/// projection.
bool isGatedActivation(Activation activation);

/// The `#moe.target` of the module enclosing `op` with its defaults filled
/// in, or the host default when the module has none.
TargetAttr getTargetOrHostDefault(Operation *op);

} // namespace mlir::moe

#endif // MOE_DIALECT_MOE_IR_MOEDIALECT_H
