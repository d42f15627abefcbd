//===- TargetAttrTest.cpp - #moe.target -----------------------------------===//
//
// Parsing, printing and verifying #moe.target, the host and CUDA defaults,
// withDefaults(), getTargetOrHostDefault() and the moe.target module
// attribute verifier.
//
//===----------------------------------------------------------------------===//

#include "TestSupport.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"

#include <thread>

using namespace mlir;
using namespace mlir::moe;

namespace {

class TargetAttrTest : public test::MoETest {
protected:
  /// Parses `text` as a #moe.target; fails the test when it is not one.
  TargetAttr parseTarget(StringRef text) {
    test::DiagnosticCollector diagnostics(context);
    Attribute attr = parseAttribute(text, &context);
    EXPECT_TRUE(attr) << "failed to parse " << text.str() << "\n"
                      << diagnostics.str();
    auto target = dyn_cast_or_null<TargetAttr>(attr);
    EXPECT_TRUE(target) << "not a #moe.target: " << text.str();
    return target;
  }

  static std::string print(Attribute attr) {
    std::string text;
    llvm::raw_string_ostream os(text);
    attr.print(os);
    return text;
  }

  /// True when `target`'s parameters satisfy the verifier.
  bool verifies(TargetAttr target) {
    test::DiagnosticCollector diagnostics(context);
    bool valid = succeeded(
        TargetAttr::verify([&] { return emitError(UnknownLoc::get(&context)); },
                           target.getKind(), target.getFastMemoryBytes(),
                           target.getSharedCacheBytes(), target.getVectorBits(),
                           target.getComputeUnits(), target.getBandwidthGbps(),
                           target.getPeakGflops(), target.getBf16Dot()));
    EXPECT_EQ(valid, diagnostics.empty()) << diagnostics.str();
    return valid;
  }

  /// True when every parameter of `target` is set (non-zero).
  static bool isComplete(TargetAttr target) {
    return target.getFastMemoryBytes() && target.getSharedCacheBytes() &&
           target.getVectorBits() && target.getComputeUnits() &&
           target.getBandwidthGbps() && target.getPeakGflops() &&
           target.getBf16Dot() != Bf16Dot::Unset;
  }
};

TEST_F(TargetAttrTest, ParsesGivenParametersAndDefaultsTheRest) {
  TargetAttr target =
      parseTarget("#moe.target<kind = cpu, fast_memory_bytes = 1048576>");
  ASSERT_TRUE(target);
  EXPECT_EQ(target.getKind(), TargetKind::CPU);
  EXPECT_EQ(target.getFastMemoryBytes(), 1048576u);
  EXPECT_EQ(target.getSharedCacheBytes(), 0u);
  EXPECT_EQ(target.getVectorBits(), 0u);
  EXPECT_EQ(target.getComputeUnits(), 0u);
  EXPECT_EQ(target.getBandwidthGbps(), 0u);
  EXPECT_EQ(target.getPeakGflops(), 0u);
  // The parsed attribute is the uniqued one built from C++.
  EXPECT_EQ(target, TargetAttr::get(&context, TargetKind::CPU, 1048576, 0, 0, 0,
                                    0, 0, Bf16Dot::Unset));
}

TEST_F(TargetAttrTest, PrintingRoundTrips) {
  const char *texts[] = {
      "#moe.target<kind = cpu, fast_memory_bytes = 1048576>",
      "#moe.target<kind = cuda>",
      "#moe.target<kind = cpu, fast_memory_bytes = 2097152, "
      "shared_cache_bytes = 33554432, vector_bits = 512, compute_units = 2, "
      "bandwidth_gbps = 70, peak_gflops = 384>",
  };
  for (const char *text : texts) {
    TargetAttr target = parseTarget(text);
    ASSERT_TRUE(target);
    // Unset (zero) parameters are left out of the printed form.
    std::string printed = print(target);
    EXPECT_EQ(printed, text);
    EXPECT_EQ(parseTarget(printed), target);
  }
  // The defaults of a complete description print every parameter.
  TargetAttr cuda = TargetAttr::getCudaDefault(&context);
  EXPECT_EQ(parseTarget(print(cuda)), cuda);
}

TEST_F(TargetAttrTest, VerifierRejectsBadVectorWidth) {
  for (const char *text : {"#moe.target<kind = cpu, vector_bits = 100>",
                           "#moe.target<kind = cuda, vector_bits = 8192>"}) {
    test::DiagnosticCollector diagnostics(context);
    EXPECT_FALSE(parseAttribute(text, &context)) << text;
    EXPECT_TRUE(diagnostics.contains("expects vector_bits to be a multiple of "
                                     "32 and at most 4096"))
        << diagnostics.str();
  }
  // Through getChecked, too.
  test::DiagnosticCollector diagnostics(context);
  auto getWithVectorBits = [&](uint64_t vectorBits) {
    auto emitter = [&] { return emitError(UnknownLoc::get(&context)); };
    uint64_t unset = 0;
    return TargetAttr::getChecked(emitter, &context, TargetKind::CPU, unset,
                                  unset, vectorBits, unset, unset, unset,
                                  Bf16Dot::Unset);
  };
  EXPECT_FALSE(getWithVectorBits(100));
  EXPECT_TRUE(diagnostics.contains("but found 100")) << diagnostics.str();
  EXPECT_TRUE(getWithVectorBits(256));
}

TEST_F(TargetAttrTest, VerifierRejectsCpuSharedCacheBelowFastMemory) {
  {
    test::DiagnosticCollector diagnostics(context);
    EXPECT_FALSE(parseAttribute("#moe.target<kind = cpu, fast_memory_bytes = "
                                "2097152, shared_cache_bytes = 1048576>",
                                &context));
    EXPECT_TRUE(diagnostics.contains("expects shared_cache_bytes (1048576) >= "
                                     "fast_memory_bytes (2097152) on a cpu "
                                     "target"))
        << diagnostics.str();
  }
  // A GPU's L2 may be smaller than the shared memory of all its SMs; only
  // cpu targets are checked.
  EXPECT_TRUE(parseTarget("#moe.target<kind = cuda, fast_memory_bytes = "
                          "2097152, shared_cache_bytes = 1048576>"));
}

TEST_F(TargetAttrTest, Bf16DotParsesPrintsAndDefaults) {
  TargetAttr without = parseTarget("#moe.target<kind = cpu, bf16_dot = none>");
  ASSERT_TRUE(without);
  EXPECT_EQ(without.getBf16Dot(), Bf16Dot::None);
  EXPECT_EQ(print(without), "#moe.target<kind = cpu, bf16_dot = none>");
  // An explicit choice survives withDefaults(); unset takes the host's.
  EXPECT_EQ(without.withDefaults().getBf16Dot(), Bf16Dot::None);
  TargetAttr with = parseTarget("#moe.target<kind = cpu, bf16_dot = avx512>");
  ASSERT_TRUE(with);
  EXPECT_EQ(with.withDefaults().getBf16Dot(), Bf16Dot::Avx512);
  TargetAttr unset = parseTarget("#moe.target<kind = cpu>");
  ASSERT_TRUE(unset);
  EXPECT_EQ(unset.getBf16Dot(), Bf16Dot::Unset);
  EXPECT_EQ(unset.withDefaults().getBf16Dot(),
            TargetAttr::getHostDefault(&context).getBf16Dot());
  // An x86 instruction on a GPU target is an error.
  test::DiagnosticCollector diagnostics(context);
  EXPECT_FALSE(
      parseAttribute("#moe.target<kind = cuda, bf16_dot = avx512>", &context));
  EXPECT_TRUE(diagnostics.contains("bf16_dot = avx512 only on a cpu target"))
      << diagnostics.str();
}

TEST_F(TargetAttrTest, HostDefaultDescribesThisMachine) {
  TargetAttr host = TargetAttr::getHostDefault(&context);
  ASSERT_TRUE(host);
  EXPECT_EQ(host.getKind(), TargetKind::CPU);
  EXPECT_GT(host.getFastMemoryBytes(), 0u);
  EXPECT_GT(host.getSharedCacheBytes(), 0u);
  uint64_t vectorBits = host.getVectorBits();
  EXPECT_TRUE(vectorBits == 128 || vectorBits == 256 || vectorBits == 512)
      << vectorBits;
  EXPECT_GE(host.getComputeUnits(), 1u);
  if (unsigned threads = std::thread::hardware_concurrency())
    EXPECT_EQ(host.getComputeUnits(), threads);
  EXPECT_GE(host.getBandwidthGbps(), 20u);
  EXPECT_GT(host.getPeakGflops(), 0u);
  // vdpbf16ps exactly where the CPU reports AVX512-BF16.
  bool hostHasBf16Dot =
      llvm::sys::getHostCPUFeatures().lookup("avx512bf16") && vectorBits >= 512;
  EXPECT_EQ(host.getBf16Dot(),
            hostHasBf16Dot ? Bf16Dot::Avx512 : Bf16Dot::None);
  EXPECT_TRUE(isComplete(host));
  EXPECT_TRUE(verifies(host));
  // Complete already: withDefaults() changes nothing, and it is stable.
  EXPECT_EQ(host.withDefaults(), host);
  EXPECT_EQ(TargetAttr::getHostDefault(&context), host);
}

TEST_F(TargetAttrTest, CudaDefaultIsAnH100) {
  TargetAttr cuda = TargetAttr::getCudaDefault(&context);
  ASSERT_TRUE(cuda);
  EXPECT_EQ(cuda.getKind(), TargetKind::CUDA);
  EXPECT_EQ(cuda.getFastMemoryBytes(), 227u * 1024);
  EXPECT_EQ(cuda.getSharedCacheBytes(), 50u * 1024 * 1024);
  EXPECT_EQ(cuda.getVectorBits(), 1024u);
  EXPECT_EQ(cuda.getComputeUnits(), 132u);
  EXPECT_EQ(cuda.getBandwidthGbps(), 3350u);
  EXPECT_EQ(cuda.getPeakGflops(), 989000u);
  EXPECT_EQ(cuda.getBf16Dot(), Bf16Dot::None);
  EXPECT_TRUE(verifies(cuda));
  EXPECT_EQ(cuda.withDefaults(), cuda);
}

TEST_F(TargetAttrTest, WithDefaultsFillsOnlyUnsetParameters) {
  TargetAttr host = TargetAttr::getHostDefault(&context);
  TargetAttr cuda = TargetAttr::getCudaDefault(&context);

  TargetAttr cpu =
      parseTarget("#moe.target<kind = cpu, fast_memory_bytes = 1048576>")
          .withDefaults();
  EXPECT_EQ(cpu.getKind(), TargetKind::CPU);
  EXPECT_EQ(cpu.getFastMemoryBytes(), 1048576u);
  EXPECT_EQ(cpu.getSharedCacheBytes(),
            std::max<uint64_t>(host.getSharedCacheBytes(), 1048576));
  EXPECT_EQ(cpu.getVectorBits(), host.getVectorBits());
  EXPECT_EQ(cpu.getComputeUnits(), host.getComputeUnits());
  EXPECT_EQ(cpu.getBandwidthGbps(), host.getBandwidthGbps());
  EXPECT_EQ(cpu.getPeakGflops(), host.getPeakGflops());
  EXPECT_EQ(cpu.getBf16Dot(), host.getBf16Dot());

  TargetAttr gpu = parseTarget("#moe.target<kind = cuda, compute_units = 66, "
                               "peak_gflops = 400000>")
                       .withDefaults();
  EXPECT_EQ(gpu.getKind(), TargetKind::CUDA);
  EXPECT_EQ(gpu.getComputeUnits(), 66u);
  EXPECT_EQ(gpu.getPeakGflops(), 400000u);
  EXPECT_EQ(gpu.getFastMemoryBytes(), cuda.getFastMemoryBytes());
  EXPECT_EQ(gpu.getSharedCacheBytes(), cuda.getSharedCacheBytes());
  EXPECT_EQ(gpu.getVectorBits(), cuda.getVectorBits());
  EXPECT_EQ(gpu.getBandwidthGbps(), cuda.getBandwidthGbps());

  // A fully given description is kept as is.
  TargetAttr full = parseTarget(
      "#moe.target<kind = cpu, fast_memory_bytes = 2097152, "
      "shared_cache_bytes = 33554432, vector_bits = 256, compute_units = 2, "
      "bandwidth_gbps = 70, peak_gflops = 384, bf16_dot = none>");
  EXPECT_EQ(full.withDefaults(), full);
}

TEST_F(TargetAttrTest, WithDefaultsOfAValidTargetVerifies) {
  // Every target the verifier accepts must stay valid once its unset
  // parameters are filled in, whatever the host's caches are: a given fast
  // memory above the host's shared cache, or a given shared cache below the
  // host's fast memory.
  const char *texts[] = {
      "#moe.target<kind = cpu>",
      "#moe.target<kind = cuda>",
      "#moe.target<kind = cpu, fast_memory_bytes = 1099511627776>",
      "#moe.target<kind = cpu, shared_cache_bytes = 1024>",
      "#moe.target<kind = cuda, fast_memory_bytes = 1099511627776>",
  };
  for (const char *text : texts) {
    TargetAttr target = parseTarget(text);
    ASSERT_TRUE(target);
    TargetAttr filled = target.withDefaults();
    EXPECT_TRUE(isComplete(filled)) << text;
    EXPECT_TRUE(verifies(filled)) << text << " -> " << print(filled);
    // Set parameters are kept.
    if (target.getFastMemoryBytes())
      EXPECT_EQ(filled.getFastMemoryBytes(), target.getFastMemoryBytes());
    if (target.getSharedCacheBytes())
      EXPECT_EQ(filled.getSharedCacheBytes(), target.getSharedCacheBytes());
  }
}

TEST_F(TargetAttrTest, TargetOfModuleOrHostDefault) {
  OwningOpRef<ModuleOp> withTarget = parse(R"mlir(
    module attributes {moe.target = #moe.target<kind = cuda, compute_units = 66>} {
      func.func @f() {
        return
      }
    }
  )mlir");
  ASSERT_TRUE(withTarget);
  TargetAttr expected =
      TargetAttr::get(&context, TargetKind::CUDA, 227 * 1024, 50 * 1024 * 1024,
                      1024, 66, 3350, 989000, Bf16Dot::None);
  EXPECT_EQ(getTargetOrHostDefault(*withTarget), expected);
  // From an op nested in the module, too.
  auto function = *withTarget->getOps<func::FuncOp>().begin();
  EXPECT_EQ(getTargetOrHostDefault(function), expected);

  OwningOpRef<ModuleOp> withoutTarget = parse(R"mlir(
    module {
      func.func @f() {
        return
      }
    }
  )mlir");
  ASSERT_TRUE(withoutTarget);
  TargetAttr host = TargetAttr::getHostDefault(&context);
  EXPECT_EQ(getTargetOrHostDefault(*withoutTarget), host);
  EXPECT_EQ(
      getTargetOrHostDefault(*withoutTarget->getOps<func::FuncOp>().begin()),
      host);
}

TEST_F(TargetAttrTest, ModuleAttributeVerifier) {
  {
    test::DiagnosticCollector diagnostics(context);
    EXPECT_FALSE(parseSourceString<ModuleOp>(R"mlir(
      func.func @f() attributes {moe.target = #moe.target<kind = cpu>} {
        return
      }
    )mlir",
                                             ParserConfig(&context)));
    EXPECT_TRUE(diagnostics.contains("expects the 'moe.target' attribute on a "
                                     "builtin.module, but found it on "
                                     "'func.func'"))
        << diagnostics.str();
  }
  {
    test::DiagnosticCollector diagnostics(context);
    EXPECT_FALSE(parseSourceString<ModuleOp>(
        "module attributes {moe.target = 5 : i32} {}", ParserConfig(&context)));
    EXPECT_TRUE(diagnostics.contains(
        "expects 'moe.target' to be a #moe.target attribute"))
        << diagnostics.str();
  }
}

} // namespace
