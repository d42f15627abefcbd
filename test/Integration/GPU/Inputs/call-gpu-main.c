/* Calls the lowered `@main` of a GPU integration test, renamed to
 * moe_gpu_main: a `func.func @main()` becomes `void main(void)`, whose exit
 * status would be whatever the last call left in the return register. The
 * line printed after it separates main's calls from those of the global
 * destructors (module unload). */
#include <stdio.h>

void moe_gpu_main(void);

int main(void) {
  moe_gpu_main();
  fprintf(stderr, "moe_gpu_main returned\n");
  return 0;
}
