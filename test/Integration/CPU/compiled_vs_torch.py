#!/usr/bin/python3
"""The generated code against the PyTorch oracle (reference/torch_oracle.py).

For Hugging Face style Mixtral, Qwen2-MoE and DeepSeek-V3 blocks (float64
torch, weights exactly representable in f32), this writes the equivalent
`moe.layer` (and a `moe.route` with the same attributes, for the routing)
into a func.func, runs it with

    moe-run FILE.mlir --entry=NAME -i x.npy -i router.npy ... -o OUTDIR

and compares: routing indices exactly (the inputs are tie-free: a token
whose best K+1 selection scores, or best topk_group+1 group scores, lie
closer than 1e-4 relative is drawn again, so f32 rounding cannot reorder
them), routing weights and the layer output to rtol 1e-4, atol 1e-5 (f32
GEMM paths, DESIGN.md section 8).

Run with Debian's python (/usr/bin/python3, python3-numpy and
python3-torch): `compiled_vs_torch.py --moe-run PATH`. Prints one line per
block and `N passed, M failed`; exits non-zero on a failure.
"""

import argparse
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "reference"))
import moe_reference as ref  # noqa: E402
import torch_oracle as oracle  # noqa: E402

D, F, SF = 24, 40, 56   # model, expert and shared widths (not multiples of 16)
RTOL, ATOL = 1e-4, 1e-5
MARGIN = 1e-4


def f32(array):
    return np.asarray(array, dtype=np.float32).astype(np.float64)


def ttype(shape, dynamic=False):
    dims = ["?" if dynamic and i == 0 else str(s) for i, s in enumerate(shape)]
    return "tensor<" + "x".join(dims + ["f32"]) + ">"


def dense(values):
    """A rank-1 dense f32 constant whose decimal digits parse back to the
    same f32 values."""
    return "dense<[" + ", ".join(repr(float(v)) for v in values) + "]>"


class Block:
    """One block: its torch module, its moe attributes and its weights."""

    def __init__(self, name, rng, tokens, num_experts, top_k, dynamic=False,
                 shared=False, shared_gate=False):
        self.name, self.tokens, self.dynamic = name, tokens, dynamic
        self.num_experts, self.top_k = num_experts, top_k
        self.router = f32(rng.standard_normal((num_experts, D)) * 2 /
                          math.sqrt(D))
        self.gate = f32(rng.standard_normal((num_experts, F, D)) / math.sqrt(D))
        self.up = f32(rng.standard_normal((num_experts, F, D)) / math.sqrt(D))
        self.down = f32(rng.standard_normal((num_experts, D, F)) / math.sqrt(F))
        self.shared = shared
        if shared:
            self.sg = f32(rng.standard_normal((SF, D)) / math.sqrt(D))
            self.su = f32(rng.standard_normal((SF, D)) / math.sqrt(D))
            self.sd = f32(rng.standard_normal((D, SF)) / math.sqrt(SF))
        self.seg = f32(rng.standard_normal((1, D)) / math.sqrt(D)) \
            if shared_gate else None
        self.bias = None
        self.attrs = {}

    def route_args(self):
        a = self.attrs
        return dict(score=a.get("score", "softmax"),
                    normalize=a.get("normalize", False),
                    scale=a.get("scale", 1.0), n_group=a.get("n_group", 1),
                    topk_group=a.get("topk_group", 1),
                    group_score="top2_sum", bias=self.bias)

    def draw_x(self, rng):
        """Tie-free tokens under this block's routing."""
        x = f32(rng.standard_normal((self.tokens, D)))
        for _ in range(200):
            info = ref.route(x, self.router, self.top_k, details=True,
                             **self.route_args())[3]
            bad = info["margin"] < MARGIN
            if not bad.any():
                return x
            x[bad] = f32(rng.standard_normal((int(bad.sum()), D)))
        raise RuntimeError("could not draw tie-free tokens")

    def attr_text(self):
        a = self.attrs
        s = f"top_k({self.top_k})"
        if a.get("score", "softmax") != "softmax":
            s += f" score({a['score']})"
        if a.get("normalize"):
            s += " normalize"
        if a.get("scale", 1.0) != 1.0:
            s += f" scale({a['scale']})"
        if a.get("n_group", 1) != 1:
            s += (f" n_group({a['n_group']}) topk_group({a['topk_group']})"
                  f" group_score(top2_sum)")
        return s

    def mlir(self):
        """The function and its inputs (x first). The selection bias is a
        constant in the function."""
        inputs = [("x", self.x, self.dynamic), ("router", self.router, False),
                  ("gate", self.gate, False), ("up", self.up, False),
                  ("down", self.down, False)]
        if self.shared:
            inputs += [("sg", self.sg, False), ("su", self.su, False),
                       ("sd", self.sd, False)]
        if self.seg is not None:
            inputs.append(("seg", self.seg, False))
        types = {n: ttype(a.shape, dyn) for n, a, dyn in inputs}
        args = ", ".join(f"%{n}: {types[n]}" for n, _, _ in inputs)
        rows = "?" if self.dynamic else str(self.tokens)
        k, e = self.top_k, self.num_experts
        yt = types["x"]
        wt, it = f"tensor<{rows}x{k}xf32>", f"tensor<{rows}x{k}xi32>"
        lines = []
        bias_op, bias_ty, layer_bias = "", "", ""
        if self.bias is not None:
            lines.append(f"%bias = arith.constant {dense(self.bias)} : "
                         f"tensor<{e}xf32>")
            bias_op = " bias(%bias)"
            bias_ty = f", tensor<{e}xf32>"
        layer_ops = f"%x router(%router){bias_op} gate_proj(%gate) " \
                    f"up_proj(%up) down_proj(%down)"
        layer_types = [types[n] for n in ("x", "router")]
        if self.bias is not None:
            layer_types.append(f"tensor<{e}xf32>")
        layer_types += [types[n] for n in ("gate", "up", "down")]
        if self.shared:
            layer_ops += (" shared_gate_proj(%sg) shared_up_proj(%su) "
                          "shared_down_proj(%sd)")
            layer_types += [types[n] for n in ("sg", "su", "sd")]
        if self.seg is not None:
            layer_ops += " shared_expert_gate(%seg)"
            layer_types.append(types["seg"])
        lines.append(f"%w, %i = moe.route %x, %router{bias_op} "
                     f"{self.attr_text()} : ({types['x']}, {types['router']}"
                     f"{bias_ty}) -> ({wt}, {it})")
        lines.append(f"%y = moe.layer {layer_ops} {self.attr_text()} "
                     f"activation(silu_glu) : ({', '.join(layer_types)}) -> "
                     f"{yt}")
        body = "\n".join("    " + line for line in lines)
        text = (f"// {self.name}: generated by compiled_vs_torch.py\n"
                f"module {{\n  func.func @{self.name}({args}) -> ({yt}, {wt}, "
                f"{it}) {{\n{body}\n    return %y, %w, %i : {yt}, {wt}, {it}"
                f"\n  }}\n}}\n")
        return text, [a for _, a, _ in inputs]


def mixtral(rng):
    b = Block("mixtral", rng, tokens=33, num_experts=8, top_k=2)
    b.attrs = dict(score="softmax", normalize=True)
    b.module = oracle.MixtralSparseMoeBlock(b.router, b.gate, b.up, b.down,
                                            b.top_k)
    return b


def qwen2_moe(rng):
    b = Block("qwen2_moe", rng, tokens=45, num_experts=16, top_k=4,
              dynamic=True, shared=True, shared_gate=True)
    b.attrs = dict(score="softmax")  # norm_topk_prob = False
    b.module = oracle.Qwen2MoeSparseMoeBlock(
        b.router, b.gate, b.up, b.down, b.top_k, b.sg, b.su, b.sd, b.seg,
        norm_topk_prob=False)
    return b


def deepseek_v3(rng):
    b = Block("deepseek_v3", rng, tokens=257, num_experts=64, top_k=8,
              dynamic=True, shared=True)
    b.bias = f32(rng.standard_normal(64) * 0.1)
    b.attrs = dict(score="sigmoid", normalize=True, scale=2.5, n_group=8,
                   topk_group=4)
    b.module = oracle.DeepseekV3MoE(
        b.router, b.bias, b.gate, b.up, b.down, b.top_k, 8, 4, 2.5, b.sg,
        b.su, b.sd)
    return b


def mixtral_top8(rng):
    b = Block("mixtral_k8", rng, tokens=1, num_experts=8, top_k=8)
    b.attrs = dict(score="softmax", normalize=True)
    b.module = oracle.MixtralSparseMoeBlock(b.router, b.gate, b.up, b.down,
                                            b.top_k)
    return b


def check(name, got, want, exact=False):
    got = np.asarray(got)
    if got.shape != want.shape:
        return False, f"{name}: shape {got.shape} != torch {want.shape}", 0, 0
    if exact:
        bad = got.astype(np.int64) != want.astype(np.int64)
        if bad.any():
            t = int(np.argwhere(bad)[0][0])
            return (False, f"{name}: token {t}: torch {want[t].tolist()} "
                           f"got {got[t].tolist()}", 0, 0)
        return True, "", 0, 0
    got = got.astype(np.float64)
    err = np.abs(got - want)
    rel = err / np.maximum(np.abs(want), ATOL)
    bad = ~(err <= ATOL + RTOL * np.abs(want))
    if bad.any():
        at = tuple(int(v) for v in np.argwhere(bad)[0])
        return (False, f"{name}: at {list(at)} torch {want[at]:.9g} got "
                       f"{got[at]:.9g} ({int(bad.sum())} of {bad.size} "
                       f"outside rtol {RTOL} atol {ATOL})",
                float(err.max()), float(rel.max()))
    return True, "", float(err.max()), float(rel.max())


def run_block(block, rng, moe_run, workdir):
    block.x = block.draw_x(rng)
    y_t, w_t, i_t = oracle.run(block.module, block.x)
    text, arrays = block.mlir()
    path = os.path.join(workdir, f"{block.name}.mlir")
    with open(path, "w") as f:
        f.write(text)
    args = [moe_run, path, f"--entry={block.name}"]
    for n, array in enumerate(arrays):
        npy = os.path.join(workdir, f"{block.name}.in{n}.npy")
        np.save(npy, array.astype("<f4"))
        args += ["-i", npy]
    out = os.path.join(workdir, f"{block.name}.out")
    os.makedirs(out, exist_ok=True)
    args += ["-o", out]
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    label = (f"{block.name} E={block.num_experts} K={block.top_k} "
             f"T={'?=' if block.dynamic else ''}{block.tokens}")
    if proc.returncode != 0:
        message = " | ".join(proc.stderr.decode(errors="replace")
                             .strip().splitlines()[:4])
        return False, f"FAIL {label}: moe-run exit {proc.returncode}: {message}"
    y, w, i = (np.load(os.path.join(out, f"result{n}.npy")) for n in range(3))
    problems, max_abs, max_rel = [], 0.0, 0.0
    for name, got, want, exact in (("indices", i, i_t, True),
                                   ("weights", w, w_t, False),
                                   ("y", y, y_t, False)):
        ok, message, a, r = check(name, got, want, exact)
        max_abs, max_rel = max(max_abs, a), max(max_rel, r)
        if not ok:
            problems.append(message)
    status = "FAIL" if problems else "PASS"
    line = (f"{status} {label} compiled vs torch max_abs={max_abs:.3g} "
            f"max_rel={max_rel:.3g}")
    if problems:
        line += "\n    " + "\n    ".join(problems)
    return not problems, line


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--moe-run", default=os.path.join(
        HERE, "..", "..", "..", "build", "bin", "moe-run"))
    parser.add_argument("--keep", help="keep the files in this directory")
    args = parser.parse_args()
    rng = np.random.default_rng(2024)
    workdir = args.keep or tempfile.mkdtemp(prefix="moe-vs-torch-")
    os.makedirs(workdir, exist_ok=True)
    passed = failed = 0
    for make in (mixtral, qwen2_moe, deepseek_v3, mixtral_top8):
        ok, line = run_block(make(rng), rng, args.moe_run, workdir)
        print(line, flush=True)
        passed += ok
        failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
