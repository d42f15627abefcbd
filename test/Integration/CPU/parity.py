#!/usr/bin/python3
"""The numeric parity sweep: generated code against the float64 reference.

For every configuration of the sweep this writes the moe ops into a
func.func (several configurations share one function, so that the JIT
compiles once per group), writes the inputs as .npy files (f32 '<f4', f64
'<f8', bf16 as '<u2' bf16 bits, i32 '<i4', i64 '<i8'), runs

    moe-run FILE.mlir --entry=NAME -i a.npy -i b.npy ... -o OUTDIR

and compares OUTDIR/result<i>.npy with reference/moe_reference.py:

* routing indices, top-k values, dispatch results (rows are copies) and
  counts: exactly (bit for bit where values are selected, not computed);
* f32 GEMM paths: rtol 1e-4, atol 1e-5 (DESIGN.md section 8);
* bf16 weights (or activations): atol 2e-2 with the activations scaled by
  1/10, the reference computed from the bf16-rounded values.

Random inputs are tie-free: a token whose best K+1 selection scores (or best
topk_group+1 group scores, or the boundary of a score-policy capacity drop,
or PEER's sub-key and candidate scores) are closer than MARGIN relative to
their magnitude is redrawn, so f32 rounding cannot change a decision.
Crafted configurations check ties, NaN, -0.0, zero sums and capacity
overflow, where the decisions are exact in f32.

Prints one line per configuration (`PASS route softmax E=8 K=2 T=33 f32
max_abs=... max_rel=...`; max_rel over the elements whose reference is at
least 10 * atol in magnitude), then `N passed, M failed`; exits non-zero on
a failure. A failing configuration prints, per output, how many elements
differ and the worst one (reference vs got, with its row). A function that
moe-run cannot compile or run is retried one configuration at a time, so
the error names the configuration. Run with Debian's python
(/usr/bin/python3, python3-numpy).
"""

import argparse
import concurrent.futures
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "reference"))
import moe_reference as ref  # noqa: E402

D, F = 24, 40          # model and expert widths: small, not multiples of 16
DYN_T = 45             # the run-time size of a dynamic (`?`) token dimension
MARGIN = 1e-4          # relative near-tie threshold for random inputs
F32_TOL = (1e-4, 1e-5)  # rtol, atol
BF16_TOL = (0.0, 2e-2)
PAIRS = [(1, 1), (2, 1), (2, 2), (8, 1), (8, 2), (8, 6), (8, 8), (64, 1),
         (64, 2), (64, 6), (64, 8)]  # (E, K), K <= E
TOKENS = [1, 33, 257, "dyn"]
# Known compiler bugs: configurations whose name contains the key are
# expected to fail (printed as XFAIL, not counted as failures); one that
# passes is an XPASS and fails the sweep, so that the entry gets removed
# once the bug is fixed. --strict ignores this list.
# Configurations that fail for a known, reported reason (printed XFAIL; an
# XPASS fails the sweep so that the entry is removed). None at present: the
# capacity-rounding cases pass since the lowering evaluates ((cf*T)*K)/E.
KNOWN_FAILURES = {}
CATEGORIES = ["topk", "route", "dispatch", "experts", "combine", "layer",
              "repeat", "peer", "loss", "determinism"]

# ----------------------------------------------------------------------------
# Wire formats
# ----------------------------------------------------------------------------


def wire(values, elem):
    """(the array written to .npy, the float64/int64 values the reference
    sees) for `values` in element type `elem`."""
    if elem == "f32":
        array = np.asarray(values, dtype="<f4")
        return array, array.astype(np.float64)
    if elem == "f64":
        array = np.asarray(values, dtype="<f8")
        return array, array.copy()
    if elem == "bf16":
        array = ref.f32_to_bf16_bits(values).astype("<u2")
        return array, ref.bf16_bits_to_f32(array).astype(np.float64)
    if elem in ("i32", "i64"):
        array = np.asarray(values, dtype="<i4" if elem == "i32" else "<i8")
        return array, array.astype(np.int64)
    raise ValueError(elem)


def decode(array, elem):
    """A result array read back from .npy -> float64 or int64 values."""
    if elem == "bf16":
        return ref.bf16_bits_to_f32(array.astype(np.uint16)).astype(np.float64)
    if elem in ("i32", "i64"):
        return array.astype(np.int64)
    return array.astype(np.float64)


def ttype(shape, elem, dyn=False):
    """tensor<...> with dim 0 dynamic when `dyn` (rank-0: the scalar)."""
    dims = ["?" if (i == 0 and dyn) else str(s) for i, s in enumerate(shape)]
    return "tensor<" + "x".join(dims + [elem]) + ">"


def fmt(value):
    return repr(float(value))


# ----------------------------------------------------------------------------
# Near-tie margins (for tie-free random inputs)
# ----------------------------------------------------------------------------


def margin(values, k):
    """Per row: the smallest gap between consecutive ranked values among the
    best k+1, relative to their largest magnitude. Two -inf (or NaN) keys
    are an exact tie that every implementation breaks by index, not a near
    tie. Rows with at most k entries only need the ranked order of k."""
    key = ref.ranking_key(values)
    ranked = -np.sort(-key, axis=-1)[..., :k + 1]
    if ranked.shape[-1] < 2:
        return np.full(ranked.shape[:-1], np.inf)
    hi, lo = ranked[..., :-1], ranked[..., 1:]
    both_inf = np.isneginf(hi) & np.isneginf(lo)
    with np.errstate(invalid="ignore"):
        gaps = np.where(both_inf, np.inf, hi - lo)
    finite = np.where(np.isfinite(ranked), np.abs(ranked), 0.0)
    scale = np.maximum(finite.max(axis=-1), 1e-30)
    return gaps.min(axis=-1) / scale


def route_margin(info, route_args):
    m = margin(info["selection"], route_args["top_k"])
    n_group = route_args.get("n_group", 1)
    topk_group = route_args.get("topk_group", 1)
    if n_group > 1 and topk_group < n_group:
        m = np.minimum(m, margin(info["group_scores"], topk_group))
    return m


def drop_margin(weights, indices, num_experts, cap):
    """Score-policy capacity: per token, the smallest relative gap between
    the C-th and (C+1)-th best weight of an expert it is routed to (inf when
    the expert does not overflow)."""
    tokens, top_k = indices.shape
    result = np.full(tokens, np.inf)
    for e in range(num_experts):
        mask = indices == e
        if mask.sum() <= cap:
            continue
        ws = np.sort(weights[mask])[::-1]
        gap = (ws[cap - 1] - ws[cap]) / max(abs(ws[0]), 1e-30)
        if gap < MARGIN:
            # The tokens whose weight sits at the boundary.
            near = (np.abs(weights - ws[cap]) <=
                    abs(ws[cap - 1] - ws[cap]) + 1e-30)
            result[(mask & near).any(axis=1)] = gap
    return result


def redraw(rng, x, scale, bad_fn, what):
    """Redraws the rows of x for which bad_fn(x) is True."""
    for _ in range(200):
        bad = bad_fn(x)
        if not np.any(bad):
            return x
        x[bad] = rng.standard_normal((int(np.sum(bad)), x.shape[1])) * scale
    raise RuntimeError(f"could not draw tie-free inputs for {what}")


# ----------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------


class Result:
    """One output of a configuration and how to check it."""

    def __init__(self, name, ssa, type_str, elem, kind, want, tol=None):
        self.name, self.ssa, self.type, self.elem = name, ssa, type_str, elem
        self.kind, self.want, self.tol = kind, want, tol

    def check(self, raw):
        """-> (problems, max_abs, max_rel, err_class)."""
        got = decode(raw, self.elem)
        want = self.want
        if got.shape != want.shape:
            return [f"{self.name}: shape {list(got.shape)}, "
                    f"reference {list(want.shape)}"], 0.0, 0.0
        if self.kind == "exact":
            if self.elem in ("i32", "i64"):
                bad = got != want
            else:  # selected values: bit for bit, any NaN equals any NaN
                gw, ww = wire(want, self.elem)[0], raw
                if self.elem == "bf16":
                    gw = ref.f32_to_bf16_bits(want.astype(np.float32))
                bad = (gw.view(np.uint8).reshape(gw.shape + (-1,)) !=
                       np.asarray(ww).view(np.uint8).reshape(gw.shape + (-1,))
                       ).any(axis=-1) & ~(np.isnan(got) & np.isnan(want))
            if np.any(bad):
                return [self.describe(got, bad)], 0.0, 0.0
            return [], 0.0, 0.0
        rtol, atol = self.tol
        nan_mismatch = np.isnan(got) != np.isnan(want)
        with np.errstate(invalid="ignore"):
            err = np.where(np.isnan(got) & np.isnan(want), 0.0,
                           np.abs(got - want))
        err = np.where(np.isnan(err), np.inf, err)
        bad = nan_mismatch | (err > atol + rtol * np.abs(np.nan_to_num(want)))
        max_abs = float(err.max()) if err.size else 0.0
        # The relative error where it means something: |reference| of at
        # least 10 * atol (below that, atol decides).
        magnitude = np.abs(np.nan_to_num(want))
        significant = magnitude >= 10 * max(atol, 1e-6)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = err[significant] / magnitude[significant]
        max_rel = float(rel.max()) if rel.size else 0.0
        if np.any(bad):
            return [self.describe(got, bad)], max_abs, max_rel
        return [], max_abs, max_rel

    def describe(self, got, bad):
        want = self.want
        count = int(np.sum(bad))
        if want.ndim == 0:
            return f"{self.name}: reference {want.item()!r} got {got.item()!r}"
        positions = np.argwhere(bad)
        if self.kind == "close":
            with np.errstate(invalid="ignore"):
                err = np.where(bad, np.abs(got - want), -1)
            err = np.where(np.isnan(err), np.inf, err)
            first = np.unravel_index(np.argmax(err), err.shape)
        else:
            first = tuple(positions[0])
        shown = [tuple(int(i) for i in p) for p in positions[:3]]
        text = (f"{self.name}: {count} of {want.size} elements differ; "
                f"at {list(first)}: reference {want[first]!r} got "
                f"{got[first]!r}; first at {shown}")
        if want.ndim >= 1 and want.shape[-1] <= 8 and want.ndim <= 2:
            row = first[0]
            text += (f"\n      row {row}: reference "
                     f"{np.array2string(want[row], precision=6)} got "
                     f"{np.array2string(got[row], precision=6)}")
        return text


class Case:
    """One configuration: arguments, the ops (MLIR lines), the results."""

    counter = 0

    def __init__(self, category, label, dtype="f32", quick=True):
        Case.counter += 1
        self.p = f"c{Case.counter}_"
        self.category, self.label, self.dtype = category, label, dtype
        self.quick = quick
        self.args = []     # (ssa, type, wire array)
        self.lines = []
        self.results = []  # Result
        self.note = ""
        self.rng = np.random.default_rng(zlib.crc32(label.encode()))

    def v(self, name):
        return f"%{self.p}{name}"

    def arg(self, name, values, elem, dyn=False):
        array, seen = wire(values, elem)
        ssa = self.v(name)
        self.args.append((ssa, ttype(array.shape, elem, dyn), array))
        return ssa, seen

    def result(self, name, ssa, shape, elem, kind, want, tol=None, dyn=False):
        self.results.append(Result(name, ssa, ttype(shape, elem, dyn), elem,
                                   kind, np.asarray(want), tol))

    def scalar_result(self, name, ssa, want, tol):
        r = Result(name, ssa, "f32", "f32", "close", np.asarray(want), tol)
        self.results.append(r)

    @property
    def name(self):
        return f"{self.category} {self.label}"


def tokens_of(t):
    """A token spec: an int (static), "dyn" (dynamic, DYN_T at run time) or
    "dynN" (dynamic, N at run time) -> (N, dynamic)."""
    if isinstance(t, str):
        return (int(t[3:]) if t[3:] else DYN_T), True
    return t, False


def t_label(t):
    n, dyn = tokens_of(t)
    return f"T=?({n})" if dyn else f"T={n}"


def gemm_tol(dtype):
    return BF16_TOL if dtype == "bf16" else F32_TOL


def normal(rng, shape, scale=1.0):
    return rng.standard_normal(shape) * scale


def linear_weight(rng, shape):
    """nn.Linear-like: std 1/sqrt(fan_in) (the last dimension)."""
    return rng.standard_normal(shape) / math.sqrt(shape[-1])


def distinct_indices(rng, tokens, num_experts, top_k, skew=0.0):
    """Per token K distinct experts; `skew` > 0 favours low experts
    (Gumbel top-k), so that capacity dispatch overflows."""
    keys = rng.gumbel(size=(tokens, num_experts)) - skew * np.arange(
        num_experts)[None, :] / max(num_experts - 1, 1) * 3.0
    return np.argsort(-keys, axis=1, kind="stable")[:, :top_k]


def distinct_rows(rng, tokens, n, elem):
    """Normal values, distinct within each row in the wire type."""
    x = rng.standard_normal((tokens, n))
    for _ in range(100):
        seen = wire(x, elem)[1]
        srt = np.sort(seen, axis=1)
        bad = (srt[:, 1:] == srt[:, :-1]).any(axis=1) if n > 1 else \
            np.zeros(tokens, bool)
        if not bad.any():
            return x
        x[bad] = rng.standard_normal((int(bad.sum()), n))
    raise RuntimeError("could not draw distinct values")


# ----------------------------------------------------------------------------
# moe.topk
# ----------------------------------------------------------------------------


def topk_case(tokens, n, k, elem="f32", index="i32", quick=True, x=None,
              label=None, lead=()):
    t, dyn = tokens_of(tokens)
    label = label or f"E={n} K={k} {t_label(tokens)} {elem}" + (
        f" {index}" if index != "i32" else "")
    c = Case("topk", label, "exact", quick)
    if x is None:
        x = distinct_rows(c.rng, int(np.prod(lead, dtype=int)) * t, n, elem)
        x = x.reshape(tuple(lead) + (t, n))
    shape = x.shape
    out_shape = shape[:-1] + (k,)
    xs, seen = c.arg("x", x, elem, dyn and not lead)
    in_t = ttype(shape, elem, dyn and not lead)
    if lead and dyn:  # rank 3 with a dynamic middle dimension
        in_t = in_t.replace(f"x{t}x", "x?x", 1)
        c.args[-1] = (xs, in_t, c.args[-1][2])
    vals, idx = ref.topk(seen, k, np.int64)
    val_t = ttype(out_shape, elem, dyn and not lead)
    idx_t = ttype(out_shape, index, dyn and not lead)
    if lead and dyn:
        val_t = val_t.replace(f"x{t}x", "x?x", 1)
        idx_t = idx_t.replace(f"x{t}x", "x?x", 1)
    c.lines.append(f"{c.v('v')}, {c.v('i')} = moe.topk {xs} k({k}) : "
                   f"{in_t} -> {val_t}, {idx_t}")
    c.results.append(Result("values", c.v("v"), val_t, elem, "exact", vals))
    c.results.append(Result("indices", c.v("i"), idx_t, index, "exact", idx))
    return c


def topk_cases():
    cases = []
    for i, (n, k) in enumerate(PAIRS):
        for j in range(2):
            tokens = TOKENS[(i + 2 * j) % len(TOKENS)]
            cases.append(topk_case(tokens, n, k, quick=j == 0))
    cases.append(topk_case(33, 8, 2, index="i64"))
    cases.append(topk_case(33, 64, 8, elem="bf16"))
    cases.append(topk_case(17, 8, 6, elem="f64", index="i64", quick=False))
    cases.append(topk_case(5, 8, 3, lead=(2,)))
    cases.append(topk_case("dyn", 8, 3, lead=(2,), quick=False))
    # Crafted: ties, NaN, infinities, -0.0, all-NaN rows.
    nan, inf = float("nan"), float("inf")
    crafted = np.array([
        [1.0, 3.0, 3.0, 2.0, 3.0, 0.0, -1.0, 3.0],       # ties
        [nan, 1.0, nan, -inf, 0.0, nan, 2.0, nan],       # NaN below -inf? tie
        [nan] * 8,                                       # all NaN
        [-0.0, 0.0, -0.0, -1.0, 0.0, -2.0, -0.0, -3.0],  # signed zeros
        [-inf, nan, -inf, -inf, -3.4e38, nan, inf, -inf],
        [5.0] * 8,                                       # all equal
        [nan, nan, nan, 7.0, nan, nan, nan, nan],
        [1e-45, -1e-45, 0.0, 1e-45, 3.4e38, 3.4e38, -0.0, 2.0],
    ])
    for k in (1, 3, 8):
        cases.append(topk_case(8, 8, k, x=crafted,
                               label=f"ties-nan E=8 K={k} T=8 f32"))
    cases.append(topk_case(8, 8, 4, x=crafted, elem="bf16",
                           label="ties-nan E=8 K=4 T=8 bf16"))
    cases.append(topk_case(8, 8, 5, x=crafted, elem="f64", index="i64",
                           label="ties-nan E=8 K=5 T=8 f64", quick=False))
    # Rows longer than one vector (the CPU ranks 16 entries at a time, each
    # lane keeping its earliest best): ties between lanes and between
    # blocks, a partial last block, NaN and -inf ties across blocks.
    across = np.zeros((4, 40))
    across[0, [35, 19, 3, 17, 2]] = 3.0
    across[1, :] = nan
    across[1, [39, 20]] = -inf
    across[2] = np.arange(40) % 7
    across[3] = np.where(np.arange(40) % 2 == 0, -0.0, 0.0)
    across[3, [38, 22, 6]] = 1.0
    for k in (4, 9):
        cases.append(topk_case(4, 40, k, x=across,
                               label=f"ties-blocks E=40 K={k} T=4 f32"))
    return cases


# ----------------------------------------------------------------------------
# moe.route
# ----------------------------------------------------------------------------


def route_case(num_experts, top_k, tokens, score="softmax", normalize=False,
               scale=1.0, n_group=1, topk_group=1, group_score="top2_sum",
               bias=False, with_scores=False, xelem="f32", welem="f32",
               quick=True, crafted=None):
    t, dyn = tokens_of(tokens)
    parts = [score, f"E={num_experts} K={top_k}", t_label(tokens)]
    if normalize:
        parts.append("normalize")
    if scale != 1.0:
        parts.append(f"scale={scale}")
    if bias:
        parts.append("bias")
    if n_group > 1:
        parts.append(f"groups={n_group}/{topk_group}/{group_score}")
    if with_scores:
        parts.append("scores")
    dtype = "bf16" if "bf16" in (xelem, welem) else "f32"
    parts.append(xelem if xelem == welem else f"x:{xelem} w:{welem}")
    if crafted:
        parts.insert(0, crafted[0])
    c = Case("route", " ".join(parts), dtype, quick)
    rng = c.rng
    xscale = 0.1 if dtype == "bf16" else 1.0
    route_args = dict(top_k=top_k, score=score, normalize=normalize,
                      scale=scale, n_group=n_group, topk_group=topk_group,
                      group_score=group_score)
    if crafted:
        x, router, bias_v = crafted[1], crafted[2], crafted[3]
        model = x.shape[1]
    else:
        model = D
        router = wire(linear_weight(rng, (num_experts, D)) * 2.0, welem)[1]
        bias_v = normal(rng, num_experts, 0.1) if bias else None
        if bias_v is not None:
            bias_v = wire(bias_v, "f32")[1]
        x = normal(rng, (t, D), xscale)

        def bad(xv):
            seen = wire(xv, xelem)[1]
            info = ref.route(seen, router, bias=bias_v, details=True,
                             **route_args)[3]
            return route_margin(info, route_args) < MARGIN
        x = redraw(rng, x, xscale, bad, c.name)
    xs, xv = c.arg("x", x, xelem, dyn)
    ws, wv = c.arg("router", router, welem)
    operands = [xs, ws]
    types = [ttype((t, model), xelem, dyn), ttype((num_experts, model), welem)]
    attrs = f"top_k({top_k}) score({score})"
    bias_text = ""
    if bias_v is not None:
        bs, bv = c.arg("bias", bias_v, "f32")
        operands.append(bs)
        types.append(ttype((num_experts,), "f32"))
        bias_text = f" bias({bs})"
    else:
        bv = None
    if normalize:
        attrs += " normalize"
    if scale != 1.0:
        attrs += f" scale({fmt(scale)})"
    if n_group > 1:
        attrs += (f" n_group({n_group}) topk_group({topk_group}) "
                  f"group_score({group_score})")
    weights, indices, scores = ref.route(xv, wv, bias=bv, **route_args)
    res_t = [ttype((t, top_k), "f32", dyn), ttype((t, top_k), "i32", dyn)]
    names = [c.v("w"), c.v("i")]
    if with_scores:
        res_t.append(ttype((t, num_experts), "f32", dyn))
        names.append(c.v("s"))
    c.lines.append(f"{', '.join(names)} = moe.route {xs}, {ws}{bias_text} "
                   f"{attrs} : ({', '.join(types)}) -> ({', '.join(res_t)})")
    # Router math is f32 from exact products: f32 tolerances even for bf16.
    c.results.append(Result("indices", c.v("i"), res_t[1], "i32", "exact",
                            indices))
    c.results.append(Result("weights", c.v("w"), res_t[0], "f32", "close",
                            weights, F32_TOL))
    if with_scores:
        c.results.append(Result("scores", c.v("s"), res_t[2], "f32", "close",
                                scores, F32_TOL))
    return c


def route_cases():
    cases = []
    scores = ["softmax", "sigmoid", "softmax_topk"]
    i = 0
    for e, k in PAIRS:
        for score in scores:
            tokens = TOKENS[i % len(TOKENS)]
            cases.append(route_case(e, k, tokens, score, normalize=i % 2 == 0,
                                    quick=(i % 3 == 0)))
            i += 1
    # Selection bias, scale, scores result.
    cases.append(route_case(8, 2, 33, "sigmoid", bias=True))
    cases.append(route_case(64, 6, 257, "sigmoid", normalize=True, scale=2.5,
                            bias=True, quick=False))
    cases.append(route_case(8, 2, 33, "softmax", with_scores=True))
    cases.append(route_case(64, 8, "dyn", "sigmoid", with_scores=True,
                            bias=True, quick=False))
    cases.append(route_case(8, 2, 33, "softmax_topk", with_scores=True,
                            scale=0.5))
    # Group-limited routing.
    cases.append(route_case(8, 2, 33, "sigmoid", normalize=True, scale=2.5,
                            n_group=4, topk_group=2, bias=True))
    cases.append(route_case(64, 8, 257, "sigmoid", normalize=True, scale=2.5,
                            n_group=8, topk_group=4, bias=True, quick=False))
    cases.append(route_case(64, 8, "dyn", "sigmoid", normalize=True,
                            scale=2.5, n_group=8, topk_group=4, bias=True))
    cases.append(route_case(64, 6, 33, "softmax", n_group=8, topk_group=3,
                            group_score="max"))
    cases.append(route_case(8, 1, "dyn", "softmax_topk", n_group=2,
                            topk_group=1, group_score="max", quick=False))
    cases.append(route_case(8, 2, 33, "softmax", n_group=8, topk_group=3,
                            group_score="max", normalize=True))
    cases.append(route_case(64, 6, 1, "softmax", n_group=4, topk_group=4,
                            group_score="top2_sum", quick=False))
    cases.append(route_case(8, 4, 33, "sigmoid", n_group=4, topk_group=2,
                            group_score="top2_sum", bias=True))  # K = kept
    # bf16 activations and router weights.
    cases.append(route_case(8, 2, 33, "softmax", normalize=True,
                            xelem="bf16", welem="bf16"))
    cases.append(route_case(64, 6, "dyn", "sigmoid", normalize=True,
                            scale=2.5, n_group=8, topk_group=4, bias=True,
                            xelem="bf16", welem="bf16"))
    cases.append(route_case(8, 2, 33, "softmax_topk", xelem="f32",
                            welem="bf16", quick=False))
    cases.extend(route_crafted())
    return cases


def route_crafted():
    """x = the logits, router = I (D = E): the logits are exact in f32."""
    cases = []
    nan = float("nan")
    eye = np.eye(8)
    ties = np.array([[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                     [0.0, 2.0, 2.0, 0.5, 2.0, 0.0, -1.0, 2.0],
                     [-0.0, 0.0, -0.0, 0.0, -1.0, -1.0, -1.0, -1.0],
                     [3.0, -1.0, 3.0, -1.0, 3.0, -1.0, 3.0, -1.0]])
    for score in ("softmax", "sigmoid", "softmax_topk"):
        cases.append(route_case(8, 3, 4, score, normalize=True,
                                crafted=("ties", ties, eye, None)))
    nan_x = np.array([[1.0, nan, 2.0, 0.0, -1.0, 0.5, 3.0, -2.0],
                      [nan] * 8,
                      [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]])
    for score in ("softmax", "sigmoid"):
        cases.append(route_case(8, 2, 3, score,
                                crafted=("nan", nan_x, eye, None)))
    zero = np.array([[-1000.0] * 8, [-1000.0] * 7 + [0.0]])
    cases.append(route_case(8, 2, 2, "sigmoid", normalize=True, scale=2.0,
                            crafted=("zero-sum", zero, eye, None)))
    # Group ties: groups (0,1) (2,3) (4,5) (6,7) with equal group scores.
    groups = np.array([[1.0, 3.0, 3.0, 1.0, 2.0, 2.0, 0.0, 4.0],
                       [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]])
    cases.append(route_case(8, 2, 2, "softmax_topk", n_group=4, topk_group=2,
                            group_score="top2_sum",
                            crafted=("group-ties", groups, eye, None)))
    cases.append(route_case(8, 3, 2, "softmax_topk", n_group=4, topk_group=2,
                            group_score="max",
                            crafted=("group-ties", groups, eye, None)))
    # A bias that flips the selection but not the weights.
    bias = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 10.0, 0.0])
    cases.append(route_case(8, 2, 2, "sigmoid", bias=True,
                            crafted=("bias-flip", groups, eye, bias)))
    return cases


# ----------------------------------------------------------------------------
# moe.dispatch
# ----------------------------------------------------------------------------


def dispatch_case(num_experts, top_k, tokens, mode="dropless", cf=None,
                  min_capacity=0, policy="position", xelem="f32",
                  index="i32", skew=0.0, quick=True, crafted=None):
    t, dyn = tokens_of(tokens)
    parts = [mode]
    if mode == "capacity":
        parts += [policy, f"cf={cf}"]
        if min_capacity:
            parts.append(f"min={min_capacity}")
    parts += [f"E={num_experts} K={top_k}", t_label(tokens), xelem]
    if index != "i32":
        parts.append(index)
    if skew:
        parts.append("skewed")
    if crafted:
        parts.insert(0, crafted[0])
    c = Case("dispatch", " ".join(parts), "exact", quick)
    rng = c.rng
    if crafted and len(crafted) > 1:
        indices, weights = crafted[1], crafted[2]
        t = indices.shape[0]
        x = np.arange(t)[:, None] + 0.01 * np.arange(1, D + 1)[None, :]
    else:
        indices = distinct_indices(rng, t, num_experts, top_k, skew)
        x = normal(rng, (t, D))
        weights = None
        if policy == "score":
            weights = distinct_rows(rng, 1, t * top_k, "f32").reshape(
                t, top_k)
            weights = np.abs(weights)
    xs, xv = c.arg("x", x, xelem, dyn)
    is_, iv = c.arg("idx", indices, index, dyn)
    operands = f"{xs}, {is_}"
    types = [ttype((t, D), xelem, dyn), ttype((t, top_k), index, dyn)]
    attrs = f"num_experts({num_experts})"
    wv = None
    if mode == "capacity":
        if policy == "score":
            ws_, wv = c.arg("w", weights, "f32", dyn)
            operands += f" weights({ws_})"
            types.append(ttype((t, top_k), "f32", dyn))
        attrs += f" mode(capacity) capacity_factor({fmt(cf)})"
        if min_capacity:
            attrs += f" min_capacity({min_capacity})"
        if policy != "position":
            attrs += f" drop_policy({policy})"
    rows, segments, row_of = ref.dispatch(xv, iv, num_experts, mode, cf,
                                          min_capacity, policy, wv)
    if mode == "dropless":
        rows_t = ttype((t * top_k, D), xelem, dyn)
        seg_t = ttype((num_experts + 1,), "i32")
    else:
        cap = rows.shape[1]
        rows_t = ttype((num_experts, cap, D), xelem)
        if dyn:
            rows_t = rows_t.replace(f"x{cap}x", "x?x", 1)
        seg_t = ttype((num_experts,), "i32")
        dropped = int(np.sum(row_of < 0))
        c.note = f"C={cap} dropped={dropped}"
    ro_t = ttype((t, top_k), "i32", dyn)
    c.lines.append(
        f"{c.v('rows')}, {c.v('seg')}, {c.v('ro')} = moe.dispatch {operands} "
        f"{attrs} : ({', '.join(types)}) -> ({rows_t}, {seg_t}, {ro_t})")
    c.results.append(Result("rows", c.v("rows"), rows_t, xelem, "exact", rows))
    c.results.append(Result("offsets" if mode == "dropless" else "counts",
                            c.v("seg"), seg_t, "i32", "exact", segments))
    c.results.append(Result("row_of", c.v("ro"), ro_t, "i32", "exact", row_of))
    return c


def dispatch_cases():
    cases = []
    for i, (e, k) in enumerate(PAIRS):
        cases.append(dispatch_case(e, k, TOKENS[i % 4], quick=i % 2 == 0))
    cases.append(dispatch_case(8, 2, 33, index="i64"))
    cases.append(dispatch_case(8, 2, "dyn", xelem="bf16"))
    i = 0
    for policy in ("position", "score"):
        for e, k, tokens, cf, mn, skew in [
                (2, 1, 33, 0.5, 0, 0.0), (2, 2, 257, 1.0, 0, 1.0),
                (8, 2, 33, 1.25, 0, 1.0), (8, 2, 257, 1.0, 0, 2.0),
                (8, 6, "dyn", 0.5, 4, 1.0), (8, 8, 33, 2.0, 0, 0.0),
                (64, 2, 257, 1.25, 0, 2.0), (64, 8, 33, 1.0, 2, 1.0),
                (64, 6, "dyn", 2.0, 0, 3.0), (1, 1, 33, 0.5, 0, 0.0),
                (8, 1, 1, 1.0, 0, 0.0), (64, 1, 33, 1.1, 3, 2.0)]:
            cases.append(dispatch_case(e, k, tokens, "capacity", cf, mn,
                                       policy, skew=skew, quick=i % 2 == 0))
            i += 1
    cases.append(dispatch_case(8, 2, 33, "capacity", 1.0, 0, "score",
                               xelem="bf16", skew=1.0))
    cases.append(dispatch_case(8, 2, "dyn", "capacity", 1.25, 0, "position",
                               index="i64", skew=1.0, quick=False))
    cases.extend(dispatch_crafted())
    return cases


def dispatch_crafted():
    cases = []
    # Everybody to expert 0 (and 1): C = ceil(0.5 * 6 * 2 / 4) = 3.
    idx = np.array([[0, 1], [1, 0], [0, 2], [0, 1], [3, 0], [0, 1]])
    w = np.array([[0.5, 0.5], [0.25, 0.75], [0.5, 0.5], [0.9, 0.1],
                  [0.5, 0.5], [0.5, 0.5]])
    cases.append(dispatch_case(4, 2, 6, "capacity", 0.5, 0, "position",
                               crafted=("overflow", idx, None)))
    cases.append(dispatch_case(4, 2, 6, "capacity", 0.5, 0, "score",
                               crafted=("overflow-ties", idx, w)))
    # Same token twice to the same expert (slots 0 and 1), ties on slot.
    dup = np.array([[2, 2], [2, 2], [1, 2]])
    wd = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])
    cases.append(dispatch_case(4, 2, 3, "capacity", 0.5, 0, "score",
                               crafted=("same-expert", dup, wd)))
    cases.append(dispatch_case(4, 2, 3, crafted=("same-expert", dup, None)))
    # Signed zeros tie; NaN weights rank last (as in the top-k order).
    w0 = np.array([[-0.0, 0.0], [0.0, -0.0], [0.0, 0.0], [-0.0, 1.0],
                   [0.0, 0.0], [-0.0, -0.0]])
    cases.append(dispatch_case(4, 2, 6, "capacity", 0.5, 0, "score",
                               crafted=("signed-zero", idx, w0)))
    nan = float("nan")
    wn = np.array([[nan, 0.1], [0.2, nan], [0.3, 0.3], [nan, 0.4],
                   [0.5, 0.5], [0.6, nan]])
    cases.append(dispatch_case(4, 2, 6, "capacity", 0.5, 0, "score",
                               crafted=("nan-weights", idx, wn)))
    # min_capacity above T is clamped to T; capacity_factor huge.
    cases.append(dispatch_case(4, 2, 6, "capacity", 1e9, 0, "position",
                               crafted=("no-drop", idx, None)))
    cases.append(dispatch_case(4, 2, 6, "capacity", 0.1, 100, "position",
                               crafted=("min-clamped", idx, None)))
    # C in float64, left to right: ((0.2 * 20) * 6) / 8 = 3.0 exactly, but
    # ((0.2 * 6) * 20) / 8 = 3.0000000000000004 rounds up to 4.
    for tokens in (20, "dyn20"):
        for policy in ("position", "score"):
            cases.append(dispatch_case(8, 6, tokens, "capacity", 0.2, 0,
                                       policy, skew=1.0,
                                       crafted=("capacity-rounding",)))
    return cases


# ----------------------------------------------------------------------------
# moe.experts, moe.combine
# ----------------------------------------------------------------------------


def expert_weights(rng, num_experts, gated, welem, c, ffn=F, model=D):
    gate = linear_weight(rng, (num_experts, ffn, model)) if gated else None
    up = linear_weight(rng, (num_experts, ffn, model))
    down = linear_weight(rng, (num_experts, model, ffn))
    out = {}
    if gated:
        out["gate"] = c.arg("wg", gate, welem)
    out["up"] = c.arg("wu", up, welem)
    out["down"] = c.arg("wd", down, welem)
    return out


def random_segments(rng, rows, num_experts, covered=None):
    covered = rows if covered is None else covered
    cuts = np.sort(rng.integers(0, covered + 1, num_experts - 1))
    return np.concatenate([[0], cuts, [covered]]).astype(np.int64)


def experts_case(num_experts, rows_n, act, layout="dropless", welem="f32",
                 relem="f32", dyn=False, quick=True, uncovered=0, model=D):
    """`model` other than D (24) gives the kernels' blocked paths: a
    multiple of 16 transposes the gemm's token tiles in 16 x 16 blocks, and
    of 32 also the bf16 pairs of vdpbf16ps."""
    gated = ref.is_gated(act)
    dtype = "bf16" if "bf16" in (welem, relem) else "f32"
    parts = [layout, act, f"E={num_experts}"]
    if model != D:
        parts.append(f"D={model}")
    parts.append(f"R={'?' if dyn else ''}{rows_n}" if layout == "dropless"
                 else f"C={rows_n}")
    if uncovered:
        parts.append(f"uncovered={uncovered}")
    parts.append(welem if welem == relem else f"rows:{relem} w:{welem}")
    c = Case("experts", " ".join(parts), dtype, quick)
    rng = c.rng
    scale = 0.1 if dtype == "bf16" else 1.0
    if layout == "dropless":
        rows = normal(rng, (rows_n, model), scale)
        seg = random_segments(rng, rows_n, num_experts, rows_n - uncovered)
        rows_shape, seg_shape = (rows_n, model), (num_experts + 1,)
    else:
        rows = normal(rng, (num_experts, rows_n, model), scale)  # garbage
        seg = rng.integers(0, rows_n + 1, num_experts)  # past the counts
        seg[0] = rows_n
        rows_shape, seg_shape = (num_experts, rows_n, model), (num_experts,)
    rs, rv = c.arg("rows", rows, relem, dyn)
    ss, sv = c.arg("seg", seg, "i32")
    w = expert_weights(rng, num_experts, gated, welem, c, model=model)
    rows_t = ttype(rows_shape, relem, dyn)
    types = [rows_t, ttype(seg_shape, "i32")]
    text = f"{c.v('y')} = moe.experts {rs}, {ss}"
    if gated:
        text += f" gate_proj({w['gate'][0]})"
        types.append(ttype((num_experts, F, model), welem))
    text += f" up_proj({w['up'][0]}) down_proj({w['down'][0]})"
    types += [ttype((num_experts, F, model), welem),
              ttype((num_experts, model, F), welem)]
    text += f" activation({act}) : ({', '.join(types)}) -> {rows_t}"
    c.lines.append(text)
    want = ref.experts(rv, sv, w["gate"][1] if gated else None, w["up"][1],
                       w["down"][1], act)
    c.results.append(Result("y", c.v("y"), rows_t, relem, "close", want,
                            gemm_tol(dtype)))
    return c


def experts_cases():
    cases = []
    acts = list(ref.ACTIVATIONS)
    i = 0
    for e in (1, 2, 8, 64):
        for act in acts:
            rows_n = {1: 33, 2: 66, 8: 66, 64: 257}[e]
            cases.append(experts_case(e, rows_n, act, dyn=i % 4 == 3,
                                      quick=i % 3 == 0))
            i += 1
    for act in acts:
        cases.append(experts_case(8, 9, act, "capacity", quick=act in
                                  ("silu_glu", "relu")))
    cases.append(experts_case(64, 3, "silu_glu", "capacity"))
    cases.append(experts_case(8, 66, "silu_glu", uncovered=5))
    cases.append(experts_case(8, 66, "silu_glu", welem="bf16"))
    cases.append(experts_case(64, 257, "gelu", welem="bf16", dyn=True,
                              quick=False))
    cases.append(experts_case(8, 9, "gelu_glu", "capacity", welem="bf16"))
    cases.append(experts_case(8, 66, "silu_glu", welem="bf16", relem="bf16"))
    cases.append(experts_case(8, 9, "relu", "capacity", welem="bf16",
                              relem="bf16", quick=False))
    # The blocked transpositions of the gemm form, with token tiles that
    # end inside a 16 x 16 block (f32 and bf16 rows; bf16 pairs blocked
    # at D = 64, not at D = 48).
    cases.append(experts_case(8, 147, "silu_glu", model=64))
    cases.append(experts_case(2, 75, "gelu", model=48, dyn=True))
    cases.append(experts_case(8, 147, "silu_glu", welem="bf16", relem="bf16",
                              model=64))
    cases.append(experts_case(2, 75, "gelu_glu", welem="bf16", relem="bf16",
                              model=48, dyn=True))
    cases.append(experts_case(8, 66, "silu_glu", welem="bf16", model=64))
    return cases


def combine_case(num_experts, top_k, tokens, layout="dropless", relem="f32",
                 drop=0.0, quick=True):
    t, dyn = tokens_of(tokens)
    parts = [layout, f"E={num_experts} K={top_k}", t_label(tokens)]
    if drop:
        parts.append(f"drop={drop}")
    parts.append(relem)
    c = Case("combine", " ".join(parts), relem, quick)
    rng = c.rng
    scale = 0.1 if relem == "bf16" else 1.0
    if layout == "dropless":
        nrows = t * top_k
        rows = normal(rng, (nrows, D), scale)
        row_of = rng.permutation(nrows).reshape(t, top_k)
        rows_shape = (nrows, D)
    else:
        cap = max(1, math.ceil(1.25 * t * top_k / num_experts))
        rows = normal(rng, (num_experts, cap, D), scale)
        row_of = rng.integers(0, num_experts * cap, (t, top_k))
        rows_shape = (num_experts, cap, D)
    if drop:
        row_of[rng.random((t, top_k)) < drop] = -1
    weights = rng.random((t, top_k))
    rs, rv = c.arg("rows", rows, relem, dyn and layout == "dropless")
    ws, wv = c.arg("w", weights, "f32", dyn)
    os_, ov = c.arg("ro", row_of, "i32", dyn)
    rows_t = ttype(rows_shape, relem, dyn and layout == "dropless")
    out_t = ttype((t, D), relem, dyn)
    c.lines.append(
        f"{c.v('y')} = moe.combine {rs}, {ws}, {os_} : ({rows_t}, "
        f"{ttype((t, top_k), 'f32', dyn)}, {ttype((t, top_k), 'i32', dyn)})"
        f" -> {out_t}")
    want = ref.combine(rv, wv, ov)
    c.results.append(Result("y", c.v("y"), out_t, relem, "close", want,
                            gemm_tol(relem)))
    return c


def combine_cases():
    cases = []
    for i, (e, k) in enumerate(PAIRS):
        cases.append(combine_case(e, k, TOKENS[i % 4], quick=i % 3 == 0))
    cases.append(combine_case(8, 2, 33, drop=0.2))
    cases.append(combine_case(8, 2, 33, "capacity", drop=0.3))
    cases.append(combine_case(64, 6, "dyn", "capacity", drop=0.1))
    cases.append(combine_case(2, 1, 257, "capacity", quick=False))
    cases.append(combine_case(8, 2, 33, relem="bf16"))
    cases.append(combine_case(8, 2, "dyn", "capacity", relem="bf16",
                              drop=0.2, quick=False))
    return cases


# ----------------------------------------------------------------------------
# moe.layer
# ----------------------------------------------------------------------------


def layer_operands(c, num_experts, act, welem, shared=0, shared_gate=False,
                   bias=False):
    """Weights of a layer: (operand text, types, reference kwargs)."""
    rng = c.rng
    gated = ref.is_gated(act)
    ops, types, kw = [], [], {}
    wr = c.arg("router", linear_weight(rng, (num_experts, D)) * 2.0, welem)
    ops.append(f"router({wr[0]})")
    types.append(ttype((num_experts, D), welem))
    kw["router"] = wr[1]
    if bias:
        b = c.arg("bias", normal(rng, num_experts, 0.1), "f32")
        ops.append(f"bias({b[0]})")
        types.append(ttype((num_experts,), "f32"))
        kw["bias"] = b[1]
    w = expert_weights(rng, num_experts, gated, welem, c)
    if gated:
        ops.append(f"gate_proj({w['gate'][0]})")
        types.append(ttype((num_experts, F, D), welem))
    ops.append(f"up_proj({w['up'][0]}) down_proj({w['down'][0]})")
    types += [ttype((num_experts, F, D), welem),
              ttype((num_experts, D, F), welem)]
    kw.update(gate_proj=w["gate"][1] if gated else None, up_proj=w["up"][1],
              down_proj=w["down"][1])
    if shared:
        if gated:
            sg = c.arg("sg", linear_weight(rng, (shared, D)), welem)
            ops.append(f"shared_gate_proj({sg[0]})")
            types.append(ttype((shared, D), welem))
            kw["shared_gate"] = sg[1]
        su = c.arg("su", linear_weight(rng, (shared, D)), welem)
        sd = c.arg("sd", linear_weight(rng, (D, shared)), welem)
        ops.append(f"shared_up_proj({su[0]}) shared_down_proj({sd[0]})")
        types += [ttype((shared, D), welem), ttype((D, shared), welem)]
        kw.update(shared_up=su[1], shared_down=sd[1])
        if shared_gate:
            seg = c.arg("seg", linear_weight(rng, (1, D)), welem)
            ops.append(f"shared_expert_gate({seg[0]})")
            types.append(ttype((1, D), welem))
            kw["shared_expert_gate"] = seg[1]
    return " ".join(ops), types, kw


def layer_attrs(top_k, act, score, normalize, scale, n_group, topk_group,
                group_score, mode, cf, min_capacity, policy):
    attrs = f"top_k({top_k}) score({score})"
    if normalize:
        attrs += " normalize"
    if scale != 1.0:
        attrs += f" scale({fmt(scale)})"
    if n_group > 1:
        attrs += (f" n_group({n_group}) topk_group({topk_group}) "
                  f"group_score({group_score})")
    if mode == "capacity":
        attrs += f" mode(capacity) capacity_factor({fmt(cf)})"
        if min_capacity:
            attrs += f" min_capacity({min_capacity})"
        attrs += f" drop_policy({policy})"
    return attrs + f" activation({act})"


def layer_reference(x, kw, route_args, act, mode, cf, min_capacity, policy):
    return ref.layer(x, kw["router"], kw["gate_proj"], kw["up_proj"],
                     kw["down_proj"], act=act, bias=kw.get("bias"),
                     mode=mode, capacity_factor=cf, min_capacity=min_capacity,
                     drop_policy=policy, shared_gate=kw.get("shared_gate"),
                     shared_up=kw.get("shared_up"),
                     shared_down=kw.get("shared_down"),
                     shared_expert_gate=kw.get("shared_expert_gate"),
                     details=True, **route_args)


def layer_bad_tokens(xv, kw, route_args, act, mode, cf, min_capacity, policy):
    _, info = layer_reference(xv, kw, route_args, act, mode, cf, min_capacity,
                              policy)
    bad = route_margin(info, route_args) < MARGIN
    if mode == "capacity" and policy == "score":
        num_experts = kw["router"].shape[0]
        cap = info["rows"].shape[1]
        bad |= drop_margin(info["weights"], info["indices"], num_experts,
                           cap) < MARGIN
    return bad


def layer_case(name, num_experts, top_k, tokens, act="silu_glu",
               score="softmax", normalize=False, scale=1.0, n_group=1,
               topk_group=1, group_score="top2_sum", bias=False, shared=0,
               shared_gate=False, mode="dropless", cf=None, min_capacity=0,
               policy="position", xelem="f32", welem="f32", quick=True):
    t, dyn = tokens_of(tokens)
    dtype = "bf16" if "bf16" in (xelem, welem) else "f32"
    parts = [name, f"E={num_experts} K={top_k}", t_label(tokens), act, score]
    if mode == "capacity":
        parts.append(f"capacity/{policy}/cf={cf}")
    if shared:
        parts.append("shared+gate" if shared_gate else "shared")
    parts.append(xelem if xelem == welem else f"x:{xelem} w:{welem}")
    c = Case("layer", " ".join(parts), dtype, quick)
    rng = c.rng
    xscale = 0.1 if dtype == "bf16" else 1.0
    route_args = dict(top_k=top_k, score=score, normalize=normalize,
                      scale=scale, n_group=n_group, topk_group=topk_group,
                      group_score=group_score)
    ops, types, kw = layer_operands(c, num_experts, act, welem, shared,
                                    shared_gate, bias)
    x = normal(rng, (t, D), xscale)
    x = redraw(rng, x, xscale, lambda xv: layer_bad_tokens(
        wire(xv, xelem)[1], kw, route_args, act, mode, cf, min_capacity,
        policy), c.name)
    xs, xv = c.arg("x", x, xelem, dyn)
    c.args.insert(0, c.args.pop())  # x first
    x_t = ttype((t, D), xelem, dyn)
    attrs = layer_attrs(top_k, act, score, normalize, scale, n_group,
                        topk_group, group_score, mode, cf, min_capacity,
                        policy)
    c.lines.append(f"{c.v('y')} = moe.layer {xs} {ops} {attrs} : "
                   f"({', '.join([x_t] + types)}) -> {x_t}")
    want, info = layer_reference(xv, kw, route_args, act, mode, cf,
                                 min_capacity, policy)
    if mode == "capacity":
        c.note = (f"C={info['rows'].shape[1]} "
                  f"dropped={int(np.sum(info['row_of'] < 0))}")
    c.results.append(Result("y", c.v("y"), x_t, xelem, "close", want,
                            gemm_tol(dtype)))
    return c


def layer_cases():
    L = layer_case
    cases = []
    for i, tokens in enumerate(TOKENS):
        cases.append(L("mixtral", 8, 2, tokens, normalize=True,
                       quick=tokens != 257))
    cases.append(L("mixtral", 8, 2, 33, normalize=True, welem="bf16"))
    cases.append(L("mixtral", 8, 2, "dyn", normalize=True, xelem="bf16",
                   welem="bf16"))
    cases.append(L("olmoe", 64, 8, 33))
    cases.append(L("olmoe", 64, 8, "dyn", quick=False))
    cases.append(L("olmoe", 64, 6, 257, normalize=True, welem="bf16",
                   quick=False))
    cases.append(L("olmoe", 64, 8, 1))
    cases.append(L("qwen2-moe", 8, 2, 33, shared=56, shared_gate=True))
    cases.append(L("qwen2-moe", 64, 6, "dyn", shared=56, shared_gate=True,
                   normalize=True, welem="bf16"))
    cases.append(L("qwen2-moe", 8, 2, 1, shared=56, shared_gate=True,
                   quick=False))
    cases.append(L("deepseek-v3", 64, 6, 33, score="sigmoid", bias=True,
                   normalize=True, scale=2.5, n_group=8, topk_group=4,
                   shared=48))
    cases.append(L("deepseek-v3", 8, 2, "dyn", score="sigmoid", bias=True,
                   normalize=True, scale=2.5, n_group=4, topk_group=2,
                   shared=48, quick=False))
    cases.append(L("deepseek-v3", 64, 8, 257, score="sigmoid", bias=True,
                   normalize=True, scale=2.5, n_group=8, topk_group=4,
                   shared=48, welem="bf16", quick=False))
    cases.append(L("deepseek-v2", 64, 6, 33, score="softmax", n_group=8,
                   topk_group=3, group_score="max"))
    cases.append(L("switch", 8, 1, 33, act="relu", mode="capacity", cf=1.25))
    cases.append(L("switch", 8, 1, 257, act="relu", mode="capacity", cf=1.0,
                   policy="score"))
    cases.append(L("switch", 64, 1, "dyn", act="gelu", mode="capacity",
                   cf=1.0, min_capacity=2, quick=False))
    cases.append(L("gshard", 8, 2, 33, act="gelu_glu", mode="capacity",
                   cf=1.0, policy="score", normalize=True))
    cases.append(L("gshard", 8, 2, "dyn", act="silu_glu", mode="capacity",
                   cf=0.5, policy="score", shared=32, shared_gate=True))
    cases.append(L("gshard", 2, 2, 33, act="silu", mode="capacity", cf=0.75,
                   welem="bf16", quick=False))
    cases.append(L("topk-softmax", 8, 2, 33, act="gelu_glu",
                   score="softmax_topk"))
    cases.append(L("dense", 1, 1, 33, act="gelu"))
    cases.append(L("dense", 2, 2, "dyn", act="silu", normalize=True,
                   quick=False))
    cases.append(L("all-experts", 8, 8, 33, act="relu", score="sigmoid",
                   normalize=True))
    cases.append(L("shared-plain", 2, 1, 33, act="gelu", shared=16))
    # The capacity-rounding case of dispatch_crafted, in a whole layer.
    cases.append(L("capacity-rounding", 8, 6, "dyn20", act="silu_glu",
                   mode="capacity", cf=0.2))
    return cases


# ----------------------------------------------------------------------------
# moe.repeat
# ----------------------------------------------------------------------------


def repeat_layer_case(count, tokens, schedule="auto", add="linalg",
                      quick=True):
    """h <- h + moe.layer(h) (Mixtral layer), `count` times."""
    t, dyn = tokens_of(tokens)
    label = (f"layer-body count={count} {t_label(tokens)} "
             f"schedule={schedule} add={add} f32")
    c = Case("repeat", label, "f32", quick)
    rng = c.rng
    route_args = dict(top_k=2, score="softmax", normalize=True)
    ops, types, kw = layer_operands(c, 8, "silu_glu", "f32")

    def body(h):
        y, _ = layer_reference(h, kw, route_args, "silu_glu", "dropless",
                               None, 0, "position")
        return h + y

    def bad(xv):
        h = wire(xv, "f32")[1]
        worst = np.zeros(h.shape[0], bool)
        for _ in range(count):
            _, info = layer_reference(h, kw, route_args, "silu_glu",
                                      "dropless", None, 0, "position")
            worst |= route_margin(info, route_args) < 10 * MARGIN
            h = body(h)
        return worst
    x = redraw(rng, normal(rng, (t, D)), 1.0, bad, label)
    xs, xv = c.arg("x", x, "f32", dyn)
    x_t = ttype((t, D), "f32", dyn)
    h = c.v("h")
    sched = "" if schedule == "auto" else f" schedule({schedule})"
    attrs = layer_attrs(2, "silu_glu", "softmax", True, 1.0, 1, 1, "top2_sum",
                        "dropless", None, 0, "position")
    c.lines.append(f"{c.v('y')} = moe.repeat {count}{sched} "
                   f"iter_args({h} = {xs}) : {x_t} {{")
    c.lines.append(f"  {c.v('f')} = moe.layer {h} {ops} {attrs} : "
                   f"({', '.join([x_t] + types)}) -> {x_t}")
    if add == "arith":
        c.lines.append(f"  {c.v('n')} = arith.addf {h}, {c.v('f')} : {x_t}")
    else:
        c.lines += empty_like(c, h, x_t, dyn, "e")
        c.lines.append(f"  {c.v('n')} = linalg.add ins({h}, {c.v('f')} : "
                       f"{x_t}, {x_t}) outs({c.v('e')} : {x_t}) -> {x_t}")
    c.lines.append(f"  moe.yield {c.v('n')} : {x_t}")
    c.lines.append("}")
    want = ref.repeat(count, xv, body)
    c.results.append(Result("y", c.v("y"), x_t, "f32", "close", want,
                            F32_TOL))
    return c


def empty_like(c, value, type_str, dyn, name):
    if dyn:
        return [f"  {c.v(name + '_c0')} = arith.constant 0 : index",
                f"  {c.v(name + '_t')} = tensor.dim {value}, "
                f"{c.v(name + '_c0')} : {type_str}",
                f"  {c.v(name)} = tensor.empty({c.v(name + '_t')}) : "
                f"{type_str}"]
    return [f"  {c.v(name)} = tensor.empty() : {type_str}"]


def repeat_linalg_case(count, tokens, schedule="auto", quick=True):
    """h <- tanh(h W + b) + h with linalg ops; a second carried value
    counts the iterations (acc <- acc + h)."""
    t, dyn = tokens_of(tokens)
    label = (f"linalg-body count={count} {t_label(tokens)} "
             f"schedule={schedule} f32")
    c = Case("repeat", label, "f32", quick)
    rng = c.rng
    x = normal(rng, (t, D))
    w = linear_weight(rng, (D, D))
    b = normal(rng, (D,), 0.1)
    xs, xv = c.arg("x", x, "f32", dyn)
    acc_s, acc_v = c.arg("acc", np.zeros((t, D)), "f32", dyn)
    ws, wv = c.arg("w", w, "f32")
    bs, bv = c.arg("b", b, "f32")
    x_t = ttype((t, D), "f32", dyn)
    h, a = c.v("h"), c.v("a")
    sched = "" if schedule == "auto" else f" schedule({schedule})"
    c.lines.append(f"{c.v('y')}:2 = moe.repeat {count}{sched} iter_args("
                   f"{h} = {xs}, {a} = {acc_s}) : {x_t}, {x_t} {{")
    c.lines.append(f"  {c.v('zero')} = arith.constant 0.0 : f32")
    c.lines += empty_like(c, h, x_t, dyn, "e")
    c.lines.append(f"  {c.v('fill')} = linalg.fill ins({c.v('zero')} : f32) "
                   f"outs({c.v('e')} : {x_t}) -> {x_t}")
    c.lines.append(f"  {c.v('mm')} = linalg.matmul ins({h}, {ws} : {x_t}, "
                   f"tensor<{D}x{D}xf32>) outs({c.v('fill')} : {x_t}) -> "
                   f"{x_t}")
    c.lines.append(
        f"  {c.v('act')} = linalg.generic {{indexing_maps = ["
        f"affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, "
        f"affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], "
        f"iterator_types = [\"parallel\", \"parallel\"]}} ins({c.v('mm')}, "
        f"{bs}, {h} : {x_t}, tensor<{D}xf32>, {x_t}) outs({c.v('e')} : "
        f"{x_t}) {{\n  ^bb0(%m: f32, %bb: f32, %hh: f32, %o: f32):\n"
        f"    %s = arith.addf %m, %bb : f32\n"
        f"    %th = math.tanh %s : f32\n"
        f"    %r = arith.addf %th, %hh : f32\n"
        f"    linalg.yield %r : f32\n  }} -> {x_t}")
    c.lines += [l.replace(c.v("e"), c.v("e2")) for l in
                empty_like(c, h, x_t, dyn, "e")]
    c.lines.append(f"  {c.v('na')} = linalg.add ins({a}, {h} : {x_t}, "
                   f"{x_t}) outs({c.v('e2')} : {x_t}) -> {x_t}")
    c.lines.append(f"  moe.yield {c.v('act')}, {c.v('na')} : {x_t}, {x_t}")
    c.lines.append("}")

    def body(hv, av):
        return np.tanh(hv @ wv + bv) + hv, av + hv
    want_h, want_a = ref.repeat(count, (xv, acc_v), body)
    c.results.append(Result("h", f"{c.v('y')}#0", x_t, "f32", "close",
                            want_h, F32_TOL))
    c.results.append(Result("acc", f"{c.v('y')}#1", x_t, "f32", "close",
                            want_a, F32_TOL))
    return c


def repeat_cases():
    return [
        repeat_layer_case(3, 33),
        repeat_layer_case(2, "dyn", schedule="resident"),
        repeat_layer_case(2, 1, schedule="unroll", quick=False),
        repeat_layer_case(2, 33, add="arith"),
        repeat_linalg_case(4, 33),
        repeat_linalg_case(3, "dyn", schedule="unroll"),
        repeat_linalg_case(5, 257, schedule="resident", quick=False),
        repeat_linalg_case(1, 1),
    ]


# ----------------------------------------------------------------------------
# moe.peer
# ----------------------------------------------------------------------------


def peer_case(tokens, n=8, k=4, heads=2, dk=8, act="relu", score="softmax",
              bias=False, shared_keys=False, welem="f32", quick=True, d=D,
              xelem="f32"):
    t, dyn = tokens_of(tokens)
    parts = [f"n={n} k={k} heads={heads} Dk={dk}", t_label(tokens), act,
             score]
    if bias:
        parts.append("bias")
    if shared_keys:
        parts.append("shared-keys")
    if d != D:
        parts.append(f"D={d}")
    if xelem != "f32":
        parts.append(f"x {xelem}")
    parts.append(welem)
    dtype = welem
    c = Case("peer", " ".join(parts), dtype, quick)
    rng = c.rng
    xscale = 0.1 if dtype == "bf16" else 1.0
    num = n * n
    wq = linear_weight(rng, (heads * dk, d)) * 2.0
    keys_shape = (2, n, dk // 2) if shared_keys else (heads, 2, n, dk // 2)
    keys = normal(rng, keys_shape)
    u = linear_weight(rng, (num, d))
    v = normal(rng, (num, d), 0.5)
    bq = normal(rng, (heads * dk,), 0.3) if bias else None
    wqv = wire(wq, welem)[1]
    keysv = wire(keys, welem)[1]
    uv, vv = wire(u, welem)[1], wire(v, welem)[1]
    bqv = wire(bq, "f32")[1] if bias else None
    kwargs = dict(act=act, score=score, query_bias=bqv)

    def bad(xv):
        seen = wire(xv, xelem)[1]
        info = ref.peer(seen, wqv, keysv, uv, vv, heads, k, details=True,
                        **kwargs)[1]
        return info["margin"] < MARGIN
    x = redraw(rng, normal(rng, (t, d), xscale), xscale, bad, c.name)
    xs, xv = c.arg("x", x, xelem, dyn)
    qs = c.arg("wq", wq, welem)[0]
    query = qs
    types = [ttype((t, d), xelem, dyn), ttype((heads * dk, d), welem)]
    if bias:
        bs = c.arg("bq", bq, "f32")[0]
        query += f", {bs}"
        types.append(ttype((heads * dk,), "f32"))
    ks = c.arg("keys", keys, welem)[0]
    us = c.arg("u", u, welem)[0]
    vs = c.arg("v", v, welem)[0]
    types += [ttype(keys_shape, welem), ttype((num, d), welem),
              ttype((num, d), welem)]
    x_t = ttype((t, d), xelem, dyn)
    c.lines.append(f"{c.v('y')} = moe.peer {xs} query({query}) keys({ks}) "
                   f"down_embed({us}) up_embed({vs}) heads({heads}) "
                   f"top_k({k}) activation({act}) score({score}) : "
                   f"({', '.join(types)}) -> {x_t}")
    want = ref.peer(xv, wqv, keysv, uv, vv, heads, k, **kwargs)
    c.results.append(Result("y", c.v("y"), x_t, xelem, "close", want,
                            gemm_tol(dtype)))
    return c


def peer_cases():
    return [
        peer_case(33),
        peer_case(1, act="gelu"),
        peer_case("dyn", score="relu"),
        peer_case(33, act="gelu", score="relu", bias=True),
        peer_case(33, shared_keys=True, bias=True, quick=False),
        peer_case(257, k=8, quick=False),
        peer_case(33, k=1, heads=1, dk=4),
        peer_case(33, n=4, k=2, heads=3, dk=6, act="gelu"),
        peer_case(33, welem="bf16"),
        # Sub-key rows (n = 40) and candidates (k^2 = 36) longer than one
        # vector, with a partial last block; query rows wider than one.
        peer_case(17, n=40, k=6, heads=2, dk=40),
        # More selected experts than one block of gathered rows (16 + 4),
        # and rows long enough for every loop of the gathered kernels
        # (200 = 8 vectors a step + 4 vectors + a partial one).
        peer_case(9, n=24, k=20, heads=2, dk=16, d=200),
        # bf16 activations and tables: the gathered dot products in
        # vdpbf16ps pairs where the CPU has them (72 = 2 x 32 + 8).
        peer_case(5, welem="bf16", xelem="bf16", d=72),
    ]


# ----------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------


def lb_loss_case(num_experts, top_k, tokens, index="i32", quick=True):
    t, dyn = tokens_of(tokens)
    c = Case("loss", f"load_balancing E={num_experts} K={top_k} "
             f"{t_label(tokens)} f32" + (f" {index}" if index != "i32"
                                         else ""), "f32", quick)
    rng = c.rng
    scores = ref.softmax(normal(rng, (t, num_experts), 2.0))
    ss, sv = c.arg("s", scores, "f32", dyn)
    idx = ref.topk(sv, top_k)[1]
    is_, iv = c.arg("i", idx, index, dyn)
    c.lines.append(f"{c.v('l')} = moe.load_balancing_loss {ss}, {is_} : "
                   f"({ttype((t, num_experts), 'f32', dyn)}, "
                   f"{ttype((t, top_k), index, dyn)}) -> f32")
    c.scalar_result("loss", c.v("l"), ref.load_balancing_loss(sv, iv),
                    F32_TOL)
    return c


def z_loss_case(num_experts, tokens, quick=True):
    t, dyn = tokens_of(tokens)
    c = Case("loss", f"router_z E={num_experts} {t_label(tokens)} f32",
             "f32", quick)
    logits = normal(c.rng, (t, num_experts), 3.0)
    ls, lv = c.arg("l", logits, "f32", dyn)
    c.lines.append(f"{c.v('z')} = moe.router_z_loss {ls} : "
                   f"({ttype((t, num_experts), 'f32', dyn)}) -> f32")
    c.scalar_result("loss", c.v("z"), ref.router_z_loss(lv), F32_TOL)
    return c


def loss_cases():
    return [
        lb_loss_case(8, 2, 33), lb_loss_case(64, 8, 257, quick=False),
        lb_loss_case(2, 1, "dyn"), lb_loss_case(64, 6, 1),
        lb_loss_case(8, 8, 33, index="i64"),
        z_loss_case(8, 33), z_loss_case(64, 257, quick=False),
        z_loss_case(1, "dyn"), z_loss_case(2, 1),
    ]


# ----------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------


def emit(cases, entry):
    args = [(ssa, t) for c in cases for ssa, t, _ in c.args]
    results = [r for c in cases for r in c.results]
    lines = [f"func.func @{entry}(" +
             ", ".join(f"{ssa}: {t}" for ssa, t in args) + ") -> (" +
             ", ".join(r.type for r in results) + ") {"]
    for c in cases:
        lines.append(f"  // {c.name}")
        lines += ["  " + line for line in c.lines]
    lines.append("  return " + ", ".join(r.ssa for r in results) + " : " +
                 ", ".join(r.type for r in results))
    lines.append("}")
    return "\n".join(lines) + "\n"


def spawn(command, timeout):
    """subprocess.run, retried a few times while the binary cannot be
    executed (a build relinking it)."""
    for attempt in range(4):
        try:
            return subprocess.run(command, capture_output=True, text=True,
                                  timeout=timeout)
        except OSError as error:
            if attempt == 3:
                raise RuntimeError(f"cannot run {command[0]}: {error}")
            time.sleep(5)


def import_moe_cuda():
    """scripts/gpu/moe_cuda.py, the runner of CUDA-compiled models."""
    scripts = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "..", "..", "..", "scripts", "gpu")
    sys.path.insert(0, os.path.normpath(scripts))
    import moe_cuda  # noqa: E402
    return moe_cuda


_CUDA_RUNTIME = []
_CUDA_RUNTIME_LOCK = threading.Lock()


def cuda_runtime(args):
    """The runtime libraries of the bundle, loaded once per process."""
    with _CUDA_RUNTIME_LOCK:
        if not _CUDA_RUNTIME:
            lib_dir = args.runtime_lib or os.path.join(args.bundle, "lib")
            _CUDA_RUNTIME.append(import_moe_cuda().Runtime(lib_dir))
        return _CUDA_RUNTIME[0]


class Runner:
    def __init__(self, args, work):
        self.args, self.work = args, work

    def run_group(self, cases, tag):
        """Runs one function holding `cases`; returns {case: (problems,
        max_abs, max_rel)} or raises RuntimeError with moe-run's output."""
        folder = os.path.join(self.work, tag)
        os.makedirs(folder, exist_ok=True)
        entry = tag.replace("-", "_")
        path = os.path.join(folder, f"{tag}.mlir")
        with open(path, "w") as f:
            f.write(emit(cases, entry))
        if self.args.bundle and self.args.prepare:
            self.prepare_bundle(path, tag)
            return {c: ([], 0.0, 0.0) for c in cases}
        run_path = path
        if self.args.pipeline != "moe-cpu-pipeline" and \
                not self.args.compile_only:
            # Lowered by another pipeline first (the GPU pipeline's kernels
            # emulated on the host); moe-run runs the llvm-dialect result.
            run_path = os.path.join(folder, f"{tag}.lowered.mlir")
            lower = [self.args.moe_opt, path, f"--{self.args.pipeline}",
                     "-o", run_path]
            proc = spawn(lower, self.args.timeout)
            if proc.returncode != 0:
                raise RuntimeError(
                    f"exit {proc.returncode}: {' '.join(lower)}\n" +
                    (proc.stdout + proc.stderr).strip()[-3000:])
        command = [self.args.moe_run, run_path, f"--entry={entry}"]
        inputs = []
        for c in cases:
            for _, _, array in c.args:
                npy = os.path.join(folder, f"in{len(inputs)}.npy")
                np.save(npy, array)
                inputs.append(npy)
                command += ["-i", npy]
        out = os.path.join(folder, "out")
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        command += ["-o", out] + self.args.moe_run_arg
        if self.args.bundle:
            self.run_bundle(entry, tag, inputs, out)
            return self.compare(cases, out)
        if self.args.compile_only:
            command = [self.args.moe_opt, path, f"--{self.args.pipeline}",
                       "-o", os.devnull]
        proc = spawn(command, self.args.timeout)
        if proc.returncode != 0:
            raise RuntimeError(
                f"exit {proc.returncode}: {' '.join(command[:3])} ...\n" +
                (proc.stdout + proc.stderr).strip()[-3000:])
        return self.compare(cases, out)

    def prepare_bundle(self, path, tag):
        """Compiles the function of `path` for the GPU run of the sweep
        (scripts/gpu/): BUNDLE/TAG.so and its header BUNDLE/TAG.h, by
        moe-compile --target=cuda; with --bundle-emulated, its kernels
        emulated on the host instead (to test the flow without a GPU)."""
        bundle = self.args.bundle
        library = os.path.join(bundle, f"{tag}.so")
        header = os.path.join(bundle, f"{tag}.h")
        commands = []
        if self.args.bundle_emulated:
            lowered = os.path.join(bundle, f"{tag}.lowered.mlir")
            commands.append([self.args.moe_opt, path,
                             "--moe-gpu-pipeline=emulate-on-host",
                             "-o", lowered])
            commands.append([self.args.moe_compile, lowered, "--emit=shared",
                             "-o", library, "--header", header])
        else:
            commands.append([self.args.moe_compile, path, "--target=cuda",
                             "--emit=shared", "-o", library,
                             "--header", header])
        for command in commands:
            proc = spawn(command, self.args.timeout)
            if proc.returncode != 0:
                raise RuntimeError(
                    f"exit {proc.returncode}: {' '.join(command)}\n" +
                    (proc.stdout + proc.stderr).strip()[-3000:])

    def run_bundle(self, entry, tag, inputs, out):
        """Runs BUNDLE/TAG.so (prepared on the development machine) on the
        GPU through scripts/gpu/moe_cuda.py with the .npy files `inputs`;
        writes the results as OUT/result<i>.npy, as moe-run would."""
        library = os.path.join(self.args.bundle, f"{tag}.so")
        header = os.path.join(self.args.bundle, f"{tag}.h")
        if not os.path.exists(library):
            raise RuntimeError(
                f"{library} is missing: prepare the bundle with the same "
                "--only/--exclude/--quick/--group as this run")
        arguments = [np.load(path) for path in inputs]
        cuda = import_moe_cuda()
        model = cuda.Model(cuda_runtime(self.args), library, header)
        for index, array in enumerate(model.call(entry, arguments)):
            np.save(os.path.join(out, f"result{index}.npy"), array)

    def compare(self, cases, out):
        outcome = {}
        index = 0
        for c in cases:
            problems, max_abs, max_rel = [], 0.0, 0.0
            for r in c.results:
                if self.args.compile_only:
                    continue
                npy = os.path.join(out, f"result{index}.npy")
                index += 1
                if not os.path.exists(npy):
                    problems.append(f"{r.name}: no {os.path.basename(npy)}")
                    continue
                p, a, rl = r.check(np.load(npy))
                problems += p
                max_abs, max_rel = max(max_abs, a), max(max_rel, rl)
            outcome[c] = (problems, max_abs, max_rel)
        return outcome


def run_cases(cases, args, work):
    runner = Runner(args, work)
    groups = []
    by_cat = {}
    for c in cases:
        by_cat.setdefault(c.category, []).append(c)
    for cat, items in by_cat.items():
        size = args.group or GROUP_SIZE.get(cat, 8)
        for i in range(0, len(items), size):
            groups.append((f"{cat}-{i // size}", items[i:i + size]))

    def run_one(tag, items):
        try:
            return runner.run_group(items, tag)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            if len(items) == 1:
                return {items[0]: ([f"moe-run failed: {error}"], 0.0, 0.0)}
            # Find the configurations that fail on their own.
            outcome = {}
            for j, c in enumerate(items):
                outcome.update(run_one(f"{tag}-{j}", [c]))
            return outcome

    results = {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_one, tag, items) for tag, items in groups]
        for future in futures:
            results.update(future.result())
    return results


GROUP_SIZE = {"topk": 16, "route": 12, "dispatch": 12, "experts": 8,
              "combine": 12, "layer": 4, "repeat": 4, "peer": 5, "loss": 10}


def determinism_function(c, runs):
    """The layer of case `c` once on x (result 0), then `runs` - 1 more
    times in an scf.for on x + zeros[i] (a run-time zero, so that no pass
    can hoist the layer out of the loop), counting the elements whose bits
    differ from the first result (result 1, tensor<1xi64>)."""
    layer = c.lines[0]
    x_ssa, x_t, _ = c.args[0]
    y_ssa = c.results[0].ssa
    lines = [layer,
             "%c0 = arith.constant 0 : index",
             "%c1 = arith.constant 1 : index",
             f"%cn = arith.constant {runs - 1} : index",
             "%z64 = arith.constant 0 : i64",
             "%count = scf.for %i = %c0 to %cn step %c1 iter_args("
             "%acc = %z64) -> (i64) {",
             f"  %zero = tensor.extract %zeros[%i] : tensor<{runs}xf32>",
             f"  %e = tensor.empty() : {x_t}",
             "  %xi = linalg.generic {indexing_maps = [affine_map<(i, j) -> "
             "(i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = "
             "[\"parallel\", \"parallel\"]} "
             f"ins({x_ssa} : {x_t}) outs(%e : {x_t}) {{",
             "  ^bb0(%a: f32, %o: f32):",
             "    %s = arith.addf %a, %zero : f32",
             "    linalg.yield %s : f32",
             f"  }} -> {x_t}",
             "  " + layer.replace(y_ssa + " =", "%yi =", 1).replace(
                 f"moe.layer {x_ssa} ", "moe.layer %xi ", 1),
             "  %ce = tensor.empty() : tensor<i64>",
             "  %cz = linalg.fill ins(%z64 : i64) outs(%ce : tensor<i64>) -> "
             "tensor<i64>",
             "  %diff = linalg.generic {indexing_maps = [affine_map<(i, j) -> "
             "(i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> "
             "()>], iterator_types = [\"reduction\", \"reduction\"]} "
             f"ins(%yi, {y_ssa} : {x_t}, {x_t}) outs(%cz : tensor<i64>) {{",
             "  ^bb0(%p: f32, %q: f32, %n: i64):",
             "    %pb = arith.bitcast %p : f32 to i32",
             "    %qb = arith.bitcast %q : f32 to i32",
             "    %ne = arith.cmpi ne, %pb, %qb : i32",
             "    %one = arith.extui %ne : i1 to i64",
             "    %m = arith.addi %n, %one : i64",
             "    linalg.yield %m : i64",
             "  } -> tensor<i64>",
             "  %dv = tensor.extract %diff[] : tensor<i64>",
             "  %acc2 = arith.addi %acc, %dv : i64",
             "  scf.yield %acc2 : i64",
             "}",
             "%ct = tensor.empty() : tensor<1xi64>",
             "%cnt = tensor.insert %count into %ct[%c0] : tensor<1xi64>"]
    args = [f"{ssa}: {ty}" for ssa, ty, _ in c.args] + [
        f"%zeros: tensor<{runs}xf32>"]
    out_t = c.results[0].type
    return (f"func.func @determinism({', '.join(args)}) -> ({out_t}, "
            f"tensor<1xi64>) {{\n" + "\n".join("  " + l for l in lines) +
            f"\n  return {y_ssa}, %cnt : {out_t}, tensor<1xi64>\n}}\n")


def determinism(args, work, runs, processes=3):
    """One moe.layer (OLMoE-like, E=64 K=8 T=257, multi-threaded) run
    `runs` times in one compiled function, and the whole function in
    `processes` separate moe-run processes: every output must be bitwise
    identical to the first (which must match the reference)."""
    c = layer_case("determinism", 64, 8, 257, normalize=True)
    folder = os.path.join(work, "determinism")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "determinism.mlir")
    with open(path, "w") as f:
        f.write(determinism_function(c, runs))
    inputs = []
    arrays = [a for _, _, a in c.args] + [np.zeros(runs, dtype="<f4")]
    for n, array in enumerate(arrays):
        npy = os.path.join(folder, f"in{n}.npy")
        np.save(npy, array)
        inputs += ["-i", npy]
    first = None
    problems = []
    for i in range(processes):
        out = os.path.join(folder, f"out{i}")
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        try:
            proc = spawn([args.moe_run, path, "--entry=determinism", *inputs,
                          "-o", out] + args.moe_run_arg, args.timeout)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            return [f"process {i}: {error}"]
        if proc.returncode != 0:
            return [f"process {i}: moe-run failed:\n" +
                    (proc.stdout + proc.stderr)[-3000:]]
        data = open(os.path.join(out, "result0.npy"), "rb").read()
        count = int(np.load(os.path.join(out, "result1.npy"))[0])
        if count:
            problems.append(f"process {i}: {count} elements of calls 2.."
                            f"{runs} differ bitwise from call 1")
        if first is None:
            first = data
            bad, _, _ = c.results[0].check(
                np.load(os.path.join(out, "result0.npy")))
            if bad:
                problems.append("call 1 does not match the reference: " +
                                bad[0])
        elif data != first:
            problems.append(f"process {i}: the result differs bitwise from "
                            "process 0's")
    return problems


def all_cases():
    return (topk_cases() + route_cases() + dispatch_cases() +
            experts_cases() + combine_cases() + layer_cases() +
            repeat_cases() + peer_cases() + loss_cases())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moe-run", default=os.path.join(
        HERE, "..", "..", "..", "build", "bin", "moe-run"))
    parser.add_argument("--moe-opt", default=os.path.join(
        HERE, "..", "..", "..", "build", "bin", "moe-opt"))
    parser.add_argument("--pipeline", default="moe-cpu-pipeline",
                        help="the moe-opt pipeline (with options) that lowers "
                        "each module before moe-run runs it, e.g. "
                        "'moe-gpu-pipeline=emulate-on-host' (default: "
                        "moe-run's own CPU pipeline)")
    parser.add_argument("--moe-compile", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
        "build", "bin", "moe-compile"))
    parser.add_argument("--bundle", help="a directory of models compiled "
                        "for the GPU run (scripts/gpu/): with --prepare, "
                        "compile every group into it (moe-compile "
                        "--target=cuda); without, run its models on the GPU "
                        "instead of moe-run")
    parser.add_argument("--prepare", action="store_true",
                        help="with --bundle: compile, do not run")
    parser.add_argument("--bundle-emulated", action="store_true",
                        help="with --prepare: compile the kernels emulated "
                        "on the host (moe-gpu-pipeline emulate-on-host), to "
                        "test the bundle flow without a GPU")
    parser.add_argument("--runtime-lib", help="with --bundle: the directory "
                        "of libmoe_cuda_runtime.so, libmoe_runtime.so and "
                        "libomp.so.5 (default: BUNDLE/lib)")
    parser.add_argument("--moe-run-arg", action="append", default=[],
                        help="an extra argument for every moe-run call")
    parser.add_argument("--only", action="append", default=[],
                        help="categories (topk, route, dispatch, experts, "
                        "combine, layer, repeat, peer, loss, determinism) "
                        "or substrings of configuration names; repeatable")
    parser.add_argument("--exclude", action="append", default=[],
                        help="substrings of configuration names to skip")
    parser.add_argument("--quick", action="store_true",
                        help="a subset: about half the configurations")
    parser.add_argument("--list", action="store_true",
                        help="list the configurations and exit")
    parser.add_argument("--compile-only", action="store_true",
                        help="only run moe-opt --moe-cpu-pipeline on each "
                        "group (no moe-run)")
    parser.add_argument("--group", type=int, default=0,
                        help="configurations per function (default: per "
                        "category)")
    parser.add_argument("--jobs", "-j", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=300)
    parser.add_argument("--determinism-runs", type=int, default=100)
    parser.add_argument("--work", help="write the .mlir and .npy files "
                        "here (default: a temporary directory)")
    parser.add_argument("--strict", action="store_true",
                        help="count the KNOWN_FAILURES as failures too")
    parser.add_argument("--keep", action="store_true",
                        help="keep the files when everything passes too "
                        "(they are always kept on a failure)")
    args = parser.parse_args()

    start = time.time()
    cases = all_cases()
    names = set(CATEGORIES)
    cats = [o for o in args.only if o in names]
    subs = [o for o in args.only if o not in names]
    if args.only:
        cases = [c for c in cases if c.category in cats or
                 any(s in c.name for s in subs)]
    cases = [c for c in cases if not any(s in c.name for s in args.exclude)]
    if args.quick:
        cases = [c for c in cases if c.quick]
    # The determinism check runs moe-run processes: not in a bundle run.
    want_det = (not args.only or "determinism" in cats) and \
        "determinism" not in args.exclude and not args.bundle
    if args.bundle:
        os.makedirs(args.bundle, exist_ok=True)
    if args.list:
        for c in cases:
            print(f"{c.name}  [{c.dtype}]")
        print(f"{len(cases)} configurations" +
              (" + determinism" if want_det else ""))
        return 0
    work = args.work or tempfile.mkdtemp(prefix="moe-parity-")
    os.makedirs(work, exist_ok=True)
    results = run_cases(cases, args, work) if cases else {}
    passed = failed = xfailed = 0
    worst = {}
    for c in cases:
        problems, max_abs, max_rel = results[c]
        note = f" {c.note}" if c.note else ""
        known = None if args.strict else next(
            (why for key, why in KNOWN_FAILURES.items() if key in c.name),
            None)
        if known and problems:
            status = "XFAIL"
            xfailed += 1
        elif known:
            status = "XPASS"
            problems = [f"expected to fail ({known}); remove the entry "
                        "from KNOWN_FAILURES"]
            failed += 1
        elif problems:
            status = "FAIL"
            failed += 1
        elif args.bundle and args.prepare:
            status = "COMPILED"
            passed += 1
        else:
            status = "PASS"
            passed += 1
        print(f"{status} {c.name} max_abs={max_abs:.2e} "
              f"max_rel={max_rel:.2e}{note}")
        if status == "XFAIL":
            print(f"    known bug: {known}")
        for p in problems:
            print("    " + p.replace("\n", "\n    "))
        if not problems:
            a, r = worst.get(c.dtype, (0.0, 0.0))
            worst[c.dtype] = (max(a, max_abs), max(r, max_rel))
    if want_det and not args.compile_only:
        runs = args.determinism_runs
        problems = determinism(args, work, runs)
        status = "FAIL" if problems else "PASS"
        print(f"{status} determinism layer E=64 K=8 T=257 f32 calls={runs} "
              f"processes=3 bitwise")
        for p in problems:
            print("    " + p.replace("\n", "\n    "))
        passed += not problems
        failed += bool(problems)
    for dtype, (a, r) in sorted(worst.items()):
        if dtype != "exact":
            print(f"# worst {dtype} (passing configurations): "
                  f"max_abs={a:.2e} max_rel={r:.2e}")
    if failed or args.keep:
        print(f"# {time.time() - start:.1f} s, files in {work}")
    else:
        print(f"# {time.time() - start:.1f} s")
        shutil.rmtree(work, ignore_errors=True)
    if args.bundle and args.prepare:
        print(f"# compiled into {args.bundle}; run there with --bundle "
              f"{args.bundle} and the same selection")
        print(f"{passed} compiled, {failed} failed")
        return 1 if failed else 0
    print(f"{passed} passed, {failed} failed" +
          (f", {xfailed} expected failures" if xfailed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
