//===- ParamReport.cpp - Print stored and active parameters ---------------===//
//
// The `moe-param-report` pass: prints, for every function of a module, the
// per-layer and total parameter counts of the ParameterCount analysis, the
// density, FLOPs and weight bytes per token, and a roofline time per token
// for the module's #moe.target. Changes nothing.
//
//===----------------------------------------------------------------------===//

#include "moe/Analysis/ParameterCount.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/ToolOutputFile.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEPARAMREPORTPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// A short name for a layer line: the op name and its source line.
std::string describeLayer(const LayerParameters &layer) {
  std::string name(layer.depth * 2, ' ');
  name += layer.op->getName().getStringRef().str();
  if (auto repeat = dyn_cast<RepeatOp>(layer.op))
    name += " x" + std::to_string(repeat.getCountAttr().getInt());
  if (auto fileLoc = dyn_cast<FileLineColLoc>(layer.op->getLoc()))
    name += " @" + std::to_string(fileLoc.getLine());
  return name;
}

void printRow(raw_ostream &os, StringRef name, double stored, double active,
              double density, double flops, double bytes, StringRef note) {
  os << llvm::formatv("  {0,-34} {1,10} {2,10} {3,9:F3} {4,11:F4} {5,11:F2}",
                      name, formatCount(stored), formatCount(active), density,
                      flops / 1e9, bytes / 1e6);
  if (!note.empty())
    os << "  " << note;
  os << "\n";
}

void printModel(raw_ostream &os, const ModelParameters &model,
                TargetAttr target, bool perLayer) {
  os << "moe-param-report: @" << model.functionName << "\n";
  os << llvm::formatv("  {0,-34} {1,10} {2,10} {3,9} {4,11} {5,11}\n", "layer",
                      "stored", "active", "density", "GFLOP/tok", "MB/tok");
  if (perLayer) {
    for (const LayerParameters &layer : model.layers)
      printRow(os, describeLayer(layer), layer.storedParameters,
               layer.activeParameters, layer.density(), layer.flopsPerToken,
               layer.weightBytesPerToken,
               layer.isRepeatSummary   ? "(body summary)"
               : layer.fractionUnknown ? "(top-k not visible: counted dense)"
                                       : "");
  }
  printRow(os, "total", model.storedParameters, model.activeParameters,
           model.density(), model.flopsPerToken, model.weightBytesPerToken, "");
  TargetAttr resolved = target.withDefaults();
  double seconds = model.rooflineSecondsPerToken(resolved);
  os << llvm::formatv("  roofline at T=1 on {0} ({1} GB/s, {2} GFLOP/s): "
                      "{3:F3} ms/token\n",
                      stringifyTargetKind(resolved.getKind()),
                      resolved.getBandwidthGbps(), resolved.getPeakGflops(),
                      seconds * 1e3);
}

struct MoEParamReportPass
    : public mlir::moe::impl::MoEParamReportPassBase<MoEParamReportPass> {
  using MoEParamReportPassBase::MoEParamReportPassBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string error;
    std::unique_ptr<llvm::ToolOutputFile> output =
        openOutputFile(outputFile, &error);
    if (!output) {
      module.emitError() << "moe-param-report: cannot open output file '"
                         << outputFile << "': " << error;
      return signalPassFailure();
    }
    TargetAttr target = getTargetOrHostDefault(module);
    module.walk([&](FunctionOpInterface function) {
      if (function.isExternal())
        return;
      printModel(output->os(), countParameters(function), target, perLayer);
    });
    output->keep();
    markAllAnalysesPreserved();
  }
};

} // namespace
