//===- MoEDialect.cpp - The moe dialect -----------------------------------===//
//
// Registers the ops and attributes of the moe dialect, verifies the
// `moe.target` module attribute, and describes the host as the default target.
//
//===----------------------------------------------------------------------===//

#include "mlir/IR/Builders.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/TargetParser/Host.h"

#include <thread>

using namespace mlir;
using namespace mlir::moe;

#include "moe/Dialect/MoE/IR/MoEDialect.cpp.inc"
#include "moe/Dialect/MoE/IR/MoEEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "moe/Dialect/MoE/IR/MoEAttrs.cpp.inc"

void MoEDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "moe/Dialect/MoE/IR/MoEOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "moe/Dialect/MoE/IR/MoEAttrs.cpp.inc"
      >();
}

LogicalResult MoEDialect::verifyOperationAttribute(Operation *op,
                                                   NamedAttribute attribute) {
  if (attribute.getName() == getTargetAttrName()) {
    if (!isa<ModuleOp>(op))
      return op->emitError() << "expects the '" << getTargetAttrName()
                             << "' attribute on a builtin.module, but found "
                                "it on '"
                             << op->getName() << "'";
    if (!isa<TargetAttr>(attribute.getValue()))
      return op->emitError() << "expects '" << getTargetAttrName()
                             << "' to be a #moe.target attribute, but found "
                             << attribute.getValue();
    return success();
  }
  if (attribute.getName() == "moe.activation")
    return op->emitError() << "expects 'moe.activation' on a function "
                              "argument, not on an operation";
  // Discardable attributes that later passes record (tiling choices,
  // schedules) are namespaced `moe.<pass>.*`; accept them.
  return success();
}

LogicalResult MoEDialect::verifyRegionArgAttribute(Operation *op,
                                                   unsigned regionIndex,
                                                   unsigned argIndex,
                                                   NamedAttribute attribute) {
  if (attribute.getName() != "moe.activation")
    return success();
  // Marks a function argument as an activation for the parameter report.
  if (!isa<UnitAttr>(attribute.getValue()))
    return op->emitError() << "expects 'moe.activation' to be a unit "
                              "attribute, but found "
                           << attribute.getValue();
  if (!isa<FunctionOpInterface>(op))
    return op->emitError() << "expects 'moe.activation' on a function "
                              "argument, but found it on a region argument "
                              "of '"
                           << op->getName() << "'";
  return success();
}

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

bool mlir::moe::isGatedActivation(Activation activation) {
  return activation == Activation::SiluGlu || activation == Activation::GeluGlu;
}

TargetAttr mlir::moe::getTargetOrHostDefault(Operation *op) {
  ModuleOp module =
      isa<ModuleOp>(op) ? cast<ModuleOp>(op) : op->getParentOfType<ModuleOp>();
  if (module) {
    if (auto target =
            module->getAttrOfType<TargetAttr>(MoEDialect::getTargetAttrName()))
      return target.withDefaults();
  }
  return TargetAttr::getHostDefault(op->getContext());
}

//===----------------------------------------------------------------------===//
// #moe.target
//===----------------------------------------------------------------------===//

LogicalResult TargetAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 TargetKind kind, uint64_t fastMemoryBytes,
                                 uint64_t sharedCacheBytes, uint64_t vectorBits,
                                 uint64_t computeUnits, uint64_t bandwidthGbps,
                                 uint64_t peakGflops, Bf16Dot bf16Dot) {
  if (vectorBits != 0 && (vectorBits % 32 != 0 || vectorBits > 4096))
    return emitError() << "expects vector_bits to be a multiple of 32 and at "
                          "most 4096 (or 0 for the default), but found "
                       << vectorBits;
  if (fastMemoryBytes != 0 && sharedCacheBytes != 0 &&
      kind == TargetKind::CPU && sharedCacheBytes < fastMemoryBytes)
    return emitError() << "expects shared_cache_bytes (" << sharedCacheBytes
                       << ") >= fast_memory_bytes (" << fastMemoryBytes
                       << ") on a cpu target";
  if (kind == TargetKind::CUDA && bf16Dot == Bf16Dot::Avx512)
    return emitError() << "expects bf16_dot = avx512 only on a cpu target, "
                          "but found it on a cuda target";
  return success();
}

//===----------------------------------------------------------------------===//
// #moe.expert_tiling
//===----------------------------------------------------------------------===//

LogicalResult
ExpertTilingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         ExpertKernel kernel, uint64_t hiddenTile,
                         uint64_t tokenTile, uint64_t gemmMinRows) {
  if (hiddenTile == 0)
    return emitError() << "expects hidden_tile >= 1, but found 0";
  if (tokenTile == 0)
    return emitError() << "expects token_tile >= 1, but found 0";
  if (kernel != ExpertKernel::Auto && gemmMinRows != 0)
    return emitError() << "expects gemm_min_rows only with kernel = auto, but "
                          "found gemm_min_rows = "
                       << gemmMinRows
                       << " with kernel = " << stringifyExpertKernel(kernel);
  return success();
}

namespace {

/// Reads a cache size such as "1024K" or "32M" from a sysfs file; 0 if absent.
uint64_t readSysfsCacheSize(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return 0;
  StringRef text = (*buffer)->getBuffer().trim();
  uint64_t multiplier = 1;
  if (text.ends_with("K")) {
    multiplier = 1024;
    text = text.drop_back();
  } else if (text.ends_with("M")) {
    multiplier = 1024 * 1024;
    text = text.drop_back();
  }
  uint64_t value = 0;
  if (text.getAsInteger(10, value))
    return 0;
  return value * multiplier;
}

struct HostCaches {
  uint64_t level2 = 0;
  uint64_t level3 = 0;
};

HostCaches readHostCaches() {
  HostCaches caches;
  for (int index = 0; index < 8; ++index) {
    std::string dir =
        "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index);
    auto level = llvm::MemoryBuffer::getFile(dir + "/level", /*IsText=*/true);
    if (!level)
      continue;
    uint64_t size = readSysfsCacheSize(dir + "/size");
    StringRef levelText = (*level)->getBuffer().trim();
    if (levelText == "2")
      caches.level2 = size;
    else if (levelText == "3")
      caches.level3 = size;
  }
  return caches;
}

} // namespace

TargetAttr TargetAttr::getHostDefault(MLIRContext *context) {
  static const HostCaches caches = readHostCaches();
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  uint64_t vectorBits = features.lookup("avx512f") ? 512
                        : features.lookup("avx2")  ? 256
                        : features.lookup("sse2")  ? 128
                                                   : 128;
  uint64_t cores = std::max(1u, std::thread::hardware_concurrency());
  // Bandwidth and peak are estimates for planning, not measurements (the
  // benchmark harness measures them): ~35 GB/s per core pair of DRAM, and
  // 2 FMA pipes x (vectorBits / 32) lanes x 2 FLOP x ~3 GHz per core.
  uint64_t bandwidthGbps = std::max<uint64_t>(20, 35 * ((cores + 1) / 2));
  uint64_t peakGflops = cores * 2 * (vectorBits / 32) * 2 * 3;
  Bf16Dot bf16Dot = features.lookup("avx512bf16") && vectorBits >= 512
                        ? Bf16Dot::Avx512
                        : Bf16Dot::None;
  return TargetAttr::get(context, TargetKind::CPU,
                         caches.level2 ? caches.level2 : 1024 * 1024,
                         caches.level3 ? caches.level3 : 32 * 1024 * 1024,
                         vectorBits, cores, bandwidthGbps, peakGflops, bf16Dot);
}

TargetAttr TargetAttr::getCudaDefault(MLIRContext *context) {
  // H100 SXM: 228 KiB shared memory per SM (227 KiB usable per block),
  // 50 MiB L2, 132 SMs, 3.35 TB/s HBM3, ~989 TFLOP/s dense bf16.
  return TargetAttr::get(context, TargetKind::CUDA, 227 * 1024,
                         50 * 1024 * 1024, 1024, 132, 3350, 989000,
                         Bf16Dot::None);
}

TargetAttr TargetAttr::withDefaults() const {
  TargetAttr defaults = getKind() == TargetKind::CPU
                            ? getHostDefault(getContext())
                            : getCudaDefault(getContext());
  auto pick = [](uint64_t value, uint64_t fallback) {
    return value ? value : fallback;
  };
  uint64_t fastMemoryBytes =
      pick(getFastMemoryBytes(), defaults.getFastMemoryBytes());
  uint64_t sharedCacheBytes =
      pick(getSharedCacheBytes(), defaults.getSharedCacheBytes());
  // Keep the verifier's cpu invariant shared_cache_bytes >= fast_memory_bytes
  // when only one of the two is given: the defaulted one yields to the given
  // one (a 1 GiB fast memory on a host with a 32 MiB L3, say).
  if (getKind() == TargetKind::CPU && sharedCacheBytes < fastMemoryBytes) {
    if (!getSharedCacheBytes())
      sharedCacheBytes = fastMemoryBytes;
    else
      fastMemoryBytes = sharedCacheBytes;
  }
  return TargetAttr::get(
      getContext(), getKind(), fastMemoryBytes, sharedCacheBytes,
      pick(getVectorBits(), defaults.getVectorBits()),
      pick(getComputeUnits(), defaults.getComputeUnits()),
      pick(getBandwidthGbps(), defaults.getBandwidthGbps()),
      pick(getPeakGflops(), defaults.getPeakGflops()),
      getBf16Dot() == Bf16Dot::Unset ? defaults.getBf16Dot() : getBf16Dot());
}
