//===- ParameterCountTest.cpp - Stored and active parameters --------------===//
//
// countParameters() on small modules: routed experts count K/E active,
// shared experts and dense weights fully, a weight used twice is stored once,
// a moe.repeat body is stored once and active N times, activations are not
// weights, PEER counts the selected embeddings; and formatCount().
//
//===----------------------------------------------------------------------===//

#include "TestSupport.h"

#include "moe/Analysis/ParameterCount.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

class ParameterCountTest : public test::MoETest {
protected:
  /// Parses `source` and counts the parameters of its function `name`.
  ModelParameters count(StringRef source, StringRef name) {
    module = parse(source);
    if (!module)
      return {};
    function = module->lookupSymbol<func::FuncOp>(name);
    EXPECT_TRUE(function) << "no function @" << name.str();
    if (!function)
      return {};
    return countParameters(function);
  }

  OwningOpRef<ModuleOp> module;
  func::FuncOp function;
};

// E = 8, K = 2, D = 64, F = 128.
constexpr double kRouter = 8 * 64;
constexpr double kExpertProj = 8 * 128 * 64;
constexpr const char *kLayerModule = R"mlir(
  func.func @layer(%x: tensor<?x64xf32>, %wr: tensor<8x64xf32>,
                   %wg: tensor<8x128x64xf32>, %wu: tensor<8x128x64xf32>,
                   %wd: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
    %y = moe.layer %x router(%wr) gate_proj(%wg) up_proj(%wu) down_proj(%wd)
        top_k(2) normalize activation(silu_glu)
        : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
           tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
    return %y : tensor<?x64xf32>
  }
)mlir";

TEST_F(ParameterCountTest, RoutedExpertsAreActiveKOverE) {
  ModelParameters model = count(kLayerModule, "layer");
  ASSERT_TRUE(function);
  EXPECT_EQ(model.functionName, "layer");
  const double stored = kRouter + 3 * kExpertProj;
  const double active = kRouter + 3 * kExpertProj * 2.0 / 8.0;
  EXPECT_DOUBLE_EQ(model.storedParameters, stored);
  EXPECT_DOUBLE_EQ(model.activeParameters, active);
  EXPECT_DOUBLE_EQ(model.density(), active / stored);
  // Router logits (2 E D) and K gated FFNs (3 matmuls of 2 D F each).
  const double flops = 2.0 * 8 * 64 + 2 * (2.0 * 64 * 128 * 3);
  EXPECT_DOUBLE_EQ(model.flopsPerToken, flops);
  EXPECT_DOUBLE_EQ(model.weightBytesPerToken, active * 4);

  ASSERT_EQ(model.layers.size(), 1u);
  const LayerParameters &layer = model.layers.front();
  EXPECT_TRUE(isa<LayerOp>(layer.op));
  EXPECT_EQ(layer.depth, 0u);
  EXPECT_FALSE(layer.fractionUnknown);
  EXPECT_FALSE(layer.isRepeatSummary);
  EXPECT_DOUBLE_EQ(layer.storedParameters, stored);
  EXPECT_DOUBLE_EQ(layer.activeParameters, active);
  EXPECT_DOUBLE_EQ(layer.density(), active / stored);

  // The roofline on an H100: this layer is bound by its weight bytes.
  TargetAttr cuda = TargetAttr::getCudaDefault(&context);
  EXPECT_DOUBLE_EQ(model.rooflineSecondsPerToken(cuda),
                   std::max(active * 4 / 3350e9, flops / 989000e9));
}

TEST_F(ParameterCountTest, SharedExpertsCountFully) {
  ModelParameters model = count(R"mlir(
    func.func @shared(%x: tensor<?x64xbf16>, %wr: tensor<8x64xbf16>,
                      %wg: tensor<8x128x64xbf16>, %wu: tensor<8x128x64xbf16>,
                      %wd: tensor<8x64x128xbf16>, %sg: tensor<256x64xbf16>,
                      %su: tensor<256x64xbf16>, %sd: tensor<64x256xbf16>,
                      %gate: tensor<1x64xbf16>) -> tensor<?x64xbf16> {
      %y = moe.layer %x router(%wr) gate_proj(%wg) up_proj(%wu) down_proj(%wd)
          shared_gate_proj(%sg) shared_up_proj(%su) shared_down_proj(%sd)
          shared_expert_gate(%gate) top_k(2) activation(silu_glu)
          : (tensor<?x64xbf16>, tensor<8x64xbf16>, tensor<8x128x64xbf16>,
             tensor<8x128x64xbf16>, tensor<8x64x128xbf16>,
             tensor<256x64xbf16>, tensor<256x64xbf16>, tensor<64x256xbf16>,
             tensor<1x64xbf16>) -> tensor<?x64xbf16>
      return %y : tensor<?x64xbf16>
    }
  )mlir",
                                "shared");
  ASSERT_TRUE(function);
  const double shared = 3 * 256 * 64 + 64;
  const double stored = kRouter + 3 * kExpertProj + shared;
  const double active = kRouter + 3 * kExpertProj * 2.0 / 8.0 + shared;
  EXPECT_DOUBLE_EQ(model.storedParameters, stored);
  EXPECT_DOUBLE_EQ(model.activeParameters, active);
  EXPECT_DOUBLE_EQ(model.weightBytesPerToken, active * 2);
  const double flops =
      2.0 * 8 * 64 + 2 * (2.0 * 64 * 128 * 3) + 2.0 * 64 * 256 * 3 + 2.0 * 64;
  EXPECT_DOUBLE_EQ(model.flopsPerToken, flops);
}

constexpr const char *kDenseModule = R"mlir(
  func.func @dense(%x: tensor<?x64xf32>, %w: tensor<64x32xf32>)
      -> tensor<?x32xf32> {
    %c0 = arith.constant 0 : index
    %zero = arith.constant 0.0 : f32
    %t = tensor.dim %x, %c0 : tensor<?x64xf32>
    %empty = tensor.empty(%t) : tensor<?x32xf32>
    %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<?x32xf32>)
        -> tensor<?x32xf32>
    %y = linalg.matmul ins(%x, %w : tensor<?x64xf32>, tensor<64x32xf32>)
        outs(%init : tensor<?x32xf32>) -> tensor<?x32xf32>
    return %y : tensor<?x32xf32>
  }
)mlir";

TEST_F(ParameterCountTest, DenseMatmulWeightCountsFully) {
  ModelParameters model = count(kDenseModule, "dense");
  ASSERT_TRUE(function);
  EXPECT_DOUBLE_EQ(model.storedParameters, 64 * 32);
  EXPECT_DOUBLE_EQ(model.activeParameters, 64 * 32);
  EXPECT_DOUBLE_EQ(model.density(), 1.0);
  EXPECT_DOUBLE_EQ(model.flopsPerToken, 2.0 * 64 * 32);
  ASSERT_EQ(model.layers.size(), 1u);
  EXPECT_TRUE(isa<linalg::MatmulOp>(model.layers.front().op));
}

TEST_F(ParameterCountTest, DenseConstantWeightCountsFully) {
  ModelParameters model = count(R"mlir(
    func.func @constant(%x: tensor<?x64xf32>, %init: tensor<?x32xf32>)
        -> tensor<?x32xf32> {
      %w = arith.constant dense<0.5> : tensor<64x32xf32>
      %y = linalg.matmul ins(%x, %w : tensor<?x64xf32>, tensor<64x32xf32>)
          outs(%init : tensor<?x32xf32>) -> tensor<?x32xf32>
      return %y : tensor<?x32xf32>
    }
  )mlir",
                                "constant");
  ASSERT_TRUE(function);
  EXPECT_DOUBLE_EQ(model.storedParameters, 64 * 32);
  EXPECT_DOUBLE_EQ(model.activeParameters, 64 * 32);
}

TEST_F(ParameterCountTest, WeightUsedTwiceIsStoredOnce) {
  // Tied weights: two layers read %w. Stored once, active per use.
  ModelParameters model = count(R"mlir(
    func.func @tied(%x: tensor<?x64xf32>, %w: tensor<64x64xf32>,
                    %init: tensor<?x64xf32>) -> tensor<?x64xf32> {
      %h = linalg.matmul ins(%x, %w : tensor<?x64xf32>, tensor<64x64xf32>)
          outs(%init : tensor<?x64xf32>) -> tensor<?x64xf32>
      %y = linalg.matmul ins(%h, %w : tensor<?x64xf32>, tensor<64x64xf32>)
          outs(%init : tensor<?x64xf32>) -> tensor<?x64xf32>
      return %y : tensor<?x64xf32>
    }
  )mlir",
                                "tied");
  ASSERT_TRUE(function);
  EXPECT_DOUBLE_EQ(model.storedParameters, 64 * 64);
  EXPECT_DOUBLE_EQ(model.activeParameters, 2 * 64 * 64);
  EXPECT_DOUBLE_EQ(model.density(), 2.0);
  ASSERT_EQ(model.layers.size(), 2u);
  for (const LayerParameters &layer : model.layers) {
    EXPECT_DOUBLE_EQ(layer.storedParameters, 64 * 64);
    EXPECT_DOUBLE_EQ(layer.activeParameters, 64 * 64);
  }
}

TEST_F(ParameterCountTest, WeightReadTwiceByOneOpCountsOnce) {
  ModelParameters model = count(R"mlir(
    func.func @square(%w: tensor<64x64xf32>) -> tensor<64x64xf32> {
      %empty = tensor.empty() : tensor<64x64xf32>
      %y = linalg.matmul ins(%w, %w : tensor<64x64xf32>, tensor<64x64xf32>)
          outs(%empty : tensor<64x64xf32>) -> tensor<64x64xf32>
      return %y : tensor<64x64xf32>
    }
  )mlir",
                                "square");
  ASSERT_TRUE(function);
  EXPECT_DOUBLE_EQ(model.storedParameters, 64 * 64);
  EXPECT_DOUBLE_EQ(model.activeParameters, 64 * 64);
  ASSERT_EQ(model.layers.size(), 1u);
}

TEST_F(ParameterCountTest, WeightThroughViewsCountsOnceAtItsReader) {
  // A transposed and a reshaped weight are the same weights: the matmuls
  // that read them are the layers, not the transpose or the reshape.
  ModelParameters model = count(R"mlir(
    func.func @views(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>,
                     %v: tensor<2x32x32xf32>, %init: tensor<?x32xf32>,
                     %init2: tensor<?x64xf32>) -> tensor<?x64xf32> {
      %empty = tensor.empty() : tensor<64x32xf32>
      %wt = linalg.transpose ins(%w : tensor<32x64xf32>)
          outs(%empty : tensor<64x32xf32>) permutation = [1, 0]
      %h = linalg.matmul ins(%x, %wt : tensor<?x64xf32>, tensor<64x32xf32>)
          outs(%init : tensor<?x32xf32>) -> tensor<?x32xf32>
      %vc = tensor.collapse_shape %v [[0, 1], [2]]
          : tensor<2x32x32xf32> into tensor<64x32xf32>
      %vt = tensor.cast %vc : tensor<64x32xf32> to tensor<64x32xf32>
      %e2 = tensor.empty() : tensor<32x64xf32>
      %vtt = linalg.transpose ins(%vt : tensor<64x32xf32>)
          outs(%e2 : tensor<32x64xf32>) permutation = [1, 0]
      %y = linalg.matmul ins(%h, %vtt : tensor<?x32xf32>, tensor<32x64xf32>)
          outs(%init2 : tensor<?x64xf32>) -> tensor<?x64xf32>
      return %y : tensor<?x64xf32>
    }
  )mlir",
                                "views");
  ASSERT_TRUE(function);
  EXPECT_DOUBLE_EQ(model.storedParameters, 32 * 64 + 2 * 32 * 32);
  EXPECT_DOUBLE_EQ(model.activeParameters, 32 * 64 + 2 * 32 * 32);
  EXPECT_DOUBLE_EQ(model.flopsPerToken, 2.0 * (32 * 64 + 2 * 32 * 32));
  ASSERT_EQ(model.layers.size(), 2u);
  for (const LayerParameters &layer : model.layers)
    EXPECT_TRUE(isa<linalg::MatmulOp>(layer.op))
        << layer.op->getName().getStringRef().str();
  Value w = function.getArgument(1);
  Value wt = model.layers.front().op->getOperand(1);
  EXPECT_EQ(getWeightRoot(wt), w);
}

constexpr const char *kRepeatModule = R"mlir(
  func.func @repeat(%x: tensor<?x64xf32>, %w: tensor<64x64xf32>,
                    %wo: tensor<64x16xf32>, %init: tensor<?x64xf32>,
                    %out: tensor<?x16xf32>) -> tensor<?x16xf32> {
    %y = moe.repeat 3 iter_args(%h = %x) : tensor<?x64xf32> {
      %next = linalg.matmul ins(%h, %w : tensor<?x64xf32>, tensor<64x64xf32>)
          outs(%init : tensor<?x64xf32>) -> tensor<?x64xf32>
      moe.yield %next : tensor<?x64xf32>
    }
    %z = linalg.matmul ins(%y, %wo : tensor<?x64xf32>, tensor<64x16xf32>)
        outs(%out : tensor<?x16xf32>) -> tensor<?x16xf32>
    return %z : tensor<?x16xf32>
  }
)mlir";

TEST_F(ParameterCountTest, RepeatBodyIsStoredOnceAndActiveNTimes) {
  ModelParameters model = count(kRepeatModule, "repeat");
  ASSERT_TRUE(function);
  const double body = 64 * 64;
  const double head = 64 * 16;
  EXPECT_DOUBLE_EQ(model.storedParameters, body + head);
  EXPECT_DOUBLE_EQ(model.activeParameters, 3 * body + head);
  EXPECT_DOUBLE_EQ(model.flopsPerToken, 2.0 * (3 * body + head));
  EXPECT_DOUBLE_EQ(model.weightBytesPerToken, 4.0 * (3 * body + head));

  // The summary of the repeat comes first, then its body, then the head.
  ASSERT_EQ(model.layers.size(), 3u);
  const LayerParameters &summary = model.layers[0];
  EXPECT_TRUE(summary.isRepeatSummary);
  EXPECT_TRUE(isa<RepeatOp>(summary.op));
  EXPECT_EQ(summary.depth, 0u);
  EXPECT_DOUBLE_EQ(summary.storedParameters, body);
  EXPECT_DOUBLE_EQ(summary.activeParameters, 3 * body);
  EXPECT_DOUBLE_EQ(summary.density(), 3.0);

  const LayerParameters &inner = model.layers[1];
  EXPECT_FALSE(inner.isRepeatSummary);
  EXPECT_TRUE(isa<linalg::MatmulOp>(inner.op));
  EXPECT_EQ(inner.depth, 1u);
  EXPECT_DOUBLE_EQ(inner.storedParameters, body);
  EXPECT_DOUBLE_EQ(inner.activeParameters, 3 * body);

  const LayerParameters &last = model.layers[2];
  EXPECT_EQ(last.depth, 0u);
  EXPECT_DOUBLE_EQ(last.storedParameters, head);
  EXPECT_DOUBLE_EQ(last.activeParameters, head);
}

TEST_F(ParameterCountTest, NestedRepeatsMultiply) {
  ModelParameters model = count(R"mlir(
    func.func @nested(%x: tensor<?x64xf32>, %w: tensor<64x64xf32>,
                      %init: tensor<?x64xf32>) -> tensor<?x64xf32> {
      %y = moe.repeat 2 iter_args(%a = %x) : tensor<?x64xf32> {
        %b = moe.repeat 3 iter_args(%h = %a) : tensor<?x64xf32> {
          %next = linalg.matmul ins(%h, %w : tensor<?x64xf32>, tensor<64x64xf32>)
              outs(%init : tensor<?x64xf32>) -> tensor<?x64xf32>
          moe.yield %next : tensor<?x64xf32>
        }
        moe.yield %b : tensor<?x64xf32>
      }
      return %y : tensor<?x64xf32>
    }
  )mlir",
                                "nested");
  ASSERT_TRUE(function);
  const double body = 64 * 64;
  EXPECT_DOUBLE_EQ(model.storedParameters, body);
  EXPECT_DOUBLE_EQ(model.activeParameters, 6 * body);
  ASSERT_EQ(model.layers.size(), 3u);
  // Outer summary, inner summary (per token of its own input), the matmul.
  EXPECT_TRUE(model.layers[0].isRepeatSummary);
  EXPECT_EQ(model.layers[0].depth, 0u);
  EXPECT_DOUBLE_EQ(model.layers[0].activeParameters, 6 * body);
  EXPECT_TRUE(model.layers[1].isRepeatSummary);
  EXPECT_EQ(model.layers[1].depth, 1u);
  EXPECT_DOUBLE_EQ(model.layers[1].activeParameters, 3 * body);
  EXPECT_FALSE(model.layers[2].isRepeatSummary);
  EXPECT_EQ(model.layers[2].depth, 2u);
  EXPECT_DOUBLE_EQ(model.layers[2].activeParameters, 6 * body);
  for (const LayerParameters &layer : model.layers)
    EXPECT_DOUBLE_EQ(layer.storedParameters, body);
}

TEST_F(ParameterCountTest, ActivationsAreNotWeights) {
  // %x and %out are static but marked moe.activation; %init is dynamic.
  ModelParameters model = count(R"mlir(
    func.func @acts(%x: tensor<16x64xf32> {moe.activation},
                    %w: tensor<64x32xf32>,
                    %out: tensor<16x32xf32> {moe.activation},
                    %y: tensor<?x64xf32>, %init: tensor<?x32xf32>)
        -> (tensor<16x32xf32>, tensor<?x32xf32>) {
      %a = linalg.matmul ins(%x, %w : tensor<16x64xf32>, tensor<64x32xf32>)
          outs(%out : tensor<16x32xf32>) -> tensor<16x32xf32>
      %b = linalg.matmul ins(%y, %w : tensor<?x64xf32>, tensor<64x32xf32>)
          outs(%init : tensor<?x32xf32>) -> tensor<?x32xf32>
      return %a, %b : tensor<16x32xf32>, tensor<?x32xf32>
    }
  )mlir",
                                "acts");
  ASSERT_TRUE(function);
  EXPECT_DOUBLE_EQ(model.storedParameters, 64 * 32);
  EXPECT_DOUBLE_EQ(model.activeParameters, 2 * 64 * 32);
  EXPECT_FALSE(getWeightRoot(function.getArgument(0)));
  EXPECT_EQ(getWeightRoot(function.getArgument(1)), function.getArgument(1));
  EXPECT_FALSE(getWeightRoot(function.getArgument(2)));
  EXPECT_FALSE(getWeightRoot(function.getArgument(3)));
  EXPECT_FALSE(getWeightRoot(function.getArgument(4)));
}

TEST_F(ParameterCountTest, UnmarkedStaticArgumentIsAWeight) {
  // Without moe.activation a fully static argument reads as a weight.
  ModelParameters model = count(R"mlir(
    func.func @unmarked(%x: tensor<16x64xf32>, %w: tensor<64x32xf32>,
                        %out: tensor<16x32xf32> {moe.activation})
        -> tensor<16x32xf32> {
      %a = linalg.matmul ins(%x, %w : tensor<16x64xf32>, tensor<64x32xf32>)
          outs(%out : tensor<16x32xf32>) -> tensor<16x32xf32>
      return %a : tensor<16x32xf32>
    }
  )mlir",
                                "unmarked");
  ASSERT_TRUE(function);
  EXPECT_DOUBLE_EQ(model.storedParameters, 16 * 64 + 64 * 32);
}

TEST_F(ParameterCountTest, PeerCountsSelectedEmbeddings) {
  // H = 2 heads, Dk = 16, n = 8 sub-keys (N = 64 experts), top 4, D = 64.
  ModelParameters model = count(R"mlir(
    func.func @peer(%x: tensor<?x64xf32>, %wq: tensor<32x64xf32>,
                    %bq: tensor<32xf32>, %keys: tensor<2x2x8x8xf32>,
                    %down: tensor<64x64xf32>, %up: tensor<64x64xf32>)
        -> tensor<?x64xf32> {
      %y = moe.peer %x query(%wq, %bq) keys(%keys) down_embed(%down)
          up_embed(%up) heads(2) top_k(4)
          : (tensor<?x64xf32>, tensor<32x64xf32>, tensor<32xf32>,
             tensor<2x2x8x8xf32>, tensor<64x64xf32>, tensor<64x64xf32>)
          -> tensor<?x64xf32>
      return %y : tensor<?x64xf32>
    }
  )mlir",
                                "peer");
  ASSERT_TRUE(function);
  const double query = 32 * 64 + 32;
  const double keys = 2 * 2 * 8 * 8;
  const double embed = 64 * 64;
  // Each head selects top_k of the N experts: H * k / N of each embedding.
  const double selected = 2.0 * 4.0 / 64.0;
  EXPECT_DOUBLE_EQ(model.storedParameters, query + keys + 2 * embed);
  EXPECT_DOUBLE_EQ(model.activeParameters, query + keys + 2 * embed * selected);
  ASSERT_EQ(model.layers.size(), 1u);
  EXPECT_TRUE(isa<PeerOp>(model.layers.front().op));
  // Query projection, sub-key scores of both halves, and the selected
  // experts (a dot product and a scaled add of D each).
  EXPECT_DOUBLE_EQ(model.flopsPerToken,
                   2.0 * 32 * 64 + 2.0 * 2 * 2 * 8 * 8 + 2.0 * 4 * 4 * 64);
}

TEST_F(ParameterCountTest, ExpertsWithoutVisibleTopKCountDense) {
  ModelParameters model = count(R"mlir(
    func.func @experts(%rows: tensor<?x64xf32>, %offsets: tensor<9xi32>,
                       %wu: tensor<8x128x64xf32>, %wd: tensor<8x64x128xf32>)
        -> tensor<?x64xf32> {
      %y = moe.experts %rows, %offsets up_proj(%wu) down_proj(%wd)
          activation(relu)
          : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>,
             tensor<8x64x128xf32>) -> tensor<?x64xf32>
      return %y : tensor<?x64xf32>
    }
  )mlir",
                                "experts");
  ASSERT_TRUE(function);
  ASSERT_EQ(model.layers.size(), 1u);
  EXPECT_TRUE(model.layers.front().fractionUnknown);
  EXPECT_DOUBLE_EQ(model.storedParameters, 2 * kExpertProj);
  EXPECT_DOUBLE_EQ(model.activeParameters, 2 * kExpertProj);
}

TEST_F(ParameterCountTest, FormatCount) {
  EXPECT_EQ(formatCount(46702792704.0), "46.70B");
  EXPECT_EQ(formatCount(12879925248.0), "12.88B");
  EXPECT_EQ(formatCount(124634112.0), "124.63M");
  EXPECT_EQ(formatCount(4096.0), "4.10K");
  EXPECT_EQ(formatCount(1e9), "1.00B");
  EXPECT_EQ(formatCount(1e6), "1.00M");
  EXPECT_EQ(formatCount(999.0), "999");
  EXPECT_EQ(formatCount(0.0), "0");
}

} // namespace
