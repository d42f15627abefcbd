//===- EntryPointTest.cpp - Tests of entry point signatures ---------------===//
//
// How moe-run and moe-compile see a function: element kinds, dtypes, which
// results the C wrapper returns through a pointer, and the layout of its
// struct of results.
//
//===----------------------------------------------------------------------===//

#include "moe/Runner/EntryPoint.h"

#include "TestSupport.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::test;

namespace {

class EntryPointTest : public MoETest {};

TEST_F(EntryPointTest, DescribesBuffersAndScalars) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @main(%x: tensor<?x64xbf16>, %s: f32) -> (tensor<4x64xf32>, f32, i32, i64) {
      %c = arith.constant 0 : i32
      %l = arith.constant 0 : i64
      %e = tensor.empty() : tensor<4x64xf32>
      return %e, %s, %c, %l : tensor<4x64xf32>, f32, i32, i64
    }
    func.func private @helper() { return }
  )mlir");
  ASSERT_TRUE(module);
  auto name = chooseEntryPoint(*module, "");
  ASSERT_TRUE(bool(name));
  EXPECT_EQ(*name, "main");
  auto signature = getEntrySignature(*module, "main");
  ASSERT_TRUE(bool(signature)) << llvm::toString(signature.takeError());
  ASSERT_EQ(signature->arguments.size(), 2u);
  const EntryValue &x = signature->arguments[0];
  EXPECT_TRUE(x.isBuffer);
  EXPECT_EQ(x.element, ElementKind::BF16);
  EXPECT_EQ(getNpyDescr(x.element), "<u2");
  EXPECT_TRUE(ShapedType::isDynamic(x.shape[0]));
  EXPECT_EQ(x.getDescriptorBytes(), 8u * 7);
  EXPECT_FALSE(signature->arguments[1].isBuffer);

  // {descriptor (56 bytes), f32, i32, i64}: natural alignment.
  EXPECT_TRUE(signature->returnsThroughPointer());
  size_t bytes = 0;
  EXPECT_EQ(signature->getResultOffsets(&bytes),
            (llvm::SmallVector<size_t>{0, 56, 60, 64}));
  EXPECT_EQ(bytes, 72u);
}

TEST_F(EntryPointTest, OneScalarResultIsReturnedByValue) {
  auto signature = describeEntryPoint(
      "f", FunctionType::get(&context, {}, {Float32Type::get(&context)}));
  ASSERT_TRUE(bool(signature));
  EXPECT_FALSE(signature->returnsThroughPointer());
}

TEST_F(EntryPointTest, RejectsWhatCannotBePassed) {
  Type f32 = Float32Type::get(&context);
  auto strided = MemRefType::get(
      {4}, f32, StridedLayoutAttr::get(&context, /*offset=*/0, {2}));
  auto signature =
      describeEntryPoint("f", FunctionType::get(&context, {strided}, {}));
  ASSERT_FALSE(bool(signature));
  EXPECT_NE(llvm::toString(signature.takeError())
                .find("only identity-layout memrefs can be passed"),
            std::string::npos);
}

TEST_F(EntryPointTest, AsksToChooseAmongSeveralFunctions) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @f() { return }
    func.func @g() { return }
  )mlir");
  ASSERT_TRUE(module);
  auto name = chooseEntryPoint(*module, "");
  ASSERT_FALSE(bool(name));
  EXPECT_EQ(llvm::toString(name.takeError()),
            "the module has 2 public functions (@f, @g): choose one with "
            "--entry=NAME");
}

} // namespace
