//===- CudaRuntimeTest.cpp - libmoe_cuda_runtime.so without a GPU ---------===//
//
// The CUDA runtime where no GPU can run anything: the device queries answer
// 0 instead of exiting, a zero-byte allocation needs no driver, and every
// other call exits with status 1 and a message naming the cause, whether the
// driver library is missing (MOE_CUDA_DRIVER_LIBRARY pointing at a missing
// file) or is the CUDA toolkit's stub, which fails every call with
// CUDA_ERROR_STUB_LIBRARY. The tests hold on GPU machines too: the ones that
// need the absence of a driver skip there, and the others choose the driver
// library themselves.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/MoECudaRuntime.h"

#include "gtest/gtest.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace {

constexpr const char *kMissingDriver = "/nonexistent/libcuda.so.1";
constexpr const char *kStubDriver = "/usr/local/cuda/lib64/stubs/libcuda.so";

/// The runtime loads the driver once per process, so each test that picks a
/// driver library runs its statement in a fresh process: the "threadsafe"
/// death-test style re-executes the test binary instead of forking this
/// process, whose runtime may already have loaded a driver.
class CudaRuntimeTest : public ::testing::Test {
protected:
  void SetUp() override {
    savedStyle = GTEST_FLAG_GET(death_test_style);
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
  void TearDown() override { GTEST_FLAG_SET(death_test_style, savedStyle); }

private:
  std::string savedStyle;
};

/// Makes the runtime load `library` as the driver; call it before any
/// runtime function in the process.
void useDriver(const char *library) {
  setenv("MOE_CUDA_DRIVER_LIBRARY", library, /*overwrite=*/1);
}

TEST_F(CudaRuntimeTest, DeviceQueriesNeverExit) {
  int count = moe_cuda_device_count();
  EXPECT_GE(count, 0);
  char name[256];
  EXPECT_EQ(moe_cuda_device_name(count, name, sizeof(name)), -1);
  EXPECT_EQ(moe_cuda_device_name(0, nullptr, 16), -1);
  EXPECT_EQ(moe_cuda_device_name(0, name, 0), -1);
  if (count > 0) {
    ASSERT_EQ(moe_cuda_device_name(0, name, sizeof(name)), 0);
    EXPECT_GT(std::string(name).size(), 0u);
  }
}

TEST_F(CudaRuntimeTest, CallWithoutUsableDriverExits) {
  if (moe_cuda_device_count() > 0)
    GTEST_SKIP() << "this machine has a usable CUDA device";
  // Without the driver library, or with a driver but no device.
  EXPECT_EXIT(mgpuStreamCreate(), ::testing::ExitedWithCode(1),
              "moe-cuda-runtime: (cannot load libcuda\\.so\\.1 \\(the NVIDIA "
              "driver library\\): |cuInit failed: CUDA_ERROR_)");
}

TEST_F(CudaRuntimeTest, MissingDriverLibraryExits) {
  EXPECT_EXIT(
      {
        useDriver(kMissingDriver);
        mgpuStreamCreate();
      },
      ::testing::ExitedWithCode(1),
      "^moe-cuda-runtime: cannot load /nonexistent/libcuda\\.so\\.1 \\(the "
      "NVIDIA driver library, from MOE_CUDA_DRIVER_LIBRARY\\): "
      ".*No such file or directory\n$");
}

TEST_F(CudaRuntimeTest, MissingDriverLibraryMeansNoDevice) {
  EXPECT_EXIT(
      {
        useDriver(kMissingDriver);
        char name[16];
        std::fprintf(stderr, "devices=%d name=%d\n", moe_cuda_device_count(),
                     moe_cuda_device_name(0, name, sizeof(name)));
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "^devices=0 name=-1\n$");
}

TEST_F(CudaRuntimeTest, EmptyRequestsNeedNoDriver) {
  EXPECT_EXIT(
      {
        useDriver(kMissingDriver);
        void *device = mgpuMemAlloc(0, nullptr, 0);
        void *shared = mgpuMemAlloc(0, nullptr, 1);
        mgpuMemcpy(device, shared, 0, nullptr);
        mgpuMemFree(device, nullptr);
        moe_cuda_free(moe_cuda_alloc(0));
        mgpuModuleUnload(nullptr);
        std::fprintf(stderr, "%s %s\n", device ? "device" : "null",
                     shared ? "shared" : "null");
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "^null null\n$");
}

/// The global destructors that gpu-to-llvm emits unload modules while
/// exit() runs after a fatal error; they must neither report the error again
/// nor call exit() a second time.
TEST_F(CudaRuntimeTest, ReleasesAfterFatalErrorDoNothing) {
  EXPECT_EXIT(
      {
        useDriver(kMissingDriver);
        std::atexit([] {
          mgpuModuleUnload(reinterpret_cast<void *>(0x1000));
          mgpuStreamDestroy(reinterpret_cast<void *>(0x2000));
          mgpuMemFree(reinterpret_cast<void *>(0x3000), nullptr);
          std::fprintf(stderr, "released\n");
        });
        mgpuLaunchKernel(nullptr, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr,
                         nullptr, 0);
      },
      ::testing::ExitedWithCode(1),
      "^moe-cuda-runtime: cannot load [^\n]*\nreleased\n$");
}

TEST_F(CudaRuntimeTest, StubDriverIsReportedByName) {
  if (access(kStubDriver, R_OK) != 0)
    GTEST_SKIP() << kStubDriver << " does not exist (no CUDA toolkit)";
  // The stub fails cuGetErrorName too, so the name comes from the runtime.
  EXPECT_EXIT(
      {
        useDriver(kStubDriver);
        mgpuMemAlloc(256, nullptr, 0);
      },
      ::testing::ExitedWithCode(1),
      "^moe-cuda-runtime: cuInit failed: CUDA_ERROR_STUB_LIBRARY \\(34\\)\n"
      "moe-cuda-runtime: note: [^\n]*stub");
}

TEST_F(CudaRuntimeTest, StubDriverMeansNoDevice) {
  if (access(kStubDriver, R_OK) != 0)
    GTEST_SKIP() << kStubDriver << " does not exist (no CUDA toolkit)";
  EXPECT_EXIT(
      {
        useDriver(kStubDriver);
        std::fprintf(stderr, "devices=%d\n", moe_cuda_device_count());
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "^devices=0\n$");
}

} // namespace
