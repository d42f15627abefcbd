//===- EntryPoint.cpp - Entry points of a compiled moe module -------------===//
//
// Signatures of entry points (from func.func types, or from the
// `moe.signature` attribute of a lowered llvm.func), the layout of the C
// wrapper's result struct, lowering a module with the CPU pipeline, and the
// host TargetMachine shared by the JIT and the AOT compiler.
//
//===----------------------------------------------------------------------===//

#include "moe/Runner/EntryPoint.h"

#include "moe/Dialect/MoE/Transforms/Transforms.h"
#include "moe/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"
#include "llvm/TargetParser/Triple.h"

using namespace mlir;
using namespace mlir::moe;

/// The prefix of the C wrappers that convert-func-to-llvm emits.
static constexpr llvm::StringLiteral kCInterfacePrefix = "_mlir_ciface_";

llvm::Error mlir::moe::loadModelFile(llvm::StringRef path, MLIRContext &context,
                                     ModelFile &file) {
  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> buffer = openInputFile(path, &error);
  if (!buffer)
    return llvm::createStringError(error);
  file.sourceMgr.AddNewSourceBuffer(std::move(buffer), llvm::SMLoc());
  file.diagnostics =
      std::make_unique<SourceMgrDiagnosticHandler>(file.sourceMgr, &context);
  file.module = parseSourceFile<ModuleOp>(file.sourceMgr, &context);
  if (!file.module)
    return llvm::createStringError("cannot parse " + path);
  return llvm::Error::success();
}

std::string mlir::moe::printType(Type type) {
  std::string text;
  llvm::raw_string_ostream os(text);
  type.print(os);
  return text;
}

unsigned mlir::moe::getElementBytes(ElementKind kind) {
  switch (kind) {
  case ElementKind::I1:
  case ElementKind::I8:
    return 1;
  case ElementKind::F16:
  case ElementKind::BF16:
  case ElementKind::I16:
    return 2;
  case ElementKind::F32:
  case ElementKind::I32:
    return 4;
  case ElementKind::F64:
  case ElementKind::I64:
  case ElementKind::Index:
    return 8;
  }
  llvm_unreachable("unknown element kind");
}

llvm::StringRef mlir::moe::getNpyDescr(ElementKind kind) {
  switch (kind) {
  case ElementKind::F16:
    return "<f2";
  case ElementKind::BF16:
    // NumPy has no bfloat16: the file holds the 16 bits of each value.
    return "<u2";
  case ElementKind::F32:
    return "<f4";
  case ElementKind::F64:
    return "<f8";
  case ElementKind::I1:
  case ElementKind::I8:
    return "|i1";
  case ElementKind::I16:
    return "<i2";
  case ElementKind::I32:
    return "<i4";
  case ElementKind::I64:
  case ElementKind::Index:
    return "<i8";
  }
  llvm_unreachable("unknown element kind");
}

bool mlir::moe::isFloatKind(ElementKind kind) {
  return kind == ElementKind::F16 || kind == ElementKind::BF16 ||
         kind == ElementKind::F32 || kind == ElementKind::F64;
}

/// The kind of a scalar or element type, if runners support it.
static std::optional<ElementKind> getElementKind(Type type) {
  if (type.isF16())
    return ElementKind::F16;
  if (type.isBF16())
    return ElementKind::BF16;
  if (type.isF32())
    return ElementKind::F32;
  if (type.isF64())
    return ElementKind::F64;
  if (type.isIndex())
    return ElementKind::Index;
  if (auto integer = dyn_cast<IntegerType>(type)) {
    if (integer.isUnsigned())
      return std::nullopt;
    switch (integer.getWidth()) {
    case 1:
      return ElementKind::I1;
    case 8:
      return ElementKind::I8;
    case 16:
      return ElementKind::I16;
    case 32:
      return ElementKind::I32;
    case 64:
      return ElementKind::I64;
    default:
      return std::nullopt;
    }
  }
  return std::nullopt;
}

size_t EntryValue::getStorageBytes() const {
  return isBuffer ? getDescriptorBytes() : getElementBytes(element);
}

size_t EntryValue::getStorageAlignment() const {
  return isBuffer ? 8 : getElementBytes(element);
}

bool EntrySignature::returnsThroughPointer() const {
  return results.size() > 1 || (results.size() == 1 && results[0].isBuffer);
}

llvm::SmallVector<size_t>
EntrySignature::getResultOffsets(size_t *structBytes) const {
  llvm::SmallVector<size_t> offsets;
  size_t offset = 0, alignment = 1;
  for (const EntryValue &result : results) {
    size_t align = result.getStorageAlignment();
    offset = llvm::alignTo(offset, align);
    offsets.push_back(offset);
    offset += result.getStorageBytes();
    alignment = std::max(alignment, align);
  }
  if (structBytes)
    *structBytes = llvm::alignTo(offset, alignment);
  return offsets;
}

/// Describes one argument or result type.
static llvm::Expected<EntryValue> describeValue(Type type,
                                                const llvm::Twine &what) {
  EntryValue value;
  value.type = type;
  Type element = type;
  if (auto shaped = dyn_cast<ShapedType>(type)) {
    if (!isa<RankedTensorType, MemRefType>(type) || !shaped.hasRank())
      return llvm::createStringError(
          what + " has type '" + printType(type) +
          "': only ranked tensors and memrefs can be passed");
    if (auto memref = dyn_cast<MemRefType>(type);
        memref && !memref.getLayout().isIdentity())
      return llvm::createStringError(
          what + " has type '" + printType(type) +
          "': only identity-layout memrefs can be passed");
    value.isBuffer = true;
    value.shape.assign(shaped.getShape().begin(), shaped.getShape().end());
    element = shaped.getElementType();
  } else {
    value.isBuffer = false;
  }
  std::optional<ElementKind> kind = getElementKind(element);
  if (!kind)
    return llvm::createStringError(
        what + " has type '" + printType(type) +
        "': the element type must be f16, bf16, f32, f64, i1, "
        "i8, i16, i32, i64 or index");
  value.element = *kind;
  return value;
}

llvm::Expected<EntrySignature>
mlir::moe::describeEntryPoint(llvm::StringRef name, FunctionType type) {
  EntrySignature signature;
  signature.name = name.str();
  for (auto [index, input] : llvm::enumerate(type.getInputs())) {
    auto value = describeValue(
        input, llvm::formatv("@{0}: argument #{1}", name, index).str());
    if (!value)
      return value.takeError();
    signature.arguments.push_back(std::move(*value));
  }
  for (auto [index, output] : llvm::enumerate(type.getResults())) {
    auto value = describeValue(
        output, llvm::formatv("@{0}: result #{1}", name, index).str());
    if (!value)
      return value.takeError();
    signature.results.push_back(std::move(*value));
  }
  return signature;
}

bool mlir::moe::isInLLVMDialect(ModuleOp module) {
  WalkResult result = module->walk([&](Operation *op) {
    // gpu.binary and gpu.launch_func are what moe-gpu-pipeline leaves for
    // the translation to LLVM IR.
    if (op == module.getOperation() ||
        isa<LLVM::LLVMDialect, omp::OpenMPDialect>(op->getDialect()) ||
        isa<gpu::BinaryOp, gpu::LaunchFuncOp>(op))
      return WalkResult::advance();
    return WalkResult::interrupt();
  });
  return !result.wasInterrupted();
}

/// The functions of `module` that a runner may call, by name.
static llvm::SmallVector<std::string> getCallableFunctions(ModuleOp module) {
  llvm::SmallVector<std::string> names;
  for (Operation &op : module.getBody()->getOperations()) {
    if (auto func = dyn_cast<func::FuncOp>(op)) {
      if (func.isPublic() && !func.isExternal())
        names.push_back(func.getSymName().str());
    } else if (auto func = dyn_cast<LLVM::LLVMFuncOp>(op)) {
      // Defined, externally visible, and not a wrapper that the lowering
      // (`_mlir_ciface_`) or the JIT (`_mlir_`) added.
      if (!func.isExternal() && func.getLinkage() == LLVM::Linkage::External &&
          !func.getSymName().starts_with("_mlir_"))
        names.push_back(func.getSymName().str());
    }
  }
  return names;
}

llvm::Expected<std::string>
mlir::moe::chooseEntryPoint(ModuleOp module, llvm::StringRef requested) {
  if (!requested.empty())
    return requested.str();
  llvm::SmallVector<std::string> names = getCallableFunctions(module);
  if (llvm::is_contained(names, "main"))
    return std::string("main");
  if (names.size() == 1)
    return names.front();
  if (names.empty())
    return llvm::createStringError("the module has no public function to run");
  return llvm::createStringError(
      "the module has " + llvm::Twine(names.size()) + " public functions (@" +
      llvm::join(names, ", @") + "): choose one with --entry=NAME");
}

llvm::Expected<EntrySignature>
mlir::moe::getEntrySignature(ModuleOp module, llvm::StringRef name) {
  Operation *symbol = SymbolTable::lookupSymbolIn(module, name);
  if (!symbol)
    return llvm::createStringError("the module has no function @" + name);
  if (auto func = dyn_cast<func::FuncOp>(symbol)) {
    if (func.isExternal())
      return llvm::createStringError("@" + name +
                                     " is a declaration, not a definition");
    return describeEntryPoint(name, func.getFunctionType());
  }
  if (auto func = dyn_cast<LLVM::LLVMFuncOp>(symbol)) {
    auto recorded = func->getAttrOfType<TypeAttr>(getEntrySignatureAttrName());
    auto type =
        recorded ? dyn_cast<FunctionType>(recorded.getValue()) : FunctionType();
    if (!type)
      return llvm::createStringError("@" + name +
                                     " is an llvm.func without a recorded '" +
                                     getEntrySignatureAttrName() +
                                     "' function type; lower the module with "
                                     "moe-cpu-pipeline, which records it");
    return describeEntryPoint(name, type);
  }
  return llvm::createStringError("@" + name + " is a '" +
                                 symbol->getName().getStringRef() +
                                 "', not a function");
}

llvm::Expected<llvm::SmallVector<EntrySignature>>
mlir::moe::getLoweredEntryPoints(ModuleOp module) {
  llvm::SmallVector<EntrySignature> entryPoints;
  for (auto func : module.getOps<LLVM::LLVMFuncOp>()) {
    if (!func->hasAttr(getEntrySignatureAttrName()) ||
        func.getSymName().starts_with(kCInterfacePrefix) ||
        !module.lookupSymbol((kCInterfacePrefix + func.getSymName()).str()))
      continue;
    auto signature = getEntrySignature(module, func.getSymName());
    if (!signature)
      return signature.takeError();
    entryPoints.push_back(std::move(*signature));
  }
  return entryPoints;
}

/// Runs the pipeline `build` adds (named `name` in the error) on `module`,
/// unless the module is already in the LLVM dialect.
static llvm::Error
runLoweringPipeline(ModuleOp module, llvm::StringRef name,
                    llvm::function_ref<void(OpPassManager &)> build) {
  if (isInLLVMDialect(module))
    return llvm::Error::success();
  PassManager pm = PassManager::on<ModuleOp>(module->getContext());
  // Honors --mlir-print-ir-after-all, --mlir-timing and friends.
  if (failed(applyPassManagerCLOptions(pm)))
    return llvm::createStringError("invalid pass manager options");
  build(pm);
  if (failed(pm.run(module)))
    return llvm::createStringError(name + " failed (see the error above)");
  return llvm::Error::success();
}

llvm::Error mlir::moe::lowerToLLVMDialect(ModuleOp module,
                                          const CPUPipelineOptions &options) {
  return runLoweringPipeline(
      module, "moe-cpu-pipeline",
      [&](OpPassManager &pm) { buildMoECPUPipeline(pm, options); });
}

llvm::Error mlir::moe::lowerToLLVMDialect(ModuleOp module,
                                          const GPUPipelineOptions &options) {
  return runLoweringPipeline(
      module, "moe-gpu-pipeline",
      [&](OpPassManager &pm) { buildMoEGPUPipeline(pm, options); });
}

llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
mlir::moe::createHostTargetMachine(llvm::StringRef cpu) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getProcessTriple());
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return llvm::createStringError("no LLVM target for " + triple.str() + ": " +
                                   error);
  llvm::SubtargetFeatures features;
  std::string cpuName = cpu.str();
  if (cpuName.empty()) {
    cpuName = llvm::sys::getHostCPUName().str();
    for (const auto &feature : llvm::sys::getHostCPUFeatures())
      features.AddFeature(feature.getKey(), feature.getValue());
  }
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, cpuName, features.getString(), llvm::TargetOptions(),
      llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!machine)
    return llvm::createStringError("cannot create a target machine for CPU '" +
                                   cpuName + "' on " + triple.str());
  return machine;
}

llvm::Error mlir::moe::fitTargetToMachine(ModuleOp module,
                                          const llvm::TargetMachine &machine) {
  MLIRContext *context = module.getContext();
  StringRef name = MoEDialect::getTargetAttrName();
  context->getOrLoadDialect<MoEDialect>();
  auto target = module->getAttrOfType<TargetAttr>(name);
  bool hasBf16Dot =
      machine.getMCSubtargetInfo()->checkFeatures("+avx512bf16,+avx512f");
  Bf16Dot machineBf16Dot = hasBf16Dot ? Bf16Dot::Avx512 : Bf16Dot::None;
  if (!target) {
    // Without a #moe.target the host default applies; it needs no
    // attribute where it already describes this CPU.
    if (TargetAttr::getHostDefault(context).getBf16Dot() == machineBf16Dot)
      return llvm::Error::success();
    target = TargetAttr::get(context, TargetKind::CPU, 0, 0, 0, 0, 0, 0,
                             Bf16Dot::Unset);
  }
  if (target.getKind() != TargetKind::CPU)
    return llvm::Error::success();
  if (target.getBf16Dot() == Bf16Dot::Avx512 && !hasBf16Dot)
    return llvm::createStringError(
        "the module's #moe.target has bf16_dot = avx512, but CPU '" +
        machine.getTargetCPU().str() +
        "' has no AVX512-BF16: compile for a CPU with it, or set bf16_dot = "
        "none");
  if (target.getBf16Dot() != Bf16Dot::Unset)
    return llvm::Error::success();
  module->setAttr(
      name,
      TargetAttr::get(context, target.getKind(), target.getFastMemoryBytes(),
                      target.getSharedCacheBytes(), target.getVectorBits(),
                      target.getComputeUnits(), target.getBandwidthGbps(),
                      target.getPeakGflops(), machineBf16Dot));
  return llvm::Error::success();
}
