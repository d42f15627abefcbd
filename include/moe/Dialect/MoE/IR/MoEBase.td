//===- MoEBase.td - The moe dialect definition -------------*- tablegen -*-===//
//
// The `moe` dialect: routers, expert dispatch and combine, whole MoE layers,
// product-key expert layers and shared-weight loops, with value (tensor)
// semantics until bufferization.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEBASE_TD
#define MOE_DIALECT_MOE_IR_MOEBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def MoE_Dialect : Dialect {
  let name = "moe";
  let cppNamespace = "::mlir::moe";
  let summary = "Mixture-of-Experts and weight-sharing model layers";
  let description = [{
    The `moe` dialect represents the parts of a model whose *density* (active
    parameters per token over stored parameters) is far from 1:

    * Mixture-of-Experts layers (density below 1): the router (`moe.route`,
      `moe.topk`), the grouping of token rows by expert (`moe.dispatch`), the
      grouped expert FFN (`moe.experts`), the weighted sum back into token
      order (`moe.combine`), the whole layer in one op (`moe.layer`), and
      product-key expert layers with a million tiny experts (`moe.peer`).
    * Weight sharing (density above 1): `moe.repeat` runs one block N times
      with the same weights.

    Conventions: T tokens (may be dynamic), D model width, F expert FFN width,
    E experts, K experts per token. Weights use the PyTorch `nn.Linear`
    layout `[out, in]`: router `[E, D]`, expert gate and up projections
    `[E, F, D]`, down projection `[E, D, F]`. Router math is always f32.

    Verifiers check attributes, types and static dimensions only; dynamic
    (`?`) dimensions are left to run time.

    The module attribute `moe.target = #moe.target<...>` describes the
    hardware that the cost model plans for.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
  let extraClassDeclaration = [{
    /// The name of the module attribute that holds the `#moe.target`.
    static constexpr ::llvm::StringLiteral getTargetAttrName() {
      return ::llvm::StringLiteral("moe.target");
    }
  }];
}

class MoE_Op<string mnemonic, list<Trait> traits = []>
    : Op<MoE_Dialect, mnemonic, traits>;

class MoE_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<MoE_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

#endif // MOE_DIALECT_MOE_IR_MOEBASE_TD
