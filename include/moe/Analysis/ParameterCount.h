//===- ParameterCount.h - Stored and active parameters of a model -*- C++
//-*-===//
//
// Counts, per layer and per function (model), the parameters a graph stores
// and the parameters one token computes with, and derives density, FLOPs and
// weight bytes per token and a roofline time for a target. This is the
// analysis behind `moe-param-report`, usable from C++ directly.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_ANALYSIS_PARAMETERCOUNT_H
#define MOE_ANALYSIS_PARAMETERCOUNT_H

#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/SmallVector.h"

#include <string>

namespace mlir::moe {

class TargetAttr;

/// The parameters of one op that reads weights (a layer).
struct LayerParameters {
  /// The op: a moe op, a moe.repeat (a summary of its body), or a dense op
  /// such as linalg.matmul (the outermost op at the function or repeat body
  /// level, so a gather's linalg.generic and not the tensor.extract inside).
  Operation *op = nullptr;
  /// Nesting depth in moe.repeat bodies (0 at the function level).
  unsigned depth = 0;
  /// Each weight counted once.
  double storedParameters = 0;
  /// Parameters one token computes with, repeats included.
  double activeParameters = 0;
  /// FLOPs per token (one token, T = 1), repeats included.
  double flopsPerToken = 0;
  /// Bytes of the active weights read per token.
  double weightBytesPerToken = 0;
  /// True when the routed fraction could not be derived (for example a
  /// moe.experts whose top-k is not visible) and the op counted as dense.
  bool fractionUnknown = false;
  /// True for a moe.repeat summary line (not added into the totals).
  bool isRepeatSummary = false;

  double density() const {
    return storedParameters > 0 ? activeParameters / storedParameters : 0.0;
  }
};

/// The parameters of a whole function (a model or a layer graph).
struct ModelParameters {
  std::string functionName;
  SmallVector<LayerParameters> layers;
  double storedParameters = 0;
  double activeParameters = 0;
  double flopsPerToken = 0;
  double weightBytesPerToken = 0;

  double density() const {
    return storedParameters > 0 ? activeParameters / storedParameters : 0.0;
  }
  /// The roofline time for one token on `target` in seconds:
  /// max(weight bytes / bandwidth, FLOPs / peak).
  double rooflineSecondsPerToken(TargetAttr target) const;
};

/// The weight a value reads, if any: the function argument or constant with
/// a fully static shape that `value` reaches through view-like and
/// shape-only ops. Function arguments with a dynamic dimension or the unit
/// argument attribute `moe.activation` are activations, not weights.
Value getWeightRoot(Value value);

/// Counts the parameters of `function`. Weights used several times are
/// stored once; a weight used in a moe.repeat body of count N is active N
/// times per token; routed expert weights are active K/E.
ModelParameters countParameters(FunctionOpInterface function);

/// Formats a count for people: 46.70B, 12.88B, 124.63M, 4.10K.
std::string formatCount(double count);

} // namespace mlir::moe

#endif // MOE_ANALYSIS_PARAMETERCOUNT_H
