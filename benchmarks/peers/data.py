"""Deterministic test data shared by the harness and the peers' self-check.

`uniform(seed, stream, count)` is element i of a counter-based SplitMix64
stream, mapped to [-1, 1) on a grid of 2^-23 (exact in f32):

    z = (seed * 1000 + stream + i + 1) * 0x9e3779b97f4a7c15   (mod 2^64)
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb
    z ^= z >> 31
    u = (z >> 40) * 2^-23 - 1

blas_moe.cpp implements the same function, so `run.py --selftest` can feed
moe-run (through .npy files), the PyTorch peer and the OpenBLAS peer the
same weights and compare their outputs. Only for small shapes: the timed
runs draw their data with each system's own fast generator.
"""

import numpy as np

GAMMA = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)


def uniform(seed, stream, count):
    """`count` floats in [-1, 1) of stream `stream` (f32)."""
    base = np.uint64(seed * 1000 + stream + 1)
    with np.errstate(over="ignore"):
        z = (np.arange(count, dtype=np.uint64) + base) * GAMMA
        z = (z ^ (z >> np.uint64(30))) * MIX1
        z = (z ^ (z >> np.uint64(27))) * MIX2
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-23)
    return u - np.float32(1.0)


def tensor(seed, stream, shape, scale=1.0):
    """A tensor of `shape` from stream `stream`, times `scale` (in f32)."""
    count = int(np.prod(shape))
    return (uniform(seed, stream, count) * np.float32(scale)).reshape(shape)


def layer_tensors(seed, tokens, D, F, E, S=0):
    """x, router, gate, up, down (+ shared gate, up, down when S > 0) with
    nn.Linear-like scales; the router is scaled up so routing margins are
    wide enough that f32 rounding never flips a choice."""
    names = ["x", "router", "gate", "up", "down"]
    shapes = [(tokens, D), (E, D), (E, F, D), (E, F, D), (E, D, F)]
    scales = [1.0, 4.0 / np.sqrt(D), 1.0 / np.sqrt(D), 1.0 / np.sqrt(D),
              1.0 / np.sqrt(F)]
    if S:
        names += ["shared_gate", "shared_up", "shared_down"]
        shapes += [(S, D), (S, D), (D, S)]
        scales += [1.0 / np.sqrt(D), 1.0 / np.sqrt(D), 1.0 / np.sqrt(S)]
    return {name: tensor(seed, j, shape, scale)
            for j, (name, shape, scale) in enumerate(zip(names, shapes, scales))}


def repeat_tensors(seed, tokens, D, F):
    """x, gate, up, down of a dense SwiGLU block."""
    return {
        "x": tensor(seed, 0, (tokens, D)),
        "gate": tensor(seed, 1, (F, D), 1.0 / np.sqrt(D)),
        "up": tensor(seed, 2, (F, D), 1.0 / np.sqrt(D)),
        "down": tensor(seed, 3, (D, F), 1.0 / np.sqrt(F)),
    }


def peer_tensors(seed, tokens, D, n, H, Dk):
    """x, query, keys, down_embed, up_embed of a PEER layer."""
    N = n * n
    return {
        "x": tensor(seed, 0, (tokens, D)),
        "query": tensor(seed, 1, (H * Dk, D), 2.0 / np.sqrt(D)),
        "keys": tensor(seed, 2, (H, 2, n, Dk // 2)),
        "down_embed": tensor(seed, 3, (N, D), 1.0 / np.sqrt(D)),
        "up_embed": tensor(seed, 4, (N, D)),
    }


def hot_bias(E, hot):
    """The selection bias of a skewed case: +2 on the first `hot` experts,
    so that every token picks its K experts among them (softmax scores are
    at most 1)."""
    bias = np.zeros(E, np.float32)
    bias[:hot] = 2.0
    return bias
