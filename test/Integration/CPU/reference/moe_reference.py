"""An independent float64 reference for the semantics of the moe dialect.

Pure numpy (Debian's python3-numpy 1.24), no MLIR: every function here is
written from DESIGN.md section 3 and docs/design.md, not from the lowering, so
that the parity sweep (../parity.py) compares the generated code with a second,
independent implementation.

Conventions:

* Inputs may be of any float dtype; everything is computed in float64.
  Integer results are int32 (int64 where an op is given i64 indices).
* Weights use the nn.Linear layout [out, in]: router [E, D], expert gate and
  up [E, F, D], expert down [E, D, F], shared gate and up [S*F_s, D], shared
  down [D, S*F_s], shared expert gate [1, D].
* The top-k order everywhere (moe.topk, the route selection, group selection,
  the score drop policy, PEER): value descending, then index ascending. NaN
  ranks as -inf (below every finite number, tied with -inf and then ordered
  by index), -0.0 == +0.0, and a row of all NaN selects 0..k-1. The values
  returned are the original values, NaN included.
* bf16 values are stored as uint16 arrays of their bits; `f32_to_bf16_bits`
  rounds to nearest even, as arith.truncf does.
"""

import math

import numpy as np

__all__ = [
    "ACTIVATIONS", "f32_to_bf16_bits", "bf16_bits_to_f32", "round_bf16",
    "round_f32", "ranking_key", "top_order", "topk", "softmax", "sigmoid",
    "erf", "gelu", "silu", "relu", "activation", "is_gated", "route",
    "capacity", "dispatch", "dispatch_dropless", "dispatch_capacity", "ffn",
    "experts", "combine", "shared_experts", "layer", "repeat", "peer",
    "load_balancing_loss", "router_z_loss", "logsumexp",
]

# ----------------------------------------------------------------------------
# bf16 and f32 helpers
# ----------------------------------------------------------------------------


def f32_to_bf16_bits(values):
    """float32 values -> uint16 bf16 bits, rounding to nearest even.

    float64 input is first rounded to float32 (values are f32 on the wire).
    NaN stays a (quiet) NaN of the same sign; infinities stay infinities;
    finite values past the bf16 range round to infinity, as RNE does.
    """
    f32 = np.ascontiguousarray(np.asarray(values, dtype=np.float32))
    bits = f32.view(np.uint32).astype(np.uint64)
    rounding_bias = ((bits >> 16) & 1) + 0x7FFF
    rounded = ((bits + rounding_bias) >> 16).astype(np.uint16)
    nan = np.isnan(f32)
    if np.any(nan):
        rounded[nan] = ((bits[nan] >> 16) | 0x0040).astype(np.uint16)
    return rounded


def bf16_bits_to_f32(bits):
    """uint16 bf16 bits -> float32 values (exact)."""
    wide = np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16
    return np.ascontiguousarray(wide).view(np.float32)


def round_bf16(values):
    """The float32 value nearest to `values` in bf16 (RNE), as float32."""
    return bf16_bits_to_f32(f32_to_bf16_bits(values))


def round_f32(values):
    """`values` rounded to float32 and widened back to float64."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def _f64(values):
    return np.asarray(values, dtype=np.float64)


# ----------------------------------------------------------------------------
# The top-k order
# ----------------------------------------------------------------------------


def ranking_key(values):
    """float64 keys of the top-k order: NaN -> -inf, -0.0 -> +0.0."""
    key = _f64(values) + 0.0  # -0.0 + 0.0 == +0.0
    return np.where(np.isnan(key), -np.inf, key)


def top_order(values, axis=-1):
    """Indices that sort `values` along `axis` in the top-k order.

    Value descending, then index ascending (a stable sort of the negated
    keys), NaN as -inf.
    """
    key = ranking_key(values)
    return np.argsort(-key, axis=axis, kind="stable")


def topk(values, k, index_dtype=np.int32):
    """moe.topk along the last dimension: (values, indices).

    The values keep the input dtype (NaN included); the order is the total
    order above, so ties go to the smaller index and an all-NaN row selects
    0..k-1.
    """
    values = np.asarray(values)
    if not 1 <= k <= values.shape[-1]:
        raise ValueError(f"k={k} outside [1, {values.shape[-1]}]")
    order = top_order(values)[..., :k]
    return (np.take_along_axis(values, order, axis=-1),
            order.astype(index_dtype))


def top_margin(values, k):
    """The smallest gap between consecutive ranked values among the best
    k+1 (or all) of each row of `values` (float64, NaN as -inf), relative to
    the largest magnitude. A row whose margin is tiny could rank differently
    in f32 than in f64. Returns one margin per row."""
    key = ranking_key(values)
    order = np.argsort(-key, axis=-1, kind="stable")
    ranked = np.take_along_axis(key, order, axis=-1)[..., :k + 1]
    if ranked.shape[-1] < 2:
        return np.full(ranked.shape[:-1], np.inf)
    with np.errstate(invalid="ignore"):
        gaps = ranked[..., :-1] - ranked[..., 1:]
    gaps = np.where(np.isnan(gaps), 0.0, gaps)  # -inf - -inf: a tie
    finite = np.where(np.isfinite(ranked), np.abs(ranked), 0.0)
    magnitude = np.maximum(finite.max(axis=-1), 1e-30)
    return gaps.min(axis=-1) / magnitude


# ----------------------------------------------------------------------------
# Elementwise functions (float64)
# ----------------------------------------------------------------------------

_erf = np.frompyfunc(math.erf, 1, 1)


def erf(values):
    values = _f64(values)
    return np.asarray(_erf(values), dtype=np.float64)


def softmax(logits, axis=-1):
    logits = _f64(logits)
    shifted = logits - np.max(logits, axis=axis, keepdims=True)
    exps = np.exp(shifted)
    return exps / np.sum(exps, axis=axis, keepdims=True)


def logsumexp(logits, axis=-1):
    logits = _f64(logits)
    maximum = np.max(logits, axis=axis, keepdims=True)
    total = np.log(np.sum(np.exp(logits - maximum), axis=axis, keepdims=True))
    return np.squeeze(maximum + total, axis=axis)


def sigmoid(values):
    values = _f64(values)
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-values))


def relu(values):
    return np.maximum(_f64(values), 0.0)


def silu(values):
    values = _f64(values)
    return values * sigmoid(values)


def gelu(values):
    """The exact GELU: 0.5 v (1 + erf(v / sqrt 2))."""
    values = _f64(values)
    return 0.5 * values * (1.0 + erf(values / math.sqrt(2.0)))


ACTIVATIONS = ("silu_glu", "gelu_glu", "relu", "gelu", "silu")
_ACT = {"silu_glu": silu, "gelu_glu": gelu, "relu": relu, "gelu": gelu,
        "silu": silu}


def is_gated(name):
    return name in ("silu_glu", "gelu_glu")


def activation(name, values):
    return _ACT[name](values)


# ----------------------------------------------------------------------------
# moe.route
# ----------------------------------------------------------------------------


def _group_mask(sel, n_group, topk_group, group_score):
    """Experts outside the best `topk_group` of `n_group` contiguous groups
    get -inf (step 4 of moe.route). `sel` is T x E float64."""
    tokens, num_experts = sel.shape
    if num_experts % n_group:
        raise ValueError("num_experts must be divisible by n_group")
    size = num_experts // n_group
    keys = ranking_key(sel).reshape(tokens, n_group, size)
    ranked = -np.sort(-keys, axis=-1)  # descending within each group
    if group_score == "top2_sum":
        if size < 2:
            raise ValueError("top2_sum needs groups of at least 2 experts")
        group = ranked[..., 0] + ranked[..., 1]
    elif group_score == "max":
        group = ranked[..., 0]
    else:
        raise ValueError(f"unknown group_score {group_score}")
    kept = top_order(group)[:, :topk_group]
    keep = np.zeros((tokens, n_group), dtype=bool)
    np.put_along_axis(keep, kept, True, axis=-1)
    keep = np.repeat(keep, size, axis=-1)
    return np.where(keep, sel, -np.inf), group


def route(x, router, top_k, score="softmax", normalize=False, scale=1.0,
          n_group=1, topk_group=1, group_score="top2_sum", bias=None,
          details=False):
    """moe.route: (weights T x K float64, indices T x K int32, scores T x E).

    With `details`, also returns a dict with the logits, the selection
    scores after the group mask, the group scores, and `margin`: per token
    the smallest relative gap between consecutive ranked values among the
    best K+1 selection scores (and among the best topk_group+1 group
    scores), for tie-free input generation.
    """
    logits = _f64(x) @ _f64(router).T
    if score == "softmax":
        scores = softmax(logits)
    elif score == "sigmoid":
        scores = sigmoid(logits)
    elif score == "softmax_topk":
        scores = logits.copy()
    else:
        raise ValueError(f"unknown score {score}")
    tokens, num_experts = scores.shape
    if not 1 <= top_k <= num_experts:
        raise ValueError("top_k outside [1, E]")
    sel = scores if bias is None else scores + _f64(bias)[None, :]
    group = None
    if n_group > 1:
        sel, group = _group_mask(sel, n_group, topk_group, group_score)
    order = top_order(sel)[:, :top_k]
    indices = order.astype(np.int32)
    if score == "softmax_topk":
        weights = softmax(np.take_along_axis(logits, order, axis=-1))
    else:
        weights = np.take_along_axis(scores, order, axis=-1)
    if normalize:
        total = weights.sum(axis=-1, keepdims=True)
        nonzero = total != 0.0
        weights = np.where(nonzero, weights / np.where(nonzero, total, 1.0),
                           weights)
    weights = weights * float(np.float32(scale))
    if not details:
        return weights, indices, scores
    margin = top_margin(sel, top_k)
    if group is not None:
        margin = np.minimum(margin, top_margin(group, topk_group))
    return weights, indices, scores, {
        "logits": logits, "selection": sel, "group_scores": group,
        "margin": margin}


# ----------------------------------------------------------------------------
# moe.dispatch
# ----------------------------------------------------------------------------


def capacity(tokens, top_k, num_experts, capacity_factor, min_capacity=0):
    """C = min(T, max(min_capacity, ceil(capacity_factor * T * K / E))),
    the product and quotient in float64, left to right, then ceil."""
    raw = math.ceil(float(capacity_factor) * tokens * top_k / num_experts)
    return int(min(tokens, max(min_capacity, raw)))


def _assignments(indices, num_experts):
    """The valid (token, slot, expert) assignments in (token, slot) order."""
    indices = np.asarray(indices)
    tokens, top_k = indices.shape
    result = []
    for t in range(tokens):
        for k in range(top_k):
            e = int(indices[t, k])
            if 0 <= e < num_experts:
                result.append((t, k, e))
    return result


def dispatch_dropless(x, indices, num_experts):
    """Dropless moe.dispatch: (rows (T*K) x D, offsets E+1 int32,
    row_of T x K int32). Rows are sorted stably by (expert, token, slot);
    assignments to experts outside [0, E) are ignored (row_of -1, and the
    rows past the last valid assignment stay zero)."""
    x = np.asarray(x)
    indices = np.asarray(indices)
    tokens, top_k = indices.shape
    rows = np.zeros((tokens * top_k, x.shape[1]), dtype=np.float64)
    row_of = np.full((tokens, top_k), -1, dtype=np.int32)
    assignments = _assignments(indices, num_experts)
    counts = np.zeros(num_experts, dtype=np.int64)
    for _, _, e in assignments:
        counts[e] += 1
    offsets = np.zeros(num_experts + 1, dtype=np.int32)
    offsets[1:] = np.cumsum(counts)
    cursor = offsets[:-1].astype(np.int64).copy()
    for t, k, e in sorted(assignments, key=lambda a: (a[2], a[0], a[1])):
        rows[cursor[e]] = x[t]
        row_of[t, k] = cursor[e]
        cursor[e] += 1
    return rows, offsets, row_of


def dispatch_capacity(x, indices, num_experts, capacity_factor,
                      min_capacity=0, drop_policy="position", weights=None):
    """Capacity moe.dispatch: (buffer E x C x D, counts E int32,
    row_of T x K int32 holding e*C + pos or -1).

    position: an expert keeps its first C assignments in (token, slot)
    order. score: it keeps the C assignments of highest routing weight
    (ties: earlier token, then earlier slot; NaN ranks as -inf). In both
    policies the survivors of an expert are placed in (token, slot) order:
    pos is the rank among the survivors in that order. Rows past the count
    are zero.
    """
    x = np.asarray(x)
    indices = np.asarray(indices)
    tokens, top_k = indices.shape
    cap = capacity(tokens, top_k, num_experts, capacity_factor, min_capacity)
    buffer = np.zeros((num_experts, cap, x.shape[1]), dtype=np.float64)
    counts = np.zeros(num_experts, dtype=np.int32)
    row_of = np.full((tokens, top_k), -1, dtype=np.int32)
    per_expert = [[] for _ in range(num_experts)]
    for t, k, e in _assignments(indices, num_experts):
        per_expert[e].append((t, k))
    for e, items in enumerate(per_expert):
        if drop_policy == "position":
            survivors = items[:cap]
        elif drop_policy == "score":
            if weights is None:
                raise ValueError("drop_policy score needs weights")
            key = ranking_key(np.asarray(weights))
            ranked = sorted(items, key=lambda a: (-key[a[0], a[1]], a[0], a[1]))
            survivors = sorted(ranked[:cap])
        else:
            raise ValueError(f"unknown drop_policy {drop_policy}")
        for pos, (t, k) in enumerate(survivors):
            buffer[e, pos] = x[t]
            row_of[t, k] = e * cap + pos
        counts[e] = len(survivors)
    return buffer, counts, row_of


def dispatch(x, indices, num_experts, mode="dropless", capacity_factor=None,
             min_capacity=0, drop_policy="position", weights=None):
    if mode == "dropless":
        return dispatch_dropless(x, indices, num_experts)
    if mode == "capacity":
        return dispatch_capacity(x, indices, num_experts, capacity_factor,
                                 min_capacity, drop_policy, weights)
    raise ValueError(f"unknown mode {mode}")


# ----------------------------------------------------------------------------
# moe.experts, moe.combine
# ----------------------------------------------------------------------------


def ffn(rows, gate, up, down, act):
    """One FFN in the nn.Linear layout: gated
    (act(r W_g^T) * (r W_u^T)) W_d^T, or act(r W_u^T) W_d^T."""
    rows = _f64(rows)
    if is_gated(act):
        hidden = activation(act, rows @ _f64(gate).T) * (rows @ _f64(up).T)
    else:
        hidden = activation(act, rows @ _f64(up).T)
    return hidden @ _f64(down).T


def experts(rows, segments, gate_proj, up_proj, down_proj, act):
    """moe.experts in either layout. Dropless: rows R x D with E+1 offsets
    (clamped to [0, R]); capacity: rows E x C x D with E counts (clamped to
    [0, C]). Rows not covered by any expert are zero."""
    rows = _f64(rows)
    segments = np.asarray(segments).astype(np.int64)
    num_experts = np.asarray(up_proj).shape[0]
    out = np.zeros_like(rows)
    gate = [None] * num_experts if gate_proj is None else gate_proj
    if rows.ndim == 2:
        total = rows.shape[0]
        for e in range(num_experts):
            start = min(max(segments[e], 0), total)
            end = min(max(segments[e + 1], 0), total)
            if end > start:
                out[start:end] = ffn(rows[start:end], gate[e], up_proj[e],
                                     down_proj[e], act)
    else:
        cap = rows.shape[1]
        for e in range(num_experts):
            count = min(max(segments[e], 0), cap)
            if count > 0:
                out[e, :count] = ffn(rows[e, :count], gate[e], up_proj[e],
                                     down_proj[e], act)
    return out


def combine(rows, weights, row_of):
    """moe.combine: y[t] = sum_k weights[t, k] rows[row_of[t, k]], skipping
    row_of outside [0, rows) (-1 = dropped). A rank-3 `rows` (E x C x D) is
    addressed as E*C rows."""
    rows = _f64(rows)
    if rows.ndim == 3:
        rows = rows.reshape(-1, rows.shape[-1])
    weights = _f64(weights)
    row_of = np.asarray(row_of)
    tokens, top_k = row_of.shape
    out = np.zeros((tokens, rows.shape[1]), dtype=np.float64)
    for t in range(tokens):
        for k in range(top_k):
            r = int(row_of[t, k])
            if 0 <= r < rows.shape[0]:
                out[t] += weights[t, k] * rows[r]
    return out


# ----------------------------------------------------------------------------
# moe.layer, moe.repeat
# ----------------------------------------------------------------------------


def shared_experts(x, shared_gate, shared_up, shared_down, act,
                   shared_expert_gate=None):
    """The always-on shared FFN, times sigmoid(x w_sg^T) (Qwen-MoE) when a
    shared expert gate [1, D] is given."""
    out = ffn(x, shared_gate, shared_up, shared_down, act)
    if shared_expert_gate is not None:
        out = out * sigmoid(_f64(x) @ _f64(shared_expert_gate).T)
    return out


def layer(x, router, gate_proj, up_proj, down_proj, top_k, act,
          score="softmax", normalize=False, scale=1.0, n_group=1,
          topk_group=1, group_score="top2_sum", bias=None, mode="dropless",
          capacity_factor=None, min_capacity=0, drop_policy="position",
          shared_gate=None, shared_up=None, shared_down=None,
          shared_expert_gate=None, details=False):
    """moe.layer = route + dispatch + experts + combine (+ shared FFN).

    With `details`, returns (y, dict) where the dict holds the route and
    dispatch results (weights, indices, scores, margin, rows, segments,
    row_of)."""
    num_experts = np.asarray(router).shape[0]
    weights, indices, scores, info = route(
        x, router, top_k, score, normalize, scale, n_group, topk_group,
        group_score, bias, details=True)
    rows, segments, row_of = dispatch(
        x, indices, num_experts, mode, capacity_factor, min_capacity,
        drop_policy, weights if drop_policy == "score" else None)
    out = experts(rows, segments, gate_proj, up_proj, down_proj, act)
    y = combine(out, weights, row_of)
    if shared_up is not None:
        y = y + shared_experts(x, shared_gate, shared_up, shared_down, act,
                               shared_expert_gate)
    if not details:
        return y
    info.update(weights=weights, indices=indices, scores=scores, rows=rows,
                segments=segments, row_of=row_of)
    return y, info


def repeat(count, inits, body):
    """moe.repeat: applies `body` (a callable taking and returning the
    loop-carried values, a tuple or a single array) `count` times."""
    if count < 1:
        raise ValueError("count must be >= 1")
    single = not isinstance(inits, (tuple, list))
    values = (inits,) if single else tuple(inits)
    for _ in range(count):
        result = body(*values)
        values = (result,) if not isinstance(result, (tuple, list)) \
            else tuple(result)
    return values[0] if single else values


# ----------------------------------------------------------------------------
# moe.peer
# ----------------------------------------------------------------------------


def peer(x, query_weight, keys, down_embed, up_embed, heads, top_k,
         act="relu", score="softmax", query_bias=None, details=False):
    """moe.peer (product-key experts). Per token and head: q = W_q x (+b);
    the head's slice of width Dk in halves q1, q2; sub-key scores
    s1 = keys[h,0] q1, s2 = keys[h,1] q2 (keys H x 2 x n x Dk/2, or
    2 x n x Dk/2 shared); top-k of each half; the k*k sums, candidate (a, b)
    at index a*k + b; their top-k in the top-k order; expert i*n + j;
    g = softmax or relu of the selected sums;
    y += sum_k g_k * act(u_e . x) * v_e.

    With `details`, also returns the per token/head experts, gates and
    the smallest relative ranking margin (for tie-free generation)."""
    x = _f64(x)
    keys = _f64(keys)
    u = _f64(down_embed)
    v = _f64(up_embed)
    shared = keys.ndim == 3
    num_sub = keys.shape[-2]
    half = keys.shape[-1]
    dk = 2 * half
    q = x @ _f64(query_weight).T
    if query_bias is not None:
        q = q + _f64(query_bias)[None, :]
    tokens = x.shape[0]
    y = np.zeros_like(x)
    experts_out = np.zeros((tokens, heads, top_k), dtype=np.int64)
    gates_out = np.zeros((tokens, heads, top_k), dtype=np.float64)
    margin = np.full(tokens, np.inf)
    for t in range(tokens):
        for h in range(heads):
            qh = q[t, h * dk:(h + 1) * dk]
            k1 = keys[0] if shared else keys[h, 0]
            k2 = keys[1] if shared else keys[h, 1]
            s1 = k1 @ qh[:half]
            s2 = k2 @ qh[half:]
            v1, i1 = topk(s1, top_k)
            v2, i2 = topk(s2, top_k)
            cand = (v1[:, None] + v2[None, :]).reshape(-1)
            cv, ci = topk(cand, top_k)
            a = ci // top_k
            b = ci % top_k
            e = i1[a].astype(np.int64) * num_sub + i2[b]
            if score == "softmax":
                g = softmax(cv)
            elif score == "relu":
                g = relu(cv)
            else:
                raise ValueError(f"unknown peer score {score}")
            coeff = g * activation(act, u[e] @ x[t])
            y[t] += coeff @ v[e]
            experts_out[t, h] = e
            gates_out[t, h] = g
            margin[t] = min(margin[t], top_margin(s1, top_k),
                            top_margin(s2, top_k), top_margin(cand, top_k))
    if not details:
        return y
    return y, {"experts": experts_out, "gates": gates_out, "margin": margin,
               "query": q}


# ----------------------------------------------------------------------------
# Auxiliary losses
# ----------------------------------------------------------------------------


def load_balancing_loss(scores, indices):
    """E * sum_e f_e P_e: f_e the fraction of the T*K assignments that went
    to e (indices outside [0, E) count in T*K but for no expert), P_e the
    mean over tokens of scores[:, e]."""
    scores = _f64(scores)
    indices = np.asarray(indices)
    tokens, num_experts = scores.shape
    top_k = indices.shape[1]
    counts = np.zeros(num_experts)
    for e in indices.reshape(-1):
        if 0 <= e < num_experts:
            counts[int(e)] += 1
    fraction = counts / (tokens * top_k)
    mean = scores.mean(axis=0)
    return float(num_experts * np.sum(fraction * mean))


def router_z_loss(logits):
    """The mean over tokens of logsumexp(logits[t, :])^2."""
    lse = logsumexp(logits)
    return float(np.mean(lse * lse))
