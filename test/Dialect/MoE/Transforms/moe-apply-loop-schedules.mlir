// RUN: moe-opt %s --moe-apply-loop-schedules | FileCheck %s

// The loop whose location carries the marker (convert-moe-to-linalg puts it
// on the prefill's loop over whole experts) gets schedule(dynamic); the
// other keeps the default static schedule.

// CHECK-LABEL: func.func @schedules
// CHECK: omp.wsloop schedule(dynamic) {
// CHECK: omp.wsloop {
func.func @schedules(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
        omp.yield
      }
    } loc(fused<"moe.dynamic_schedule">["experts.mlir":1:1])
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
        omp.yield
      }
    } loc(fused["experts.mlir":2:1])
    omp.terminator
  }
  return
}
