// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s

// The #moe.target module attribute round-trips for both kinds, with no,
// some and all parameters. Parameters left out (or given as 0) are the
// default for the kind and are not printed.

// CHECK: module attributes {moe.target = #moe.target<kind = cpu, fast_memory_bytes = 1048576, shared_cache_bytes = 33554432, vector_bits = 512, compute_units = 2, bandwidth_gbps = 70, peak_gflops = 768>}
module attributes {moe.target = #moe.target<kind = cpu, fast_memory_bytes = 1048576, shared_cache_bytes = 33554432, vector_bits = 512, compute_units = 2, bandwidth_gbps = 70, peak_gflops = 768>} {

  // CHECK: module @cpu_kind_only attributes {moe.target = #moe.target<kind = cpu>}
  module @cpu_kind_only attributes {moe.target = #moe.target<kind = cpu>} {
  }

  // CHECK: module @cpu_some attributes {moe.target = #moe.target<kind = cpu, vector_bits = 256, compute_units = 16>}
  module @cpu_some attributes {moe.target = #moe.target<kind = cpu, vector_bits = 256, compute_units = 16>} {
  }

  // Zeros are the defaults and are elided.
  // CHECK: module @cpu_zeros attributes {moe.target = #moe.target<kind = cpu, shared_cache_bytes = 8388608>}
  module @cpu_zeros attributes {moe.target = #moe.target<kind = cpu, fast_memory_bytes = 0, shared_cache_bytes = 8388608, vector_bits = 0>} {
  }

  // CHECK: module @cuda_kind_only attributes {moe.target = #moe.target<kind = cuda>}
  module @cuda_kind_only attributes {moe.target = #moe.target<kind = cuda>} {
  }

  // CHECK: module @cuda_some attributes {moe.target = #moe.target<kind = cuda, fast_memory_bytes = 232448, compute_units = 132>}
  module @cuda_some attributes {moe.target = #moe.target<kind = cuda, fast_memory_bytes = 232448, compute_units = 132>} {
  }

  // An H100 SXM, every parameter given.
  // CHECK: module @cuda_all attributes {moe.target = #moe.target<kind = cuda, fast_memory_bytes = 232448, shared_cache_bytes = 52428800, vector_bits = 1024, compute_units = 132, bandwidth_gbps = 3350, peak_gflops = 989000>}
  module @cuda_all attributes {moe.target = #moe.target<kind = cuda, fast_memory_bytes = 232448, shared_cache_bytes = 52428800, vector_bits = 1024, compute_units = 132, bandwidth_gbps = 3350, peak_gflops = 989000>} {
    // CHECK: func.func @f
    func.func @f() {
      return
    }
  }

  // Parameters may be given in any order; they print in declaration order.
  // CHECK: module @cuda_reordered attributes {moe.target = #moe.target<kind = cuda, vector_bits = 2048, peak_gflops = 1979000>}
  module @cuda_reordered attributes {moe.target = #moe.target<peak_gflops = 1979000, vector_bits = 2048, kind = cuda>} {
  }
}
