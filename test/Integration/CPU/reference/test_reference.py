"""Self-tests of the float64 reference (moe_reference.py): small cases
computed by hand, for ties, NaN, -0.0, capacity overflow, groups, the zero-sum
normalization, PEER's candidate order, the losses and the bf16 helpers.

Plain asserts; run as a script (/usr/bin/python3 test_reference.py). Prints
one line per test and `N passed, 0 failed` at the end.
"""

import math
import os
import sys
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moe_reference as ref  # noqa: E402

NAN = float("nan")
INF = float("inf")


def eq(got, want):
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    assert np.array_equal(got, want, equal_nan=got.dtype.kind == "f"), \
        f"\n got {got}\nwant {want}"


def close(got, want, tol=1e-12):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    assert np.allclose(got, want, rtol=tol, atol=tol, equal_nan=True), \
        f"\n got {got}\nwant {want}"


# --- moe.topk ----------------------------------------------------------------


def test_topk_ties_go_to_the_smaller_index():
    v, i = ref.topk(np.array([1.0, 3.0, 3.0, 2.0]), 2)
    eq(v, [3.0, 3.0])
    eq(i, [1, 2])
    v, i = ref.topk(np.array([[5.0, 5.0, 5.0], [0.0, 1.0, 1.0]]), 3)
    eq(i, [[0, 1, 2], [1, 2, 0]])
    eq(v, [[5.0, 5.0, 5.0], [1.0, 1.0, 0.0]])
    assert i.dtype == np.int32


def test_topk_nan_ranks_as_minus_infinity():
    x = np.array([NAN, 1.0, NAN, -INF, 0.0])
    v, i = ref.topk(x, 4)
    eq(i, [1, 4, 0, 2])
    eq(v, [1.0, 0.0, NAN, NAN])
    # NaN and -inf tie; the index decides.
    eq(ref.topk(np.array([-INF, NAN]), 2)[1], [0, 1])
    eq(ref.topk(np.array([NAN, -INF]), 2)[1], [0, 1])
    # Every number beats NaN, even the most negative one.
    eq(ref.topk(np.array([NAN, -3.0e38]), 1)[1], [1])


def test_topk_all_nan_row_selects_the_first_k():
    v, i = ref.topk(np.array([[NAN, NAN, NAN, NAN], [2.0, NAN, 1.0, NAN]]), 3)
    eq(i, [[0, 1, 2], [0, 2, 1]])
    assert np.isnan(v[0]).all()
    eq(v[1], [2.0, 1.0, NAN])


def test_topk_negative_zero_equals_positive_zero():
    v, i = ref.topk(np.array([-0.0, 0.0, -1.0]), 2)
    eq(i, [0, 1])
    assert math.copysign(1.0, v[0]) < 0  # the original value is returned
    eq(ref.topk(np.array([0.0, -0.0]), 2)[1], [0, 1])


def test_topk_keeps_the_dtype_and_supports_i64_indices():
    v, i = ref.topk(np.array([1, 2, 3], dtype=np.float32), 1,
                    index_dtype=np.int64)
    assert v.dtype == np.float32 and i.dtype == np.int64
    eq(i, [2])


def test_topk_rank3():
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)[..., ::-1]
    v, i = ref.topk(x, 2)
    eq(i, np.zeros((2, 3, 2), dtype=np.int32) + [0, 1])


# --- moe.route ---------------------------------------------------------------


def logits_router(logits):
    """x = the logits, router = I: moe.route sees exactly `logits`."""
    logits = np.asarray(logits, dtype=np.float64)
    return logits, np.eye(logits.shape[-1])


def test_route_softmax_normalize_scale():
    x, w = logits_router([[0.0, math.log(3), math.log(2), 0.0]])
    weights, indices, scores = ref.route(x, w, 2)
    close(scores, [[1 / 7, 3 / 7, 2 / 7, 1 / 7]])
    eq(indices, [[1, 2]])
    close(weights, [[3 / 7, 2 / 7]])
    weights, indices, _ = ref.route(x, w, 2, normalize=True, scale=2.0)
    close(weights, [[1.2, 0.8]])


def test_route_softmax_topk():
    x, w = logits_router([[0.0, math.log(3), math.log(2), 0.0]])
    weights, indices, scores = ref.route(x, w, 2, score="softmax_topk")
    eq(indices, [[1, 2]])
    close(weights, [[0.6, 0.4]])
    close(scores, x)  # the scores of softmax_topk are the logits
    weights, _, _ = ref.route(x, w, 1, score="softmax_topk")
    close(weights, [[1.0]])


def test_route_sigmoid_bias_only_changes_the_selection():
    x, w = logits_router([[0.0, 0.0, 0.0, math.log(3)]])
    bias = np.array([0.0, 0.1, -0.1, -0.3])
    weights, indices, _ = ref.route(x, w, 2, score="sigmoid", bias=bias)
    # s = [.5, .5, .5, .75]; sel = [.5, .6, .4, .45]
    eq(indices, [[1, 0]])
    close(weights, [[0.5, 0.5]])
    weights, indices, _ = ref.route(x, w, 2, score="sigmoid")
    eq(indices, [[3, 0]])
    close(weights, [[0.75, 0.5]])
    weights, _, _ = ref.route(x, w, 2, score="sigmoid", normalize=True)
    close(weights, [[0.6, 0.4]])


def test_route_ties_pick_the_smaller_expert():
    x, w = logits_router([[1.0, 1.0, 1.0, 1.0], [0.0, 2.0, 2.0, 2.0]])
    _, indices, _ = ref.route(x, w, 2)
    eq(indices, [[0, 1], [1, 2]])


def test_route_groups_top2_sum_and_max():
    logits = [[1.0, 9.0, 5.0, 5.0, 8.0, 0.0, 2.0, 7.0]]
    x, w = logits_router(logits)
    # groups (1,9) (5,5) (8,0) (2,7): top2_sum 10 10 8 9, max 9 5 8 7.
    weights, indices, _ = ref.route(x, w, 3, score="softmax_topk",
                                    n_group=4, topk_group=2,
                                    group_score="top2_sum")
    eq(indices, [[1, 2, 3]])  # groups 0 and 1 (10 == 10: the first wins)
    close(weights, ref.softmax(np.array([[9.0, 5.0, 5.0]])))
    _, indices, _ = ref.route(x, w, 3, score="softmax_topk", n_group=4,
                              topk_group=2, group_score="max")
    eq(indices, [[1, 4, 0]])  # groups 0 and 2
    _, indices, _ = ref.route(x, w, 2, score="softmax_topk", n_group=4,
                              topk_group=1, group_score="max")
    eq(indices, [[1, 0]])
    # With bias: the group scores use sel = s + bias.
    bias = np.array([0, 0, 0, 0, 0, 0, 4.0, 0])
    _, indices, _ = ref.route(x, w, 2, score="softmax_topk", n_group=4,
                              topk_group=1, group_score="top2_sum", bias=bias)
    eq(indices, [[7, 6]])  # group 3: 6 + 7 = 13; inside it 7 > 6
    # n_group == topk_group keeps everything.
    _, indices, _ = ref.route(x, w, 3, score="softmax_topk", n_group=4,
                              topk_group=4)
    eq(indices, [[1, 4, 7]])


def test_route_normalize_with_a_zero_sum_leaves_zeros():
    x, w = logits_router([[-1000.0, -1000.0, -1000.0]])
    weights, indices, _ = ref.route(x, w, 2, score="sigmoid", normalize=True,
                                    scale=2.0)
    eq(indices, [[0, 1]])
    eq(weights, [[0.0, 0.0]])


def test_route_one_expert():
    x, w = logits_router([[3.0], [-2.0]])
    weights, indices, scores = ref.route(x, w, 1, normalize=True)
    eq(indices, [[0], [0]])
    close(weights, [[1.0], [1.0]])
    close(scores, [[1.0], [1.0]])


def test_route_nan_logits_select_the_first_experts():
    x, w = logits_router([[1.0, NAN, 2.0]])
    weights, indices, _ = ref.route(x, w, 2)
    eq(indices, [[0, 1]])  # softmax is all NaN
    assert np.isnan(weights).all()


def test_route_margin_flags_near_ties():
    x, w = logits_router([[1.0, 1.0 + 1e-12, 0.0], [3.0, 2.0, 1.0]])
    _, _, _, info = ref.route(x, w, 1, score="softmax_topk", details=True)
    assert info["margin"][0] < 1e-9 and info["margin"][1] > 0.1


# --- moe.dispatch ------------------------------------------------------------


def test_capacity_formula():
    assert ref.capacity(8, 2, 4, 1.25) == 5
    assert ref.capacity(8, 2, 4, 0.5, 6) == 6
    assert ref.capacity(4, 2, 2, 4.0) == 4  # clamped to T
    assert ref.capacity(4, 2, 2, 0.1, 3) == 3
    assert ref.capacity(4, 2, 2, 0.1) == 1  # ceil(0.4)
    assert ref.capacity(1, 1, 64, 1.0) == 1
    assert ref.capacity(33, 2, 8, 1.0) == 9  # ceil(8.25)
    assert ref.capacity(10, 1, 10, 1e300) == 10
    assert ref.capacity(5, 1, 2, 1.0, 100) == 5


def test_dispatch_dropless_sorts_by_expert_token_slot():
    x = np.array([[10.0], [20.0], [30.0]])
    indices = np.array([[1, 0], [1, 1], [0, 2]], dtype=np.int32)
    rows, offsets, row_of = ref.dispatch_dropless(x, indices, 3)
    eq(offsets, [0, 2, 5, 6])
    eq(row_of, [[2, 0], [3, 4], [1, 5]])
    eq(rows[:, 0], [10, 30, 10, 20, 20, 30])
    assert offsets.dtype == np.int32 and row_of.dtype == np.int32


def test_dispatch_ignores_experts_out_of_range():
    x = np.array([[1.0], [2.0]])
    indices = np.array([[-1, 0], [2, 1]])
    rows, offsets, row_of = ref.dispatch_dropless(x, indices, 2)
    eq(offsets, [0, 1, 2])
    eq(row_of, [[-1, 0], [-1, 1]])
    eq(rows[:, 0], [1.0, 2.0, 0.0, 0.0])  # the unused rows stay zero
    buf, counts, row_of = ref.dispatch_capacity(x, indices, 2, 1.0)
    assert buf.shape == (2, 2, 1)  # C = min(T = 2, ceil(1 * 2 * 2 / 2))
    eq(counts, [1, 1])
    eq(row_of, [[-1, 0], [-1, 2]])  # e*C + pos with C = 2


def test_dispatch_capacity_position_drops_the_later_tokens():
    x = np.array([[1.0], [2.0], [3.0], [4.0]])
    indices = np.array([[0, 1], [0, 1], [0, 0], [1, 0]])
    buf, counts, row_of = ref.dispatch_capacity(x, indices, 2, 0.5)
    assert buf.shape == (2, 2, 1)  # C = ceil(0.5 * 4 * 2 / 2) = 2
    eq(counts, [2, 2])
    eq(row_of, [[0, 2], [1, 3], [-1, -1], [-1, -1]])
    eq(buf[..., 0], [[1.0, 2.0], [1.0, 2.0]])


def test_dispatch_capacity_score_keeps_the_heaviest():
    x = np.array([[1.0], [2.0], [3.0], [4.0]])
    indices = np.array([[0, 1], [0, 1], [0, 0], [1, 0]])
    weights = np.array([[0.1, 0.9], [0.2, 0.8], [0.5, 0.5], [0.7, 0.3]])
    buf, counts, row_of = ref.dispatch_capacity(
        x, indices, 2, 0.5, drop_policy="score", weights=weights)
    # Expert 0: (2,0) .5 and (2,1) .5 beat (3,1) .3; expert 1: .9, .8 > .7.
    eq(counts, [2, 2])
    eq(row_of, [[-1, 2], [-1, 3], [0, 1], [-1, -1]])
    eq(buf[..., 0], [[3.0, 3.0], [1.0, 2.0]])


def test_dispatch_capacity_score_survivors_keep_token_order():
    x = np.array([[1.0], [2.0], [3.0]])
    indices = np.array([[0], [0], [0]])
    weights = np.array([[0.1], [0.3], [0.2]])
    buf, counts, row_of = ref.dispatch_capacity(
        x, indices, 1, 0.67, drop_policy="score", weights=weights)
    # C = ceil(0.67 * 3 / 1) = ceil(2.01) = 3? No: 0.67*3 = 2.01 -> 3 = T.
    assert buf.shape[1] == 3
    buf, counts, row_of = ref.dispatch_capacity(
        x, indices, 1, 0.5, drop_policy="score", weights=weights)
    # C = ceil(1.5) = 2: tokens 1 (.3) and 2 (.2) survive, in token order.
    eq(counts, [2])
    eq(row_of, [[-1], [0], [1]])
    eq(buf[0, :, 0], [2.0, 3.0])


def test_dispatch_capacity_score_ties_go_to_the_earlier_token_and_slot():
    x = np.array([[1.0], [2.0], [3.0]])
    indices = np.array([[0, 0], [0, 1], [0, 1]])
    weights = np.array([[0.5, 0.5], [0.5, 0.5], [-0.0, 0.0]])
    _, counts, row_of = ref.dispatch_capacity(
        x, indices, 2, 0.25, min_capacity=2, drop_policy="score",
        weights=weights)
    # C = max(2, ceil(0.75)) = 2. Expert 0: (0,0) (0,1) (1,0) all .5 ->
    # (0,0), (0,1) win. Expert 1: (1,1) .5, (2,1) 0.0 -> both fit.
    eq(counts, [2, 2])
    eq(row_of, [[0, 1], [-1, 2], [-1, 3]])
    # NaN weights rank last.
    weights = np.array([[NAN, 0.1], [0.2, 0.5], [0.0, 0.0]])
    _, counts, row_of = ref.dispatch_capacity(
        x, indices, 2, 0.25, min_capacity=2, drop_policy="score",
        weights=weights)
    eq(row_of, [[-1, 0], [1, 2], [-1, 3]])


def test_dispatch_capacity_min_capacity_and_zero_rows():
    x = np.array([[1.0, -1.0], [2.0, -2.0]])
    indices = np.array([[1], [1]])
    buf, counts, row_of = ref.dispatch_capacity(x, indices, 4, 0.1,
                                                min_capacity=1)
    eq(counts, [0, 1, 0, 0])
    eq(row_of, [[1], [-1]])  # e*C + pos = 1*1 + 0
    eq(buf, [[[0, 0]], [[1, -1]], [[0, 0]], [[0, 0]]])


# --- moe.experts, moe.combine ------------------------------------------------


def test_activations():
    close(ref.gelu(np.array([1.0, -1.0, 0.0])),
          [0.8413447460685429, -0.15865525393145707, 0.0])
    close(ref.silu(np.array([1.0, 0.0])), [0.7310585786300049, 0.0])
    close(ref.relu(np.array([-2.0, 3.0])), [0.0, 3.0])
    close(ref.sigmoid(np.array([0.0, -1000.0])), [0.5, 0.0])


def test_experts_dropless_and_capacity():
    # D = 1, F = 1, two experts: gate g, up u, down d (scalars).
    gate = np.array([[[1.0]], [[2.0]]])
    up = np.array([[[3.0]], [[-1.0]]])
    down = np.array([[[0.5]], [[4.0]]])
    rows = np.array([[1.0], [2.0], [-1.0]])
    offsets = np.array([0, 1, 3])
    out = ref.experts(rows, offsets, gate, up, down, "silu_glu")
    want = [ref.silu(1.0) * 3.0 * 0.5, ref.silu(4.0) * -2.0 * 4.0,
            ref.silu(-2.0) * 1.0 * 4.0]
    close(out[:, 0], want)
    out = ref.experts(rows, offsets, None, up, down, "relu")
    close(out[:, 0], [1.5, 0.0, 4.0])
    out = ref.experts(rows, np.array([0, 1, 2]), None, up, down, "relu")
    close(out[:, 0], [1.5, 0.0, 0.0])  # row 2 belongs to no expert
    buf = np.array([[[1.0], [5.0]], [[2.0], [7.0]]])
    out = ref.experts(buf, np.array([1, 2]), gate, up, down, "gelu_glu")
    close(out[..., 0], [[ref.gelu(1.0) * 3.0 * 0.5, 0.0],
                        [ref.gelu(4.0) * -2.0 * 4.0,
                         ref.gelu(14.0) * -7.0 * 4.0]])
    out = ref.experts(buf, np.array([9, -1]), None, up, down, "gelu")
    # Counts are clamped to [0, C].
    close(out[..., 0], [[ref.gelu(3.0) * 0.5, ref.gelu(15.0) * 0.5],
                        [0.0, 0.0]])


def test_combine_skips_dropped_rows():
    rows = np.array([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]])
    weights = np.array([[0.5, 0.25], [2.0, 3.0]])
    row_of = np.array([[0, 2], [-1, 1]])
    close(ref.combine(rows, weights, row_of), [[25.5, 51.0], [30.0, 60.0]])
    buf = rows.reshape(3, 1, 2)
    close(ref.combine(buf, weights, row_of), [[25.5, 51.0], [30.0, 60.0]])


# --- moe.layer, moe.repeat ---------------------------------------------------


def random_layer(rng, tokens=9, model=5, ffn_width=7, num_experts=4):
    x = rng.standard_normal((tokens, model))
    router = rng.standard_normal((num_experts, model))
    gate = rng.standard_normal((num_experts, ffn_width, model)) * 0.3
    up = rng.standard_normal((num_experts, ffn_width, model)) * 0.3
    down = rng.standard_normal((num_experts, model, ffn_width)) * 0.3
    return x, router, gate, up, down


def test_layer_is_route_dispatch_experts_combine():
    rng = np.random.default_rng(1)
    x, router, gate, up, down = random_layer(rng)
    y = ref.layer(x, router, gate, up, down, 2, "silu_glu", normalize=True)
    # By hand, token by token.
    want = np.zeros_like(x)
    for t in range(x.shape[0]):
        p = ref.softmax(x[t] @ router.T)
        top = np.argsort(-p, kind="stable")[:2]
        w = p[top] / p[top].sum()
        for e, wt in zip(top, w):
            h = ref.silu(gate[e] @ x[t]) * (up[e] @ x[t])
            want[t] += wt * (down[e] @ h)
    close(y, want, 1e-12)
    # A capacity large enough to drop nothing gives the dropless result.
    y_cap = ref.layer(x, router, gate, up, down, 2, "silu_glu",
                      normalize=True, mode="capacity", capacity_factor=100.0)
    close(y_cap, want, 1e-12)


def test_layer_shared_experts_and_gate():
    rng = np.random.default_rng(2)
    x, router, gate, up, down = random_layer(rng)
    sg = rng.standard_normal((6, 5))
    su = rng.standard_normal((6, 5))
    sd = rng.standard_normal((5, 6))
    seg = rng.standard_normal((1, 5))
    routed = ref.layer(x, router, gate, up, down, 1, "silu_glu")
    y = ref.layer(x, router, gate, up, down, 1, "silu_glu", shared_gate=sg,
                  shared_up=su, shared_down=sd, shared_expert_gate=seg)
    shared = (ref.silu(x @ sg.T) * (x @ su.T)) @ sd.T
    gatev = 1 / (1 + np.exp(-(x @ seg.T)))
    close(y, routed + shared * gatev, 1e-12)
    y = ref.layer(x, router, None, up, down, 1, "relu", shared_up=su,
                  shared_down=sd)
    routed = ref.layer(x, router, None, up, down, 1, "relu")
    close(y, routed + np.maximum(x @ su.T, 0) @ sd.T, 1e-12)


def test_layer_capacity_overflow_drops_contribute_zero():
    # One expert, T = 4, K = 1, C = ceil(0.5 * 4) = 2: tokens 2, 3 dropped.
    x = np.array([[1.0], [2.0], [3.0], [4.0]])
    router = np.array([[1.0]])
    up = np.array([[[1.0]]])
    down = np.array([[[1.0]]])
    y, info = ref.layer(x, router, None, up, down, 1, "relu",
                        mode="capacity", capacity_factor=0.5, details=True)
    close(y[:, 0], [1.0, 2.0, 0.0, 0.0])
    eq(info["segments"], [2])
    eq(info["row_of"], [[0], [1], [-1], [-1]])


def test_repeat():
    w = np.array([[0.0, 1.0], [1.0, 0.0]])
    y = ref.repeat(3, np.array([1.0, 2.0]), lambda h: h @ w + 1)
    # [1,2] -> [3,2] -> [3,4] -> [5,4]
    close(y, [5.0, 4.0])
    a, b = ref.repeat(2, (1.0, 0.0), lambda h, acc: (h * 2, acc + h))
    assert a == 4.0 and b == 3.0


# --- moe.peer ----------------------------------------------------------------


def test_peer_product_keys_by_hand():
    x = np.array([[1.0, 1.0]])
    wq = np.eye(2)  # H = 1, Dk = 2: q1 = x0, q2 = x1
    keys = np.array([[[[1.0], [-1.0]], [[1.0], [2.0]]]])  # 1 x 2 x n=2 x 1
    u = np.array([[1.0, 0.0], [0.5, 0.25], [0.0, 0.0], [-1.0, -1.0]])
    v = np.array([[1.0, 0.0], [2.0, 3.0], [0.0, 1.0], [5.0, 5.0]])
    y, info = ref.peer(x, wq, keys, u, v, 1, 1, details=True)
    # s1 = [1, -1] -> sub-key 0; s2 = [1, 2] -> sub-key 1; expert 0*2+1.
    eq(info["experts"], [[[1]]])
    close(info["gates"], [[[1.0]]])
    close(y, [[1.5, 2.25]])  # relu(0.75) * [2, 3]
    # Shared keys (2 x n x Dk/2) give the same result.
    close(ref.peer(x, wq, keys[0], u, v, 1, 1), y)


def test_peer_candidate_ties_follow_a_times_k_plus_b():
    x = np.array([[1.0, 1.0]])
    wq = np.eye(2)
    # s1 = [1, 0], s2 = [0, 1]: top-2 of each: (1 @0, 0 @1), (1 @1, 0 @0).
    keys = np.array([[[[1.0], [0.0]], [[0.0], [1.0]]]])
    u = np.ones((4, 2))
    v = np.eye(4, 2) + np.arange(4)[:, None]
    y, info = ref.peer(x, wq, keys, u, v, 1, 2, score="relu", details=True)
    # Candidates a*2+b: (0,0)=2, (0,1)=1, (1,0)=1, (1,1)=0 -> picks 0 and 1.
    # Candidate 0 = sub-keys (0, 1) -> expert 1; candidate 1 = (0, 0) -> 0.
    eq(info["experts"], [[[1, 0]]])
    close(info["gates"], [[[2.0, 1.0]]])
    close(y, [2.0 * 2.0 * v[1] + 1.0 * 2.0 * v[0]])


def test_peer_heads_bias_and_gelu():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4))
    wq = rng.standard_normal((2 * 4, 4))
    bq = rng.standard_normal(8)
    keys = rng.standard_normal((2, 2, 3, 2))
    u = rng.standard_normal((9, 4))
    v = rng.standard_normal((9, 4))
    y = ref.peer(x, wq, keys, u, v, 2, 2, act="gelu", query_bias=bq)
    want = np.zeros_like(x)
    for t in range(3):
        q = wq @ x[t] + bq
        for h in range(2):
            s1 = keys[h, 0] @ q[4 * h:4 * h + 2]
            s2 = keys[h, 1] @ q[4 * h + 2:4 * h + 4]
            sums = {(i, j): s1[i] + s2[j] for i in range(3) for j in range(3)}
            best = sorted(sums, key=lambda ij: -sums[ij])[:2]
            g = ref.softmax(np.array([sums[ij] for ij in best]))
            for gk, (i, j) in zip(g, best):
                e = i * 3 + j
                want[t] += gk * ref.gelu(u[e] @ x[t]) * v[e]
    close(y, want, 1e-12)


# --- losses --------------------------------------------------------------------


def test_load_balancing_loss():
    scores = np.full((4, 4), 0.25)
    indices = np.array([[0, 1], [2, 3], [0, 1], [2, 3]])
    close(ref.load_balancing_loss(scores, indices), 1.0)
    # All to expert 0 with score 1: E * 1 * 1 = E.
    scores = np.zeros((3, 4))
    scores[:, 0] = 1.0
    close(ref.load_balancing_loss(scores, np.zeros((3, 1), dtype=np.int32)),
          4.0)
    # f = [1/2, 1/2, 0], P = [.5, .3, .2] -> 3 * (.25 + .15) = 1.2
    scores = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]])
    close(ref.load_balancing_loss(scores, np.array([[0], [1]])), 1.2)


def test_router_z_loss():
    close(ref.router_z_loss(np.zeros((3, 4))), math.log(4) ** 2)
    logits = np.array([[0.0, 0.0], [1000.0, 1000.0]])
    close(ref.router_z_loss(logits),
          (math.log(2) ** 2 + (1000 + math.log(2)) ** 2) / 2)


# --- bf16 ----------------------------------------------------------------------


def test_bf16_round_to_nearest_even():
    bits = ref.f32_to_bf16_bits(np.array(
        [1.0, 1.00390625, 1.01171875, 1.0078125, -2.0, -0.0, 65504.0,
         3.4e38, INF, -INF], dtype=np.float32))
    eq(bits, np.array([0x3F80, 0x3F80, 0x3F82, 0x3F81, 0xC000, 0x8000,
                       0x4780, 0x7F80, 0x7F80, 0xFF80], dtype=np.uint16))
    nan_bits = ref.f32_to_bf16_bits(np.array([NAN], dtype=np.float32))
    assert np.isnan(ref.bf16_bits_to_f32(nan_bits))[0]
    eq(ref.bf16_bits_to_f32(np.array([0x3F80, 0x4049], dtype=np.uint16)),
       np.array([1.0, 3.140625], dtype=np.float32))
    x = np.random.default_rng(4).standard_normal(1000).astype(np.float32)
    r = ref.round_bf16(x)
    assert np.all(np.abs(r - x) <= np.abs(x) * 2.0 ** -8)
    eq(ref.round_bf16(r), r)  # idempotent


def main():
    tests = [(name, fn) for name, fn in sorted(globals().items())
             if name.startswith("test_") and callable(fn)]
    failed = 0
    for name, fn in tests:
        try:
            fn()
            print(f"PASS {name}")
        except Exception:  # noqa: BLE001
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc(file=sys.stdout)
    print(f"{len(tests) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
