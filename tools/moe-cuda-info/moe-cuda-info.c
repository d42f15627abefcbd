/*===- moe-cuda-info.c - List the CUDA devices the runtime can use --------===*\
|*                                                                            *|
|* moe-cuda-info                                                              *|
|*                                                                            *|
|* Prints the number of CUDA devices libmoe_cuda_runtime.so finds and their   *|
|* names, and exits with status 0 when there is at least one, 1 otherwise     *|
|* (no driver, the stub driver, or no device), so that scripts and the lit    *|
|* configuration can ask whether GPU tests can run.                           *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "moe/Runtime/MoECudaRuntime.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc > 1 &&
      (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    printf("usage: moe-cuda-info\n"
           "Lists the CUDA devices that libmoe_cuda_runtime.so can use; exits "
           "with 0 when there is one at least, 1 otherwise.\n");
    return 0;
  }
  int count = moe_cuda_device_count();
  printf("CUDA devices: %d\n", count);
  for (int device = 0; device < count; ++device) {
    char name[256];
    if (moe_cuda_device_name(device, name, (int)sizeof(name)) != 0)
      snprintf(name, sizeof(name), "(unknown)");
    printf("  %d: %s\n", device, name);
  }
  return count > 0 ? 0 : 1;
}
