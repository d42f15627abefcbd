#!/usr/bin/python3
"""Runs @moe_block of moe-cpu-pipeline.mlir with moe-run and checks it.

Writes seeded inputs as .npy files (T tokens), runs the function through the
whole pipeline and the JIT, and compares the result with the float64
reference (test/Integration/CPU/reference/moe_reference.py): a moe.layer with
shared experts, then three times a top-1 GELU layer plus the residual.
Prints `moe_block matches the reference (T=...)` or fails.

Usage: run_moe_block.py MOE_RUN MODEL WORKDIR TOKENS
"""

import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Integration", "CPU",
                                "reference"))
import moe_reference as ref  # noqa: E402

D, E, F, S = 16, 4, 32, 64


def main():
    moe_run, model, workdir, tokens = sys.argv[1:5]
    tokens = int(tokens)
    rng = np.random.default_rng(tokens)
    shapes = {"x": (tokens, D), "wr": (E, D), "wg": (E, F, D),
              "wu": (E, F, D), "wd": (E, D, F), "sg": (S, D), "su": (S, D),
              "sd": (D, S)}
    arrays = {}
    command = [moe_run, model, "--entry=moe_block", "-o",
               os.path.join(workdir, "out")]
    for name, shape in shapes.items():
        scale = 1.0 if name in ("x", "wr") else 0.3
        arrays[name] = (scale * rng.uniform(-1, 1, shape)).astype(np.float32)
        path = os.path.join(workdir, name + ".npy")
        np.save(path, arrays[name])
        command += ["-i", path]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    got = np.load(os.path.join(workdir, "out", "result0.npy"))

    h = ref.layer(arrays["x"], arrays["wr"], arrays["wg"], arrays["wu"],
                  arrays["wd"], top_k=2, act="silu_glu", normalize=True,
                  shared_gate=arrays["sg"], shared_up=arrays["su"],
                  shared_down=arrays["sd"])
    for _ in range(3):
        h = h + ref.layer(h, arrays["wr"], None, arrays["wu"], arrays["wd"],
                          top_k=1, act="gelu")
    if got.shape != h.shape or not np.allclose(got, h, rtol=1e-4, atol=1e-5):
        sys.exit(f"mismatch: max abs error {np.abs(got - h).max()}")
    print(f"moe_block matches the reference (T={tokens})")


if __name__ == "__main__":
    main()
