#!/usr/bin/python3
"""Checks the output of examples/c-runner against the float64 reference.

Rebuilds the c-runner's inputs (element i of each buffer is
scale * sin(seed + 0.37 i), rounded to f32 once, as main.c makes them), runs
moe.layer of examples/c-runner/moe_layer.mlir in the numpy reference
(test/Integration/CPU/reference/moe_reference.py), and compares with the
printed result to DESIGN.md's f32 tolerances. Prints `c-runner output
matches the reference` or the worst mismatch, and exits non-zero on one.

Usage: check_c_runner.py TOKENS < runner-output
"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Integration", "CPU",
                                "reference"))
import moe_reference as ref  # noqa: E402

D, E, F, S = 16, 4, 32, 64


def make_input(shape, seed, scale):
    count = int(np.prod(shape))
    values = scale * np.sin(seed + 0.37 * np.arange(count, dtype=np.float64))
    return values.astype(np.float32).reshape(shape)


def main():
    tokens = int(sys.argv[1])
    lines = sys.stdin.read().splitlines()
    if not lines or lines[0] != f"y: {tokens}x{D}":
        sys.exit(f"unexpected header: {lines[:1]}")
    got = np.array([[float(v) for v in line.split()] for line in lines[1:]],
                   dtype=np.float64)
    if got.shape != (tokens, D):
        sys.exit(f"expected {tokens}x{D} values, found {got.shape}")

    x = make_input((tokens, D), 0.0, 1.0)
    router = make_input((E, D), 1.0, 0.5)
    gate = make_input((E, F, D), 2.0, 0.25)
    up = make_input((E, F, D), 3.0, 0.25)
    down = make_input((E, D, F), 4.0, 0.25)
    shared_gate = make_input((S, D), 5.0, 0.25)
    shared_up = make_input((S, D), 6.0, 0.25)
    shared_down = make_input((D, S), 7.0, 0.25)
    want = ref.layer(x, router, gate, up, down, top_k=2, act="silu_glu",
                     normalize=True, shared_gate=shared_gate,
                     shared_up=shared_up, shared_down=shared_down)

    error = np.abs(got - want)
    bound = 1e-5 + 1e-4 * np.abs(want)
    if np.any(error > bound):
        worst = np.unravel_index(np.argmax(error - bound), error.shape)
        sys.exit(f"mismatch at {worst}: got {got[worst]}, want {want[worst]}")
    print("c-runner output matches the reference")


if __name__ == "__main__":
    main()
