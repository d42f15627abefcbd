#!/usr/bin/python3
"""The moe-mlir benchmark suite (BENCHMARKS.md): ours, the limit, the peers.

For each case it writes an MLIR module (one moe.layer, a SwiGLU block in
moe.repeat N, or one moe.peer), times it with `moe-run --bench N --cold`,
times the PyTorch eager peer (peers/torch_moe.py) and the OpenBLAS peer
(peers/blas_moe.cpp) under the same cold rule, computes the physical limit
from the DRAM read bandwidth and FMA peak measured in the same run, and
prints the table of BENCHMARKS.md and writes JSON.

    benchmarks/run.py                  # the quick subset (a few minutes)
    benchmarks/run.py --full           # every case, f32 and bf16
    benchmarks/run.py --cases olmoe,qwen3-moe --dtypes bf16 --tokens 1,16
    benchmarks/run.py --selftest       # ours, both peers and the numpy
                                       # reference agree on small shapes

Not a test: it reports figures and never fails on them. Run it with
Debian's /usr/bin/python3 (numpy, torch) on an otherwise idle machine.
See benchmarks/README.md.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(BENCH, "peers"))
import data  # noqa: E402

PYTHON = "/usr/bin/python3"
CLANG = "clang-22"
CLANGXX = "clang++-22"
OBJDUMP = "/usr/lib/llvm-22/bin/llvm-objdump"

# ----------------------------------------------------------------------------
# The cases of BENCHMARKS.md
# ----------------------------------------------------------------------------

# kind "layer": one moe.layer (SwiGLU experts, softmax router);
# kind "repeat": h <- h + SwiGLU(h) inside moe.repeat N, N in `counts`;
# kind "peer": one moe.peer (ReLU experts, softmax over the selected).
CASES = [
    dict(name="olmoe", kind="layer", D=2048, F=1024, E=64, K=8, shared=0,
         normalize=False, tokens=[1, 4, 16, 64, 256, 1024]),
    dict(name="mixtral", kind="layer", D=4096, F=14336, E=8, K=2, shared=0,
         normalize=True, tokens=[1, 16, 256]),
    dict(name="deepseek-v2-lite", kind="layer", D=2048, F=1408, E=64, K=6,
         shared=2 * 1408, normalize=False, tokens=[1, 16, 256]),
    dict(name="qwen3-moe", kind="layer", D=2048, F=768, E=128, K=8, shared=0,
         normalize=True, tokens=[1, 16, 256]),
    # The skewed routing case: OLMoE shapes, but a selection bias sends
    # every token to experts among a hot set of 2K = 16 of the 64.
    dict(name="olmoe-skew", kind="layer", D=2048, F=1024, E=64, K=8,
         shared=0, normalize=False, hot=16, tokens=[16, 256]),
    dict(name="repeat-125m", kind="repeat", D=576, F=1536, counts=[1, 2, 4],
         tokens=[1, 16]),
    dict(name="repeat-350m", kind="repeat", D=960, F=2560, counts=[1, 2, 4],
         tokens=[1, 16]),
    dict(name="peer", kind="peer", D=1024, n=512, heads=8, K=16, dk=256,
         tokens=[1, 64]),
]
CASE_BY_NAME = {case["name"]: case for case in CASES}

# The default run: (case, dtypes, token counts).
QUICK = [
    ("olmoe", ["f32"], [1, 16, 256]),
    ("mixtral", ["f32"], [1]),
    ("repeat-125m", ["f32"], [1]),
]

# The compile-time case: one MoE layer through the full CPU pipeline.
COMPILE_MODEL = os.path.join(ROOT, "examples", "olmoe-1b-7b-layer.mlir")

# A timed call aims to cost at most this much wall time per token count
# (pessimistically 5x the limit per call); never fewer than 3 calls.
BUDGET_MS = 5000.0


def log(message):
    clear_status()
    print(message, file=sys.stderr, flush=True)


VERBOSE = False
_status_shown = False


def status(message):
    """Progress: one line rewritten in place on a terminal; a line per step
    with --verbose; nothing otherwise."""
    global _status_shown
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K" + message[:120])
        sys.stderr.flush()
        _status_shown = True
    elif VERBOSE:
        print(message, file=sys.stderr, flush=True)


def clear_status():
    global _status_shown
    if _status_shown:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()
        _status_shown = False


def emit(line=""):
    """A line of the report on stdout."""
    clear_status()
    print(line, flush=True)


# ----------------------------------------------------------------------------
# Modules
# ----------------------------------------------------------------------------


def ttype(shape, elem):
    dims = "x".join("?" if d is None else str(d) for d in shape)
    return f"tensor<{dims}x{elem}>"


def layer_module(case, dtype):
    """One moe.layer; activations in the weights' type. A skewed case takes
    its selection bias as the first argument (given to moe-run as a file)."""
    D, F, E, K, S = (case[k] for k in ("D", "F", "E", "K", "shared"))
    x_t = ttype((None, D), dtype)
    args, operand_types, ops = [], [x_t], []
    if case.get("hot"):
        args.append(f"%bias: {ttype((E,), 'f32')}")
    args.append(f"%x: {x_t}")
    weights = [("router", (E, D)), ("gate", (E, F, D)), ("up", (E, F, D)),
               ("down", (E, D, F))]
    if S:
        weights += [("sg", (S, D)), ("su", (S, D)), ("sd", (D, S))]
    for name, shape in weights:
        args.append(f"%{name}: {ttype(shape, dtype)}")
    ops.append("router(%router)")
    operand_types.append(ttype((E, D), dtype))
    if case.get("hot"):
        ops.append("bias(%bias)")
        operand_types.append(ttype((E,), "f32"))
    ops.append("gate_proj(%gate) up_proj(%up) down_proj(%down)")
    operand_types += [ttype((E, F, D), dtype), ttype((E, F, D), dtype),
                      ttype((E, D, F), dtype)]
    if S:
        ops.append("shared_gate_proj(%sg) shared_up_proj(%su) "
                   "shared_down_proj(%sd)")
        operand_types += [ttype((S, D), dtype), ttype((S, D), dtype),
                          ttype((D, S), dtype)]
    attrs = f"top_k({K}) score(softmax)"
    if case["normalize"]:
        attrs += " normalize"
    attrs += " activation(silu_glu)"
    return (
        f"// {case['name']}: D {D}, F {F}, E {E}, K {K}, shared {S}, "
        f"{dtype} (generated by benchmarks/run.py)\n"
        f"func.func @layer({', '.join(args)}) -> {x_t} {{\n"
        f"  %y = moe.layer %x {' '.join(ops)} {attrs}\n"
        f"      : ({', '.join(operand_types)}) -> {x_t}\n"
        f"  return %y : {x_t}\n"
        f"}}\n")


def repeat_module(case, dtype, count):
    """h <- h + down(silu(gate(h)) * up(h)) inside moe.repeat `count`: one
    SwiGLU block of linalg ops, its weights read `count` times. The
    activations stay f32; bf16 weights are widened by the matmuls."""
    D, F = case["D"], case["F"]
    h_t, a_t = ttype((None, D), "f32"), ttype((None, F), "f32")
    wg_t, wd_t = ttype((F, D), dtype), ttype((D, F), dtype)
    maps = "indexing_maps = [#lhs, #rhs_t, #out]"
    return f"""// {case['name']} x{count}: a SwiGLU block D {D}, F {F}, {dtype} weights
// (generated by benchmarks/run.py)
#lhs = affine_map<(m, n, k) -> (m, k)>
#rhs_t = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
func.func @block(%x: {h_t}, %wg: {wg_t}, %wu: {wg_t}, %wd: {wd_t}) -> {h_t} {{
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %T = tensor.dim %x, %c0 : {h_t}
  %y = moe.repeat {count} iter_args(%h = %x) : {h_t} {{
    %g_empty = tensor.empty(%T) : {a_t}
    %g_init = linalg.fill ins(%zero : f32) outs(%g_empty : {a_t}) -> {a_t}
    %g = linalg.matmul {maps}
        ins(%h, %wg : {h_t}, {wg_t}) outs(%g_init : {a_t}) -> {a_t}
    %u_empty = tensor.empty(%T) : {a_t}
    %u_init = linalg.fill ins(%zero : f32) outs(%u_empty : {a_t}) -> {a_t}
    %u = linalg.matmul {maps}
        ins(%h, %wu : {h_t}, {wg_t}) outs(%u_init : {a_t}) -> {a_t}
    %a_empty = tensor.empty(%T) : {a_t}
    %a = linalg.generic {{indexing_maps = [affine_map<(t, f) -> (t, f)>, affine_map<(t, f) -> (t, f)>, affine_map<(t, f) -> (t, f)>], iterator_types = ["parallel", "parallel"]}}
        ins(%g, %u : {a_t}, {a_t}) outs(%a_empty : {a_t}) {{
    ^bb0(%bg: f32, %bu: f32, %bo: f32):
      %ng = arith.negf %bg : f32
      %e = math.exp %ng : f32
      %one = arith.constant 1.0 : f32
      %den = arith.addf %one, %e : f32
      %silu = arith.divf %bg, %den : f32
      %r = arith.mulf %silu, %bu : f32
      linalg.yield %r : f32
    }} -> {a_t}
    %d_empty = tensor.empty(%T) : {h_t}
    %d_init = linalg.fill ins(%zero : f32) outs(%d_empty : {h_t}) -> {h_t}
    %d = linalg.matmul {maps}
        ins(%a, %wd : {a_t}, {wd_t}) outs(%d_init : {h_t}) -> {h_t}
    %n_empty = tensor.empty(%T) : {h_t}
    %n = linalg.add ins(%h, %d : {h_t}, {h_t}) outs(%n_empty : {h_t}) -> {h_t}
    moe.yield %n : {h_t}
  }}
  return %y : {h_t}
}}
"""


def peer_module(case, dtype):
    D, n, H, k, dk = (case[key] for key in ("D", "n", "heads", "K", "dk"))
    x_t = ttype((None, D), dtype)
    q_t = ttype((H * dk, D), dtype)
    k_t = ttype((H, 2, n, dk // 2), dtype)
    e_t = ttype((n * n, D), dtype)
    return (
        f"// {case['name']}: D {D}, N {n}^2, heads {H}, top {k}, Dk {dk}, "
        f"{dtype} (generated by benchmarks/run.py)\n"
        f"func.func @peer(%x: {x_t}, %query: {q_t}, %keys: {k_t}, "
        f"%down_embed: {e_t}, %up_embed: {e_t}) -> {x_t} {{\n"
        f"  %y = moe.peer %x query(%query) keys(%keys) down_embed(%down_embed)"
        f" up_embed(%up_embed) heads({H}) top_k({k}) activation(relu)"
        f" score(softmax)\n"
        f"      : ({x_t}, {q_t}, {k_t}, {e_t}, {e_t}) -> {x_t}\n"
        f"  return %y : {x_t}\n"
        f"}}\n")


# ----------------------------------------------------------------------------
# The limit
# ----------------------------------------------------------------------------


def element_bytes(dtype):
    return 2 if dtype == "bf16" else 4


def expected_distinct(pool, draws_per_token, tokens):
    """Expected number of distinct experts touched when each of `tokens`
    tokens picks `draws_per_token` distinct experts uniformly at random out
    of `pool`: an expert is missed by one token with probability
    1 - draws/pool, by all of them with (1 - draws/pool)^T."""
    return pool * (1.0 - (1.0 - draws_per_token / pool) ** tokens)


def costs(case, dtype, tokens, count=1):
    """(bytes, flops, touched) of one call: the weight bytes the call must
    read from DRAM (the experts its routing touches, in expectation under
    uniform routing; + router, shared experts, activations in and out) and
    its flops."""
    wb = element_bytes(dtype)
    T, D = tokens, case["D"]
    if case["kind"] == "layer":
        F, E, K, S = case["F"], case["E"], case["K"], case["shared"]
        hot = case.get("hot") or E
        touched = expected_distinct(hot, K, T)
        weight_bytes = touched * 3 * D * F * wb + E * D * wb + 3 * D * S * wb
        activation_bytes = 2 * T * D * wb + (4 * E if case.get("hot") else 0)
        flops = 2 * T * K * 3 * D * F + 2 * T * E * D + 2 * T * 3 * D * S
        return weight_bytes + activation_bytes, flops, touched
    if case["kind"] == "repeat":
        F = case["F"]
        # The block's weights come from DRAM once; each repeat computes.
        return (3 * D * F * wb + 2 * T * D * 4, count * 2 * T * 3 * D * F,
                None)
    n, H, k, dk = case["n"], case["heads"], case["K"], case["dk"]
    # T*H*k picks among n^2 experts (distinct within a token and head, but
    # rare collisions at these sizes: the same formula is exact enough).
    touched = expected_distinct(n * n, 1, T * H * k)
    weight_bytes = (H * dk * D + H * 2 * n * (dk // 2)) * wb \
        + touched * 2 * D * wb
    flops = 2 * T * (H * dk * D + H * n * dk + H * k * 2 * D)
    return weight_bytes + 2 * T * D * wb, flops, touched


# ----------------------------------------------------------------------------
# Running things
# ----------------------------------------------------------------------------


def run(command, env=None, timeout=1800):
    """(returncode, stdout, stderr); a timeout is returncode -1. A binary
    that cannot be started (being relinked by a concurrent build) is tried
    again for a minute."""
    for attempt in range(13):
        try:
            result = subprocess.run(command, capture_output=True, text=True,
                                    env=env, timeout=timeout)
            return result.returncode, result.stdout, result.stderr
        except subprocess.TimeoutExpired as error:
            out = error.stdout.decode() if isinstance(error.stdout, bytes) else ""
            return -1, out or "", f"timed out after {timeout} s"
        except OSError as error:
            failure = f"cannot run {command[0]}: {error}"
            if attempt < 12:
                time.sleep(5)
    return -2, "", failure


def last_lines(text, count=6):
    return "\n".join(text.strip().splitlines()[-count:])


def build_tools(out_dir):
    """Compiles the peak probe and the OpenBLAS peer (when their sources
    are newer than the binaries)."""
    os.makedirs(out_dir, exist_ok=True)
    peak = os.path.join(BENCH, "peak", "peak.c")
    blas = os.path.join(BENCH, "peers", "blas_moe.cpp")
    jobs = [
        ("peak", peak, [CLANG, "-O2", "-march=native", "-fopenmp", peak]),
        ("blas_moe", blas, [CLANGXX, "-O2", "-march=native", "-std=c++17",
                            blas, "-lopenblas", "-pthread"]),
    ]
    built = {}
    for name, source, command in jobs:
        binary = os.path.join(out_dir, name)
        if (not os.path.exists(binary)
                or os.path.getmtime(binary) < os.path.getmtime(source)):
            code, out, err = run(command + ["-o", binary])
            if code != 0:
                log(f"warning: cannot build {name}: {last_lines(out + err)}")
                binary = None
        built[name] = binary
    return built


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def machine_info():
    info = {"cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal"):
                    info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    flags = cpu_flags()
    info["avx512"] = "avx512f" in flags
    info["avx512_bf16"] = "avx512_bf16" in flags
    code, out, _ = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    if code == 0:
        info["commit"] = out.strip()
        code, out, _ = run(["git", "-C", ROOT, "status", "--porcelain",
                            "--untracked-files=no"])
        info["worktree_modified"] = bool(out.strip())
    return info


def available_memory_bytes():
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def last_level_cache_bytes():
    code, out, _ = run(["getconf", "LEVEL3_CACHE_SIZE"])
    try:
        value = int(out.strip()) if code == 0 else 0
    except ValueError:
        value = 0
    if value <= 0:
        code, out, _ = run(["getconf", "LEVEL2_CACHE_SIZE"])
        try:
            value = int(out.strip()) if code == 0 else 0
        except ValueError:
            value = 0
    return max(value, 0)


def default_flush_mib():
    """moe_flush_caches's rule: 4x the last-level cache, 256 MiB to 2 GiB."""
    return int(min(max(4 * last_level_cache_bytes() >> 20, 256), 2048))


def parse_key(text, key):
    match = re.search(rf"\b{key}=([0-9.eE+-]+)", text)
    return float(match.group(1)) if match else None


def measure_bandwidth(moe_run, probes=2):
    """The best of `probes` runs of moe-run's probe (each the best of 5
    reads of 1 GiB on all cores)."""
    best = None
    for _ in range(probes):
        code, out, err = run([moe_run, "--measure-bandwidth"], timeout=300)
        value = parse_key(out, "read_bandwidth_gbps") if code == 0 else None
        if value is None:
            raise SystemExit(f"run.py: moe-run --measure-bandwidth failed:\n"
                             f"{last_lines(out + err)}")
        best = value if best is None else max(best, value)
    return best


def measure_peak(peak_binary, threads):
    if not peak_binary:
        raise SystemExit("run.py: the peak probe (benchmarks/peak/peak.c) "
                         "did not build")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    code, out, err = run([peak_binary], env=env, timeout=300)
    if code != 0:
        raise SystemExit(f"run.py: peak probe failed:\n{last_lines(out + err)}")
    f32 = parse_key(out, "f32_fma_gflops")
    bf16 = parse_key(out, "bf16_dot_gflops")
    return f32, bf16


def time_compile(moe_compile, work):
    """Seconds of `moe-compile --emit=obj` on one OLMoE layer (the full CPU
    pipeline, LLVM -O3 and code generation)."""
    target = os.path.join(work, "compile.o")
    start = time.perf_counter()
    code, out, err = run([moe_compile, "--emit=obj", "-o", target,
                          COMPILE_MODEL], timeout=600)
    seconds = time.perf_counter() - start
    if code != 0:
        return None, last_lines(out + err, 3)
    return seconds, None


def uses_bf16_dot(moe_compile, module_path, work):
    """Whether the compiled module uses vdpbf16ps (then the bf16 dot peak is
    its compute limit, else the f32 FMA peak)."""
    target = os.path.join(work, "bf16-probe.o")
    code, _, _ = run([moe_compile, "--emit=obj", "-o", target, module_path],
                     timeout=600)
    if code != 0 or not os.path.exists(OBJDUMP):
        return None
    code, out, _ = run([OBJDUMP, "-d", "--no-show-raw-insn", target],
                       timeout=300)
    return code == 0 and "vdpbf16ps" in out


# ----------------------------------------------------------------------------
# The three systems
# ----------------------------------------------------------------------------


def run_ours(args, module_path, tokens, runs, flush_mib, warmup, inputs=()):
    """Median ms of `moe-run --bench runs --cold` at `tokens`, or an error
    string."""
    command = [args.moe_run, module_path, "--dynamic-size", str(tokens),
               "--bench", str(runs), "--warmup", str(warmup), "--cold",
               "--flush-mib", str(flush_mib)]
    for path in inputs:
        command += ["-i", path]
    start = time.perf_counter()
    code, out, err = run(command, timeout=args.timeout)
    args.wall[("ours", module_path, tokens)] = time.perf_counter() - start
    milliseconds = parse_key(out, "median_ms") if code == 0 else None
    args.minimum[("ours", module_path, tokens)] = parse_key(out, "min_ms")
    if milliseconds is None:
        return None, last_lines(err or out, 4)
    return milliseconds, None


def peer_arguments(case, dtype, count=1):
    if case["kind"] == "layer":
        arguments = ["--mode", "layer", "--D", case["D"], "--F", case["F"],
                     "--E", case["E"], "--K", case["K"],
                     "--shared", case["shared"], "--hot", case.get("hot", 0)]
        if case["normalize"]:
            arguments.append("--normalize")
    elif case["kind"] == "repeat":
        arguments = ["--mode", "repeat", "--D", case["D"], "--F", case["F"],
                     "--repeat", count]
    else:
        arguments = ["--mode", "peer", "--D", case["D"], "--n", case["n"],
                     "--heads", case["heads"], "--K", case["K"],
                     "--dk", case["dk"]]
    return [str(a) for a in arguments] + ["--dtype", dtype]


def run_peer(args, which, case, dtype, tokens, runs, flush_mib, warmup,
             count=1):
    """{tokens: median ms or None}, an error string or None, extra info."""
    threads = str(args.threads)
    env = dict(os.environ, OMP_NUM_THREADS=threads)
    if which == "torch":
        command = [PYTHON, os.path.join(BENCH, "peers", "torch_moe.py")]
    else:
        command = [args.tools["blas_moe"]]
        env["OPENBLAS_NUM_THREADS"] = threads
        if "avx512f" in cpu_flags():
            # OpenBLAS 0.3.21 picks Haswell kernels on Zen 5; SkylakeX has
            # the AVX-512 ones.
            env["OPENBLAS_CORETYPE"] = "SkylakeX"
    command += peer_arguments(case, dtype, count) + [
        "--tokens", ",".join(map(str, tokens)),
        "--runs", ",".join(map(str, runs)),
        "--flush-mib", str(flush_mib), "--warmup", str(warmup),
        "--threads", threads, "--max-seconds", str(args.peer_seconds)]
    start = time.perf_counter()
    code, out, err = run(command, env=env, timeout=args.timeout)
    wall_s = time.perf_counter() - start
    results, calls, minimum, skipped = {}, {}, {}, False
    for line in out.splitlines():
        match = re.match(r"bench: tokens=(\d+) (.*)", line)
        if match:
            T = int(match.group(1))
            if "skipped=" in match.group(2):
                skipped = True
                results[T] = None
            else:
                results[T] = parse_key(match.group(2), "median_ms")
                calls[T] = parse_key(match.group(2), "runs")
                minimum[T] = parse_key(match.group(2), "min_ms")
    core = re.search(r"openblas: core=(\S+)", out)
    extra = {f"{which}_process_s": round(wall_s, 2),
             f"{which}_runs": {str(t): int(c) for t, c in calls.items()
                               if c is not None},
             f"{which}_min_ms": {str(t): m for t, m in minimum.items()}}
    if core:
        extra["openblas_core"] = core.group(1)
    if skipped:
        return results, "skipped", extra
    if code != 0:
        return results, last_lines(err or out, 4), extra
    return results, None, extra


# ----------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------

HEADER = ("case", "dtype", "T", "ours_ms", "limit_ms", "%limit", "torch_ms",
          "x_torch", "blas_ms", "x_blas")


class Table:
    """BENCHMARKS.md's table, printed a row at a time as results come in."""

    def __init__(self, case_width):
        self.case_width = max(12, case_width + 1)

    def header(self):
        return (f"{'case':<{self.case_width}}{'dtype':<6}{'T':<5}"
                f"{'ours_ms':>7}  {'limit_ms':>8}  {'%limit':>6}  "
                f"{'torch_ms':>8}  {'x_torch':>7}  {'blas_ms':>7}  "
                f"{'x_blas':>6}")

    @staticmethod
    def number(value, width, digits=None):
        if value is None:
            return f"{'-':>{width}}"
        if isinstance(value, str):
            return f"{value:>{width}}"
        if digits is None:
            digits = 3 if value < 10 else 2 if value < 100 else 1
        return f"{value:>{width}.{digits}f}"

    def row(self, r):
        n = self.number

        def times(value, note):
            return value if value is not None else note

        def speedup(value):
            return f"{value:.2f}x" if value is not None else None

        pct = f"{r['pct_limit']:.1f}%" if r["pct_limit"] is not None else None
        ours = times(r["ours_ms"], "fail" if r.get("ours_error") else None)
        torch_ms = times(r["torch_ms"], r.get("torch_note"))
        blas_ms = times(r["blas_ms"], r.get("blas_note"))
        return (f"{r['case']:<{self.case_width}}{r['dtype']:<6}{r['T']:<5}"
                f"{n(ours, 7)}  {n(r['limit_ms'], 8)}  {n(pct, 6)}  "
                f"{n(torch_ms, 8)}  {n(speedup(r['x_torch']), 7)}  "
                f"{n(blas_ms, 7)}  {n(speedup(r['x_blas']), 6)}")


def ratio(peer, ours):
    if peer is None or ours is None or ours <= 0:
        return None
    return peer / ours


# ----------------------------------------------------------------------------
# The suite
# ----------------------------------------------------------------------------


def plan(args):
    """[(case, dtypes, tokens)] in BENCHMARKS.md order."""
    if args.full or args.cases:
        names = args.cases.split(",") if args.cases else [c["name"] for c in CASES]
        for name in names:
            if name not in CASE_BY_NAME:
                raise SystemExit(f"run.py: unknown case '{name}' (cases: "
                                 f"{', '.join(CASE_BY_NAME)})")
        dtypes = args.dtypes.split(",") if args.dtypes else ["f32", "bf16"]
        if not args.full and not args.dtypes:
            dtypes = ["f32"]
        entries = [(CASE_BY_NAME[name], dtypes, CASE_BY_NAME[name]["tokens"])
                   for name in names]
    else:
        entries = []
        for name, dtypes, tokens in QUICK:
            if args.dtypes:
                dtypes = args.dtypes.split(",")
            entries.append((CASE_BY_NAME[name], dtypes, tokens))
    if args.tokens:
        override = [int(t) for t in args.tokens.split(",")]
        entries = [(case, dtypes, override) for case, dtypes, _ in entries]
    for _, dtypes, _ in entries:
        for dtype in dtypes:
            if dtype not in ("f32", "bf16"):
                raise SystemExit(f"run.py: unknown dtype '{dtype}'")
    return entries


def runs_for(limit_ms, maximum):
    """Timed calls per token count: `maximum`, fewer for slow cases."""
    if limit_ms is None or limit_ms <= 0:
        return maximum
    return int(max(3, min(maximum, round(BUDGET_MS / (5.0 * limit_ms)))))


def memory_needed(case, dtype, flush_mib):
    """Bytes a process holds for a case: every weight, and the flush."""
    wb = element_bytes(dtype)
    D = case["D"]
    if case["kind"] == "layer":
        E, F, S = case["E"], case["F"], case["shared"]
        weights = (3 * E * D * F + E * D + 3 * D * S) * wb
    elif case["kind"] == "repeat":
        weights = 3 * D * case["F"] * wb
    else:
        n, H, dk = case["n"], case["heads"], case["dk"]
        weights = (H * dk * D + H * n * dk + 2 * n * n * D) * wb
    return weights + (flush_mib << 20) + (512 << 20)


def run_suite(args, work):
    started = time.perf_counter()
    entries = plan(args)
    info = machine_info()
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        log(f"warning: the machine is busy (load average {load_before:.2f}); "
            "the figures will be noisy")
    status("building the peak probe and the OpenBLAS peer")
    args.tools = build_tools(os.path.join(ROOT, "build", "benchmarks"))
    status("measuring the DRAM read bandwidth")
    bandwidth = measure_bandwidth(args.moe_run)
    status("measuring the FMA peak")
    peak_f32, peak_bf16 = measure_peak(args.tools["peak"], args.threads)
    flush_mib = args.flush_mib or default_flush_mib()
    status("timing moe-compile on one OLMoE layer")
    compile_s, compile_error = time_compile(args.moe_compile, work)

    emit(f"machine  {info.get('cpu', '?')}, {info['cores']} cores, "
         f"{info.get('memory_gib', '?')} GiB; {args.threads} threads; "
         f"load {load_before:.2f}; "
         f"{datetime.date.today().isoformat()}")
    emit(f"bw       {bandwidth:.1f} GB/s DRAM read (moe-run "
         f"--measure-bandwidth)")
    bf16_text = (f", bf16 {peak_bf16:.0f} GFLOP/s (vdpbf16ps)" if peak_bf16
                 else ", no bf16 dot instruction")
    emit(f"peak     f32 {peak_f32:.0f} GFLOP/s (AVX-512 FMA){bf16_text}")
    if compile_s is not None:
        emit(f"compile  {compile_s:.2f} s: one OLMoE layer, moe-compile "
             f"--emit=obj (target <= 2 s)")
    else:
        last = compile_error.splitlines()[-1] if compile_error else "?"
        emit(f"compile  fail: {last}")
    emit(f"cold     {flush_mib} MiB flushed and new inputs before every timed "
         f"call; median of N calls after up to {args.warmup} untimed cold "
         f"calls (every system)")
    emit()

    labels = []
    for case, _, _ in entries:
        if case["kind"] == "repeat":
            labels += [f"{case['name']} x{c}" for c in case["counts"]]
        else:
            labels.append(case["name"])
    table = Table(max(len(label) for label in labels))
    emit(table.header())

    rows, notes = [], []
    for case, dtypes, tokens in entries:
        for dtype in dtypes:
            for count in case.get("counts", [1]):
                rows += run_entry(args, work, table, case, dtype, tokens,
                                  count, flush_mib, bandwidth, peak_f32,
                                  peak_bf16, notes)

    repeat_summary = summarize_repeats(rows)
    if repeat_summary:
        emit()
        emit("repeat: time(xN) / time(x1) of ours (re-read from DRAM: ~N; "
             "kept in cache: ~1; target x2/x1 <= 1.5 at T = 1)")
        for line in repeat_summary["lines"]:
            emit(line)
    if notes:
        emit()
    for note in notes:
        emit(note)
    wall_s = time.perf_counter() - started

    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": info,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "wall_s": wall_s,
        "threads": args.threads,
        "bw_gbps": bandwidth,
        "peak_f32_gflops": peak_f32,
        "peak_bf16_gflops": peak_bf16,
        "flush_mib": flush_mib,
        "warmup_calls": args.warmup,
        "compile_s": compile_s,
        "compile_error": compile_error,
        "suite": "full" if args.full else ("custom" if args.cases else "quick"),
        "limit_model": (
            "limit = max(bytes / bw, flops / peak); bytes = expected weight "
            "bytes of the experts touched under uniform routing, "
            "E * (1 - (1 - K/E)^T) experts (hot set H for the skewed case), "
            "+ router + shared experts + activations in and out; flops = "
            "2 T K 3 D F + router 2 T E D + shared 2 T 3 D S"),
        "rows": rows,
        "repeat_ratios": repeat_summary["ratios"] if repeat_summary else [],
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as out:
        json.dump(result, out, indent=2)
        out.write("\n")
    log(f"wrote {args.json}")


def run_entry(args, work, table, case, dtype, tokens, count, flush_mib,
              bandwidth, peak_f32, peak_bf16, notes):
    label = f"{case['name']} x{count}" if case["kind"] == "repeat" else case["name"]
    stem = f"{case['name']}-{dtype}" + (f"-x{count}" if case["kind"] == "repeat" else "")
    module_path = os.path.join(work, stem + ".mlir")
    if case["kind"] == "layer":
        text = layer_module(case, dtype)
    elif case["kind"] == "repeat":
        text = repeat_module(case, dtype, count)
    else:
        text = peer_module(case, dtype)
    with open(module_path, "w") as out:
        out.write(text)
    inputs = []
    if case.get("hot"):
        bias_path = os.path.join(work, stem + "-bias.npy")
        np.save(bias_path, data.hot_bias(case["E"], case["hot"]))
        inputs.append(bias_path)

    needed = memory_needed(case, dtype, flush_mib)
    available = available_memory_bytes()
    if available is not None and needed > available:
        note = (f"note: {label} {dtype} skipped: needs {needed / 2**30:.1f} "
                f"GiB, {available / 2**30:.1f} GiB available")
        notes.append(note)
        return []

    # The compute limit: the bf16 dot peak where the code uses vdpbf16ps.
    peak, peak_kind = peak_f32, "f32"
    if dtype == "bf16" and peak_bf16:
        dot = uses_bf16_dot(args.moe_compile, module_path, work)
        if dot:
            peak, peak_kind = peak_bf16, "bf16_dot"

    plans = []
    for T in tokens:
        nbytes, flops, touched = costs(case, dtype, T, count)
        limit_ms = max(nbytes / (bandwidth * 1e9), flops / (peak * 1e9)) * 1e3
        plans.append(dict(T=T, bytes=nbytes, flops=flops, touched=touched,
                          limit_ms=limit_ms,
                          bound="bw" if nbytes / bandwidth >= flops / peak
                          else "compute",
                          runs=args.runs_override or runs_for(limit_ms, args.runs)))

    # Every system gets the same untimed cold calls per token count before
    # its timed ones: a process's first cold calls are slower than its later
    # ones (up to 2x for the first ~9 OLMoE T = 1 calls with a 2 GiB flush),
    # and ours runs one process per token count while a peer runs one per
    # case.
    warmup = min(args.warmup, min(p["runs"] for p in plans))
    results = {}
    for p in plans:
        status(f"ours  {label} {dtype} T={p['T']} ({p['runs']} calls)")
        results[p["T"]] = run_ours(args, module_path, p["T"], p["runs"],
                                   flush_mib, warmup, inputs)
    peers = {}
    for which in ("torch", "blas"):
        if which in args.skip:
            peers[which] = ({}, "skipped", {})
            continue
        if which == "blas" and not args.tools.get("blas_moe"):
            peers[which] = ({}, "not built", {})
            continue
        status(f"{which:5} {label} {dtype} "
               f"T={','.join(str(p['T']) for p in plans)}")
        peers[which] = run_peer(args, which, case, dtype,
                                [p["T"] for p in plans],
                                [p["runs"] for p in plans], flush_mib, warmup,
                                count)

    rows = []
    for p in plans:
        ours_ms, ours_error = results[p["T"]]
        row = dict(case=label, dtype=dtype, T=p["T"], kind=case["kind"],
                   repeat=count if case["kind"] == "repeat" else None,
                   ours_ms=ours_ms, limit_ms=p["limit_ms"],
                   pct_limit=100.0 * p["limit_ms"] / ours_ms if ours_ms else None,
                   bytes=p["bytes"], flops=p["flops"],
                   experts_touched_expected=p["touched"], bound=p["bound"],
                   peak_used=peak_kind, runs=p["runs"],
                   ours_min_ms=args.minimum.get(("ours", module_path, p["T"])),
                   ours_process_s=round(
                       args.wall.get(("ours", module_path, p["T"]), 0.0), 2))
        if ours_error:
            row["ours_error"] = ours_error
        for which in ("torch", "blas"):
            times, error, extra = peers[which]
            value = times.get(p["T"])
            row[f"{which}_ms"] = value
            row[f"x_{which}"] = ratio(value, ours_ms)
            if value is None:
                row[f"{which}_note"] = (
                    "-" if error in ("skipped", "not built") else "fail")
                if error and error not in ("skipped",):
                    row[f"{which}_error"] = error
            for key, value in extra.items():
                row[key] = (value.get(str(p["T"])) if isinstance(value, dict)
                            else value)
        rows.append(row)
        emit(table.row(row))
        if ours_error:
            last = ours_error.splitlines()[-1] if ours_error else "?"
            notes.append(f"note: ours failed on {label} {dtype} T={p['T']}: "
                          f"{last}")
    for which in ("torch", "blas"):
        error = peers[which][1]
        if error and error not in ("skipped", "not built"):
            last = error.splitlines()[-1] if error else "?"
            notes.append(f"note: the {which} peer failed on {label} {dtype}: "
                         f"{last}")
    return rows


def summarize_repeats(rows):
    by_key = {}
    for row in rows:
        if row["kind"] == "repeat" and row["ours_ms"]:
            name = row["case"].rsplit(" x", 1)[0]
            by_key.setdefault((name, row["dtype"], row["T"]), {})[row["repeat"]] = row["ours_ms"]
    if not by_key:
        return None
    lines, ratios = [], []
    for (name, dtype, T), times in by_key.items():
        if 1 not in times:
            continue
        parts = []
        entry = dict(case=name, dtype=dtype, T=T)
        for count in sorted(times):
            if count == 1:
                continue
            value = times[count] / times[1]
            entry[f"x{count}_over_x1"] = value
            parts.append(f"x{count}/x1 {value:.2f}")
        ratios.append(entry)
        lines.append(f"  {name:<14}{dtype:<6}T={T:<5}" + "  ".join(parts))
    return {"lines": lines, "ratios": ratios}


# ----------------------------------------------------------------------------
# Self-check: ours, both peers and the numpy reference on small shapes
# ----------------------------------------------------------------------------

SELFTEST = [
    dict(name="layer", kind="layer", D=64, F=32, E=8, K=2, shared=0,
         normalize=True, tokens=[5]),
    dict(name="layer-shared", kind="layer", D=64, F=32, E=8, K=3, shared=48,
         normalize=False, tokens=[6]),
    dict(name="layer-skew", kind="layer", D=64, F=32, E=8, K=2, shared=0,
         normalize=False, hot=4, tokens=[7]),
    dict(name="repeat", kind="repeat", D=64, F=48, counts=[3], tokens=[4]),
    dict(name="peer", kind="peer", D=64, n=8, heads=2, K=4, dk=16, tokens=[3]),
]


def reference_output(case, seed, T, count):
    sys.path.insert(0, os.path.join(ROOT, "test", "Integration", "CPU",
                                    "reference"))
    import moe_reference as ref
    if case["kind"] == "layer":
        w = data.layer_tensors(seed, T, case["D"], case["F"], case["E"],
                               case["shared"])
        shared = {}
        if case["shared"]:
            shared = dict(shared_gate=w["shared_gate"], shared_up=w["shared_up"],
                          shared_down=w["shared_down"])
        bias = data.hot_bias(case["E"], case["hot"]) if case.get("hot") else None
        return w, ref.layer(w["x"], w["router"], w["gate"], w["up"], w["down"],
                            case["K"], "silu_glu", normalize=case["normalize"],
                            bias=bias, **shared)
    if case["kind"] == "repeat":
        w = data.repeat_tensors(seed, T, case["D"], case["F"])
        g, u, d = (w[k].astype(np.float64) for k in ("gate", "up", "down"))

        def body(h):
            a = h @ g.T
            return h + ((a / (1 + np.exp(-a))) * (h @ u.T)) @ d.T
        return w, ref.repeat(count, w["x"].astype(np.float64), body)
    w = data.peer_tensors(seed, T, case["D"], case["n"], case["heads"],
                          case["dk"])
    return w, ref.peer(w["x"], w["query"], w["keys"], w["down_embed"],
                       w["up_embed"], case["heads"], case["K"])


def selftest(args, work):
    """Feeds the same small weights to moe-run (.npy files), the PyTorch
    peer and the OpenBLAS peer (data.py's streams) and compares each output's
    sum and absolute sum with the float64 reference."""
    args.tools = build_tools(os.path.join(ROOT, "build", "benchmarks"))
    seed, failures = 7, 0
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads))
    for case in SELFTEST:
        T = case["tokens"][0]
        count = case.get("counts", [1])[0]
        weights, want = reference_output(case, seed, T, count)
        want_sums = (float(np.sum(want)), float(np.sum(np.abs(want))))
        stem = os.path.join(work, "selftest-" + case["name"])
        if case["kind"] == "layer":
            text = layer_module(case, "f32")
            order = (["bias"] if case.get("hot") else []) + [
                "x", "router", "gate", "up", "down"] + (
                ["shared_gate", "shared_up", "shared_down"] if case["shared"] else [])
            if case.get("hot"):
                weights = dict(weights, bias=data.hot_bias(case["E"], case["hot"]))
        elif case["kind"] == "repeat":
            text = repeat_module(case, "f32", count)
            order = ["x", "gate", "up", "down"]
        else:
            text = peer_module(case, "f32")
            order = ["x", "query", "keys", "down_embed", "up_embed"]
        with open(stem + ".mlir", "w") as out:
            out.write(text)
        command = [args.moe_run, stem + ".mlir", "-o", stem + "-out"]
        for name in order:
            np.save(f"{stem}-{name}.npy", weights[name])
            command += ["-i", f"{stem}-{name}.npy"]
        got = {}
        code, out, err = run(command, timeout=600)
        if code == 0:
            y = np.load(os.path.join(stem + "-out", "result0.npy"))
            got["ours"] = (float(np.sum(y, dtype=np.float64)),
                           float(np.sum(np.abs(y), dtype=np.float64)))
        else:
            got["ours"] = last_lines(err or out, 2)
        peer_args = peer_arguments(case, "f32", count) + [
            "--tokens", str(T), "--check", str(seed)]
        for which, command in (
                ("torch", [PYTHON, os.path.join(BENCH, "peers", "torch_moe.py")]),
                ("blas", [args.tools.get("blas_moe") or "false"])):
            code, out, err = run(command + peer_args, env=env, timeout=600)
            sums = (parse_key(out, "sum"), parse_key(out, "abs_sum"))
            got[which] = sums if code == 0 and None not in sums else \
                last_lines(err or out, 2)
        line = [f"{case['name']:<14} reference sum={want_sums[0]:+.6e} "
                f"abs={want_sums[1]:.6e}"]
        for which, value in got.items():
            if isinstance(value, str):
                line.append(f"  {which}: FAIL ({value.splitlines()[-1] if value else '?'})")
                failures += 1
                continue
            scale = want_sums[1] or 1.0
            error = max(abs(value[0] - want_sums[0]), abs(value[1] - want_sums[1])) / scale
            ok = error <= 1e-4
            failures += not ok
            line.append(f"  {which}: {'ok' if ok else 'MISMATCH'} "
                        f"(rel {error:.1e})")
        print("".join(line), flush=True)
    if failures:
        raise SystemExit(f"run.py --selftest: {failures} mismatches or failures")
    print("selftest: moe-run, the PyTorch peer and the OpenBLAS peer agree "
          "with the float64 reference")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--full", action="store_true",
                        help="every case of BENCHMARKS.md, f32 and bf16")
    parser.add_argument("--quick", action="store_true",
                        help="the quick subset (the default)")
    parser.add_argument("--cases", help="comma-separated case names: " +
                        ", ".join(CASE_BY_NAME))
    parser.add_argument("--dtypes", help="f32, bf16 or f32,bf16")
    parser.add_argument("--tokens", help="token counts for every case")
    parser.add_argument("--runs", type=int, default=10,
                        help="timed calls per token count (fewer for slow "
                             "cases, at least 3)")
    parser.add_argument("--exact-runs", dest="runs_override", type=int,
                        help="exactly this many timed calls everywhere")
    parser.add_argument("--warmup", type=int, default=8,
                        help="untimed cold calls per token count before the "
                             "timed ones, for every system (at most the "
                             "timed calls)")
    parser.add_argument("--peer-seconds", type=float, default=20,
                        help="a peer stops timing a token count after this "
                             "many seconds (at least 3 calls)")
    parser.add_argument("--flush-mib", type=int, default=0,
                        help="flush buffer between timed calls (default: 4x "
                             "the last-level cache, 256 MiB to 2 GiB)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads of every system (default: all cores)")
    parser.add_argument("--no-torch", dest="skip", action="append_const",
                        const="torch", default=[], help="skip the PyTorch peer")
    parser.add_argument("--no-blas", dest="skip", action="append_const",
                        const="blas", help="skip the OpenBLAS peer")
    parser.add_argument("--json", default=os.path.join(BENCH, "results",
                                                       "latest.json"))
    parser.add_argument("--timeout", type=int, default=1800,
                        help="seconds per process")
    parser.add_argument("--moe-run", default=os.path.join(ROOT, "build", "bin",
                                                          "moe-run"))
    parser.add_argument("--moe-compile", default=os.path.join(
        ROOT, "build", "bin", "moe-compile"))
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated modules (printed path)")
    parser.add_argument("--verbose", action="store_true",
                        help="log each step on stderr (a terminal shows a "
                             "status line anyway)")
    parser.add_argument("--selftest", action="store_true",
                        help="check that ours and the peers compute the same "
                             "layers (small shapes), then exit")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    if args.full and args.quick:
        parser.error("--full and --quick exclude each other")
    for tool in (args.moe_run, args.moe_compile):
        if not os.access(tool, os.X_OK):
            raise SystemExit(f"run.py: {tool} not found; build the project "
                             "first (ninja -C build)")
    args.wall, args.minimum = {}, {}
    work = tempfile.mkdtemp(prefix="moe-bench-")
    try:
        if args.selftest:
            selftest(args, work)
        else:
            run_suite(args, work)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
