#!/usr/bin/python3
"""The main job: compile an OLMoE-1B-7B-shaped MoE layer, run it, check it.

Compiles examples/olmoe-1b-7b-layer.mlir (D 2048, F 1024, E 64, K 8, softmax
routing without renormalization, SwiGLU experts, f32) for this CPU with the
moe-run JIT, runs it on random inputs at T = 1 and T = 256, compares the
result with the independent float64 reference, and prints the time per call
and the fraction of the memory-bandwidth limit reached (BENCHMARKS.md: the
weight bytes of the experts this batch's routing touches, plus the router and
the activations, over the read bandwidth measured in the same run).

Run with Debian's python (/usr/bin/python3, python3-numpy).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "Integration", "CPU", "reference"))
import moe_reference as ref  # noqa: E402

D, F, E, K = 2048, 1024, 64, 8
# DESIGN.md section 8: f32 GEMM paths match to rtol 1e-4, atol 1e-5; the
# outputs here are O(1e-2), so the relative bound decides.
RTOL, ATOL = 1e-4, 1e-5


def run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"main job: command failed: {' '.join(command)}")
    return result.stdout


def parse_value(text, key):
    match = re.search(rf"{key}=([0-9.eE+-]+)", text)
    if not match:
        raise SystemExit(f"main job: no '{key}=' in moe-run output:\n{text}")
    return float(match.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moe-run", default=os.path.join(ROOT, "build", "bin", "moe-run"))
    parser.add_argument("--model", default=os.path.join(ROOT, "examples", "olmoe-1b-7b-layer.mlir"))
    parser.add_argument("--tokens", default="1,256")
    parser.add_argument("--bench", type=int, default=10, help="timed calls per token count")
    args = parser.parse_args()

    rng = np.random.default_rng(2026)
    work = tempfile.mkdtemp(prefix="moe-main-job-")
    print(f"OLMoE-1B-7B layer: D={D} F={F} E={E} K={K}, f32 weights "
          f"({3 * E * F * D * 4 / 1e9:.2f} GB of experts)")
    # nn.Linear-style init: uniform in +-1/sqrt(fan_in).
    weights = {
        "router": rng.uniform(-1, 1, (E, D)) / np.sqrt(D),
        "gate": rng.uniform(-1, 1, (E, F, D)) / np.sqrt(D),
        "up": rng.uniform(-1, 1, (E, F, D)) / np.sqrt(D),
        "down": rng.uniform(-1, 1, (E, D, F)) / np.sqrt(F),
    }
    weights = {name: value.astype(np.float32) for name, value in weights.items()}
    for name, value in weights.items():
        np.save(os.path.join(work, name + ".npy"), value)

    bandwidth = parse_value(run([args.moe_run, "--measure-bandwidth"]), "read_bandwidth_gbps")
    print(f"measured DRAM read bandwidth: {bandwidth:.1f} GB/s")
    print(f"{'T':>5} {'ms/call':>9} {'limit ms':>9} {'% of bw limit':>14} "
          f"{'experts hit':>12} {'max |err|':>10} {'check':>6}")

    failures = 0
    for tokens in [int(t) for t in args.tokens.split(",")]:
        x = rng.uniform(-1, 1, (tokens, D)).astype(np.float32)
        x_path = os.path.join(work, f"x{tokens}.npy")
        np.save(x_path, x)
        out_dir = os.path.join(work, f"out{tokens}")
        os.makedirs(out_dir, exist_ok=True)
        inputs = ["-i", x_path] + sum(
            (["-i", os.path.join(work, n + ".npy")] for n in ["router", "gate", "up", "down"]), [])
        output = run([args.moe_run, args.model, *inputs, "-o", out_dir, "--bench", str(args.bench)])
        milliseconds = parse_value(output, "median_ms")
        got = np.load(os.path.join(out_dir, "result0.npy"))

        expected, info = ref.layer(x, weights["router"], weights["gate"], weights["up"],
                                   weights["down"], K, "silu_glu", details=True)
        error = np.abs(got.astype(np.float64) - expected)
        ok = bool(np.all(error <= ATOL + RTOL * np.abs(expected)))
        failures += not ok

        touched = len(np.unique(info["indices"]))
        weight_bytes = touched * 3 * D * F * 4 + E * D * 4
        total_bytes = weight_bytes + 2 * tokens * D * 4
        limit_ms = total_bytes / (bandwidth * 1e9) * 1e3
        print(f"{tokens:>5} {milliseconds:>9.3f} {limit_ms:>9.3f} "
              f"{100 * limit_ms / milliseconds:>13.1f}% {touched:>12} "
              f"{error.max():>10.2e} {'ok' if ok else 'FAIL':>6}")
    if failures:
        raise SystemExit("main job: the compiled layer does not match the reference")
    print("The compiled layer matches the float64 reference at every token count.")


if __name__ == "__main__":
    main()
