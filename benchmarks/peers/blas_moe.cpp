//===- blas_moe.cpp - The OpenBLAS peer of the benchmark suite ------------===//
//
// What a performance-minded user writes by hand (BENCHMARKS.md, peer 2): a
// C++ loop over the experts that calls OpenBLAS for every product.
//
//   layer   router sgemm (sgemv at T = 1), softmax, top-k (+ selection bias
//           for the skewed case, + renormalization), a counting sort of the
//           assignments by expert, then per expert with rows: gather its
//           rows, gate and up sgemm (sgemv for one row), SwiGLU, down sgemm,
//           and a scatter-add (saxpy) of the rows times their routing
//           weights; shared experts are one more SwiGLU FFN over all rows.
//   repeat  h <- h + down(silu(gate(h)) * up(h)), N times, same weights.
//   peer    product-key experts as moe.peer defines them: the query sgemm,
//           sub-key score sgemms per head and half, top-k of each half, top-k
//           of the k*k sums, softmax, then sdot/saxpy over the selected
//           down/up embedding rows.
//
// f32 only: with --dtype bf16 it prints `bench: tokens=T skipped=bf16` (the
// harness reports "-"). Timed cold like moe-run --cold: before each timed
// call (outside the timed region) a new input is drawn and a flush buffer
// larger than the last-level cache is read on every core. Prints, per token
// count:
//
//   bench: tokens=T runs=N median_ms=X min_ms=Y
//
// Data: the counter-based SplitMix64 streams of data.py (the same values for
// the same seed), so `--check SEED` prints `check: sum=S abs_sum=A` that
// run.py --selftest compares with moe-run and the PyTorch peer.
//
// Build (run.py does): clang++-22 -O2 -march=native -std=c++17 blas_moe.cpp
//   -lopenblas -pthread. Run with OPENBLAS_CORETYPE=SkylakeX (AVX-512
//   kernels; its own detection picks slower ones on Zen 5) and
//   OPENBLAS_NUM_THREADS=2.
//
//===----------------------------------------------------------------------===//

#include <cblas.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

extern "C" {
// OpenBLAS extensions (declared in its cblas.h too; repeated so that the
// file also builds against another cblas.h).
void openblas_set_num_threads(int);
char *openblas_get_corename(void);
char *openblas_get_config(void);
}

namespace {

//===----------------------------------------------------------------------===//
// Data
//===----------------------------------------------------------------------===//

/// Element `index` of stream `stream` under `seed`, uniform in [-1, 1) on a
/// grid of 2^-23 (data.py's `uniform`).
float uniformAt(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t z = (seed * 1000 + stream + index + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * 0x1p-23f - 1.0f;
}

/// Runs body(begin, end) over [0, count) on `threads` threads.
template <typename Body>
void parallelFor(size_t count, unsigned threads, Body body) {
  std::vector<std::thread> pool;
  size_t chunk = (count + threads - 1) / threads;
  for (unsigned t = 0; t < threads; ++t) {
    size_t begin = std::min(count, t * chunk);
    size_t end = std::min(count, begin + chunk);
    pool.emplace_back([=] { body(begin, end); });
  }
  for (std::thread &thread : pool)
    thread.join();
}

unsigned numThreads = 2;

/// A 64-byte aligned float buffer; one of at least 2 MiB (weights) is
/// 2 MiB-aligned and advised for transparent huge pages before its first
/// touch, as moe-run's buffers are (moe_aligned_alloc), so that no system
/// pays more TLB misses than another for the same weights.
struct Buffer {
  float *data = nullptr;
  size_t count = 0;
  Buffer() = default;
  explicit Buffer(size_t count) : count(count) {
    constexpr size_t hugePage = size_t(2) << 20;
    size_t bytes = count * sizeof(float);
    size_t alignment = bytes >= hugePage ? hugePage : 64;
    bytes = (bytes + alignment - 1) / alignment * alignment;
    data = static_cast<float *>(
        std::aligned_alloc(alignment, bytes ? bytes : alignment));
    if (data && alignment == hugePage)
      madvise(data, bytes, MADV_HUGEPAGE);
    if (!data) {
      std::fprintf(stderr, "blas_moe: out of memory (%zu bytes)\n", bytes);
      std::exit(1);
    }
  }
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  Buffer(Buffer &&other) noexcept { *this = std::move(other); }
  Buffer &operator=(Buffer &&other) noexcept {
    std::swap(data, other.data);
    std::swap(count, other.count);
    return *this;
  }
  ~Buffer() { std::free(data); }
  float *operator+(size_t offset) const { return data + offset; }
};

/// A tensor of `count` elements from stream `stream`, times `scale`.
Buffer randomTensor(uint64_t seed, uint64_t stream, size_t count,
                    float scale = 1.0f) {
  Buffer buffer(count);
  float *data = buffer.data;
  parallelFor(count, numThreads, [=](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i)
      data[i] = uniformAt(seed, stream, i) * scale;
  });
  return buffer;
}

float inverseSqrt(int64_t n) {
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(n)));
}

/// Evicts the caches: every thread sums its share of a buffer larger than
/// the last-level cache.
class CacheFlush {
public:
  explicit CacheFlush(size_t bytes) : words(bytes / 8) {
    buffer.assign(words, 1);
  }
  void operator()() {
    std::vector<uint64_t> sums(numThreads, 0);
    const uint64_t *data = buffer.data();
    size_t chunk = (words + numThreads - 1) / numThreads;
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < numThreads; ++t)
      pool.emplace_back([&, t] {
        size_t begin = std::min(words, t * chunk);
        size_t end = std::min(words, begin + chunk);
        uint64_t sum = 0;
        for (size_t i = begin; i < end; ++i)
          sum += data[i];
        sums[t] = sum;
      });
    for (std::thread &thread : pool)
      thread.join();
    sink = std::accumulate(sums.begin(), sums.end(), uint64_t(0));
  }

private:
  size_t words;
  std::vector<uint64_t> buffer;
  static inline volatile uint64_t sink;
};

//===----------------------------------------------------------------------===//
// Building blocks
//===----------------------------------------------------------------------===//

/// out (rows x n) = in (rows x k) . w^T, w (n x k) row-major: sgemv for one
/// row, sgemm otherwise.
void linear(const float *in, int64_t rows, int64_t k, const float *w, int64_t n,
            float *out) {
  if (rows == 1)
    cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, w, k, in, 1, 0.0f, out,
                1);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, k, 1.0f, in,
                k, w, k, 0.0f, out, n);
}

/// out (rows x D) = down(silu(gate(in)) * up(in)) for one SwiGLU FFN of
/// width F; `g` and `u` are rows x F scratch.
void swiglu(const float *in, int64_t rows, int64_t D, int64_t F,
            const float *gate, const float *up, const float *down, float *g,
            float *u, float *out) {
  linear(in, rows, D, gate, F, g);
  linear(in, rows, D, up, F, u);
  for (int64_t i = 0, n = rows * F; i < n; ++i)
    g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  linear(g, rows, F, down, D, out);
}

/// The `k` best of `values[0..n)`: value descending, then index ascending
/// (the order of moe.topk).
void topK(const float *values, int64_t n, int64_t k, int64_t *indices) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(
      order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
        return values[a] > values[b] || (values[a] == values[b] && a < b);
      });
  std::copy(order.begin(), order.begin() + k, indices);
}

//===----------------------------------------------------------------------===//
// The three modes
//===----------------------------------------------------------------------===//

struct Options {
  std::string mode = "layer";
  int64_t D = 0, F = 0, E = 0, K = 0, shared = 0, hot = 0, repeat = 1;
  int64_t n = 0, heads = 0, dk = 0;
  bool normalize = false;
  std::string dtype = "f32";
  std::vector<int64_t> tokens{1};
  std::vector<int64_t> runs{10};
  int64_t flushMiB = 1024;
  /// Untimed cold calls before the timed ones, per token count.
  int64_t warmup = 0;
  double maxSeconds = 0;
  uint64_t seed = 1;
  bool check = false;
};

class Model {
public:
  virtual ~Model() = default;
  virtual void forward(const float *x, int64_t T, float *y) = 0;
};

/// The MoE layer: streams 0..7 are x, router, gate, up, down and the shared
/// gate, up, down (data.py's layer_tensors).
class Layer : public Model {
public:
  Layer(const Options &o, uint64_t seed) : o(o) {
    int64_t D = o.D, F = o.F, E = o.E, S = o.shared;
    router = randomTensor(seed, 1, E * D, 4.0f * inverseSqrt(D));
    gate = randomTensor(seed, 2, E * F * D, inverseSqrt(D));
    up = randomTensor(seed, 3, E * F * D, inverseSqrt(D));
    down = randomTensor(seed, 4, E * D * F, inverseSqrt(F));
    if (S) {
      sharedGate = randomTensor(seed, 5, S * D, inverseSqrt(D));
      sharedUp = randomTensor(seed, 6, S * D, inverseSqrt(D));
      sharedDown = randomTensor(seed, 7, D * S, inverseSqrt(S));
    }
    bias.assign(E, 0.0f);
    for (int64_t e = 0; e < std::min(o.hot, E); ++e)
      bias[e] = 2.0f; // data.py's hot_bias
  }

  void forward(const float *x, int64_t T, float *y) override {
    int64_t D = o.D, F = o.F, E = o.E, K = o.K, S = o.shared;
    reserve(T);
    // Router: logits, softmax, top-k, weights.
    linear(x, T, D, router.data, E, logits.data());
    std::vector<int64_t> chosen(K);
    std::vector<float> selection(E);
    std::fill(counts.begin(), counts.end(), 0);
    for (int64_t t = 0; t < T; ++t) {
      float *row = logits.data() + t * E;
      float max = *std::max_element(row, row + E), sum = 0.0f;
      for (int64_t e = 0; e < E; ++e)
        sum += row[e] = std::exp(row[e] - max);
      for (int64_t e = 0; e < E; ++e) {
        row[e] /= sum;
        selection[e] = row[e] + bias[e];
      }
      topK(selection.data(), E, K, chosen.data());
      float total = 0.0f;
      for (int64_t j = 0; j < K; ++j)
        total += row[chosen[j]];
      for (int64_t j = 0; j < K; ++j) {
        expertOf[t * K + j] = chosen[j];
        weightOf[t * K + j] = o.normalize && total > 0.0f
                                  ? row[chosen[j]] / total
                                  : row[chosen[j]];
        ++counts[chosen[j]];
      }
    }
    // Counting sort of the assignments by expert, in (token, slot) order.
    offsets[0] = 0;
    for (int64_t e = 0; e < E; ++e)
      offsets[e + 1] = offsets[e] + counts[e];
    std::vector<int64_t> next(offsets.begin(), offsets.end() - 1);
    for (int64_t a = 0; a < T * K; ++a)
      assignment[next[expertOf[a]]++] = a;

    std::memset(y, 0, sizeof(float) * T * D);
    for (int64_t e = 0; e < E; ++e) {
      int64_t rows = counts[e];
      if (rows == 0)
        continue;
      const int64_t *mine = assignment.data() + offsets[e];
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(gathered + r * D, x + (mine[r] / K) * D, sizeof(float) * D);
      swiglu(gathered.data, rows, D, F, gate + e * F * D, up + e * F * D,
             down + e * D * F, g.data, u.data, out.data);
      for (int64_t r = 0; r < rows; ++r)
        cblas_saxpy(D, weightOf[mine[r]], out + r * D, 1, y + (mine[r] / K) * D,
                    1);
    }
    if (S) {
      swiglu(x, T, D, S, sharedGate.data, sharedUp.data, sharedDown.data,
             g.data, u.data, out.data);
      cblas_saxpy(T * D, 1.0f, out.data, 1, y, 1);
    }
  }

private:
  void reserve(int64_t T) {
    if (T <= capacity)
      return;
    capacity = T;
    int64_t D = o.D, K = o.K, E = o.E;
    int64_t width = std::max(o.F, o.shared);
    logits.assign(T * E, 0.0f);
    expertOf.assign(T * K, 0);
    weightOf.assign(T * K, 0.0f);
    assignment.assign(T * K, 0);
    counts.assign(E, 0);
    offsets.assign(E + 1, 0);
    gathered = Buffer(T * K * D);
    g = Buffer(T * K * width + T * width);
    u = Buffer(T * K * width + T * width);
    out = Buffer(T * K * D + T * D);
  }

  const Options &o;
  Buffer router, gate, up, down, sharedGate, sharedUp, sharedDown;
  std::vector<float> bias;
  int64_t capacity = 0;
  std::vector<float> logits, weightOf;
  std::vector<int64_t> expertOf, assignment, counts, offsets;
  Buffer gathered, g, u, out;
};

/// h <- h + SwiGLU(h), `repeat` times: streams 0..3 are x, gate, up, down.
class Repeat : public Model {
public:
  Repeat(const Options &o, uint64_t seed) : o(o) {
    gate = randomTensor(seed, 1, o.F * o.D, inverseSqrt(o.D));
    up = randomTensor(seed, 2, o.F * o.D, inverseSqrt(o.D));
    down = randomTensor(seed, 3, o.D * o.F, inverseSqrt(o.F));
  }

  void forward(const float *x, int64_t T, float *y) override {
    if (T > capacity) {
      capacity = T;
      g = Buffer(T * o.F);
      u = Buffer(T * o.F);
      out = Buffer(T * o.D);
    }
    std::memcpy(y, x, sizeof(float) * T * o.D);
    for (int64_t i = 0; i < o.repeat; ++i) {
      swiglu(y, T, o.D, o.F, gate.data, up.data, down.data, g.data, u.data,
             out.data);
      cblas_saxpy(T * o.D, 1.0f, out.data, 1, y, 1);
    }
  }

private:
  const Options &o;
  Buffer gate, up, down, g, u, out;
  int64_t capacity = 0;
};

/// moe.peer: streams 0..4 are x, query, keys, down_embed, up_embed.
class Peer : public Model {
public:
  Peer(const Options &o, uint64_t seed) : o(o) {
    int64_t D = o.D, H = o.heads, N = o.n * o.n;
    query = randomTensor(seed, 1, H * o.dk * D, 2.0f * inverseSqrt(D));
    keys = randomTensor(seed, 2, H * 2 * o.n * (o.dk / 2));
    downEmbed = randomTensor(seed, 3, N * D, inverseSqrt(D));
    upEmbed = randomTensor(seed, 4, N * D);
  }

  void forward(const float *x, int64_t T, float *y) override {
    int64_t D = o.D, H = o.heads, n = o.n, k = o.K, dk = o.dk, half = dk / 2;
    if (T > capacity) {
      capacity = T;
      q = Buffer(T * H * dk);
      scores = Buffer(2 * T * n);
    }
    linear(x, T, D, query.data, H * dk, q.data);
    std::memset(y, 0, sizeof(float) * T * D);
    std::vector<int64_t> i1(k), i2(k), best(k);
    std::vector<float> sums(k * k), gates(k);
    for (int64_t h = 0; h < H; ++h) {
      // Both halves' sub-key scores for all tokens: T x n each.
      for (int64_t p = 0; p < 2; ++p)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, n, half, 1.0f,
                    q + h * dk + p * half, H * dk,
                    keys + (h * 2 + p) * n * half, half, 0.0f,
                    scores + p * T * n, n);
      for (int64_t t = 0; t < T; ++t) {
        const float *s1 = scores + t * n, *s2 = scores + T * n + t * n;
        topK(s1, n, k, i1.data());
        topK(s2, n, k, i2.data());
        for (int64_t a = 0; a < k; ++a)
          for (int64_t b = 0; b < k; ++b)
            sums[a * k + b] = s1[i1[a]] + s2[i2[b]];
        topK(sums.data(), k * k, k, best.data());
        float max = sums[best[0]], total = 0.0f;
        for (int64_t j = 0; j < k; ++j)
          total += gates[j] = std::exp(sums[best[j]] - max);
        for (int64_t j = 0; j < k; ++j) {
          int64_t expert = i1[best[j] / k] * n + i2[best[j] % k];
          float activation =
              cblas_sdot(D, downEmbed + expert * D, 1, x + t * D, 1);
          float coefficient = gates[j] / total * std::max(activation, 0.0f);
          cblas_saxpy(D, coefficient, upEmbed + expert * D, 1, y + t * D, 1);
        }
      }
    }
  }

private:
  const Options &o;
  Buffer query, keys, downEmbed, upEmbed, q, scores;
  int64_t capacity = 0;
};

//===----------------------------------------------------------------------===//
// Driver
//===----------------------------------------------------------------------===//

[[noreturn]] void usage(const char *message) {
  std::fprintf(
      stderr,
      "blas_moe: %s\nusage: blas_moe [--mode layer|repeat|peer] --D N "
      "[--F N --E N --K N --shared N --normalize --hot N --repeat N --n N "
      "--heads N --dk N] [--dtype f32|bf16] [--tokens a,b] [--runs a,b] "
      "[--flush-mib N] [--warmup N] [--max-seconds S] [--threads N] [--seed N] "
      "[--check SEED]\n",
      message);
  std::exit(2);
}

std::vector<int64_t> parseList(const char *text) {
  std::vector<int64_t> values;
  for (const char *at = text; *at;) {
    char *end;
    values.push_back(std::strtoll(at, &end, 10));
    if (end == at)
      usage("bad number list");
    at = *end == ',' ? end + 1 : end;
  }
  return values;
}

Options parseOptions(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--normalize") {
      o.normalize = true;
      continue;
    }
    if (i + 1 >= argc)
      usage(("missing value of " + flag).c_str());
    const char *value = argv[++i];
    int64_t number = std::atoll(value);
    if (flag == "--mode")
      o.mode = value;
    else if (flag == "--D")
      o.D = number;
    else if (flag == "--F")
      o.F = number;
    else if (flag == "--E")
      o.E = number;
    else if (flag == "--K")
      o.K = number;
    else if (flag == "--shared")
      o.shared = number;
    else if (flag == "--hot")
      o.hot = number;
    else if (flag == "--repeat")
      o.repeat = number;
    else if (flag == "--n")
      o.n = number;
    else if (flag == "--heads")
      o.heads = number;
    else if (flag == "--dk")
      o.dk = number;
    else if (flag == "--dtype")
      o.dtype = value;
    else if (flag == "--tokens")
      o.tokens = parseList(value);
    else if (flag == "--runs")
      o.runs = parseList(value);
    else if (flag == "--flush-mib")
      o.flushMiB = number;
    else if (flag == "--warmup")
      o.warmup = std::max<int64_t>(number, 0);
    else if (flag == "--max-seconds")
      o.maxSeconds = std::atof(value);
    else if (flag == "--threads")
      numThreads = static_cast<unsigned>(std::max<int64_t>(number, 1));
    else if (flag == "--seed")
      o.seed = static_cast<uint64_t>(number);
    else if (flag == "--check") {
      o.check = true;
      o.seed = static_cast<uint64_t>(number);
    } else
      usage(("unknown option " + flag).c_str());
  }
  if (o.D <= 0 || o.tokens.empty() || o.runs.empty())
    usage("--D, --tokens and --runs are required");
  if (o.mode == "layer" && (o.F <= 0 || o.E <= 0 || o.K <= 0 || o.K > o.E))
    usage("a layer needs --F, --E and 0 < --K <= --E");
  if (o.mode == "repeat" && (o.F <= 0 || o.repeat <= 0))
    usage("a repeat needs --F and --repeat");
  if (o.mode == "peer" &&
      (o.n <= 0 || o.heads <= 0 || o.dk <= 1 || o.K <= 0 || o.K > o.n))
    usage("a peer layer needs --n, --heads, --dk and 0 < --K <= --n");
  if (o.mode != "layer" && o.mode != "repeat" && o.mode != "peer")
    usage("unknown --mode");
  return o;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  size_t middle = values.size() / 2;
  return values.size() % 2 ? values[middle]
                           : (values[middle - 1] + values[middle]) / 2;
}

} // namespace

int main(int argc, char **argv) {
  Options o = parseOptions(argc, argv);
  if (o.dtype != "f32") {
    for (int64_t T : o.tokens)
      std::printf("bench: tokens=%lld skipped=%s\n", (long long)T,
                  o.dtype.c_str());
    return 0;
  }
  openblas_set_num_threads(static_cast<int>(numThreads));
  std::printf("openblas: core=%s config=%s threads=%u\n",
              openblas_get_corename(), openblas_get_config(), numThreads);

  Model *model;
  if (o.mode == "layer")
    model = new Layer(o, o.seed);
  else if (o.mode == "repeat")
    model = new Repeat(o, o.seed);
  else
    model = new Peer(o, o.seed);

  if (o.check) {
    int64_t T = o.tokens[0];
    Buffer x = randomTensor(o.seed, 0, T * o.D);
    Buffer y(T * o.D);
    model->forward(x.data, T, y.data);
    double sum = 0, absSum = 0;
    for (int64_t i = 0; i < T * o.D; ++i) {
      sum += y.data[i];
      absSum += std::fabs(y.data[i]);
    }
    std::printf("check: sum=%.9g abs_sum=%.9g\n", sum, absSum);
    delete model;
    return 0;
  }

  CacheFlush flush(static_cast<size_t>(std::max<int64_t>(o.flushMiB, 1)) << 20);
  uint64_t stream = 100;
  for (size_t i = 0; i < o.tokens.size(); ++i) {
    int64_t T = o.tokens[i];
    int64_t runs = o.runs[std::min(i, o.runs.size() - 1)];
    Buffer y(T * o.D);
    {
      Buffer x = randomTensor(o.seed, stream++, T * o.D);
      model->forward(x.data, T, y.data); // warm-up
    }
    for (int64_t run = 0; run < o.warmup; ++run) { // untimed cold calls
      Buffer x = randomTensor(o.seed, stream++, T * o.D);
      flush();
      model->forward(x.data, T, y.data);
    }
    std::vector<double> milliseconds;
    auto began = std::chrono::steady_clock::now();
    for (int64_t run = 0; run < runs; ++run) {
      Buffer x = randomTensor(o.seed, stream++, T * o.D);
      flush();
      auto start = std::chrono::steady_clock::now();
      model->forward(x.data, T, y.data);
      auto stop = std::chrono::steady_clock::now();
      milliseconds.push_back(
          std::chrono::duration<double, std::milli>(stop - start).count());
      if (o.maxSeconds > 0 && milliseconds.size() >= 3 &&
          std::chrono::duration<double>(stop - began).count() > o.maxSeconds)
        break;
    }
    std::printf("bench: tokens=%lld runs=%zu median_ms=%.4f min_ms=%.4f\n",
                (long long)T, milliseconds.size(), median(milliseconds),
                *std::min_element(milliseconds.begin(), milliseconds.end()));
    std::fflush(stdout);
  }
  delete model;
  return 0;
}
