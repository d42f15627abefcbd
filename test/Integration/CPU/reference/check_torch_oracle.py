"""Checks the float64 numpy reference (moe_reference.py) against the PyTorch
oracle (torch_oracle.py): Hugging Face style Mixtral, Qwen2-MoE and
DeepSeek-V3 blocks, plus the router losses as transformers and ST-MoE write
them, on tie-free random inputs, all in float64.

Routing indices must match exactly; outputs and routing weights to rtol 1e-6
(atol 1e-12). Run with Debian's python (/usr/bin/python3, python3-numpy and
python3-torch). Prints one line per case and `N passed, M failed`; exits
non-zero on a failure.
"""

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moe_reference as ref  # noqa: E402
import torch_oracle as oracle  # noqa: E402

RTOL, ATOL = 1e-6, 1e-12
# A token whose best K+1 selection scores (or best topk_group+1 group
# scores) are closer than this, relative to their magnitude, is redrawn, so
# that float64 rounding differences cannot reorder the selection.
MIN_MARGIN = 1e-9


def draw_layer(rng, tokens, model, ffn_width, num_experts, shared_width=0):
    weights = {
        "router": rng.standard_normal((num_experts, model)),
        "gate": rng.standard_normal((num_experts, ffn_width, model)) * 0.3,
        "up": rng.standard_normal((num_experts, ffn_width, model)) * 0.3,
        "down": rng.standard_normal((num_experts, model, ffn_width)) * 0.3,
    }
    if shared_width:
        weights.update(
            shared_gate=rng.standard_normal((shared_width, model)) * 0.3,
            shared_up=rng.standard_normal((shared_width, model)) * 0.3,
            shared_down=rng.standard_normal((model, shared_width)) * 0.3,
            shared_expert_gate=rng.standard_normal((1, model)) * 0.3)
    x = rng.standard_normal((tokens, model))
    return x, weights


def tie_free_x(rng, x, route_margin):
    """Redraws the tokens of `x` whose routing margin is below MIN_MARGIN;
    `route_margin(x)` returns the per-token margins."""
    for _ in range(100):
        bad = route_margin(x) < MIN_MARGIN
        if not bad.any():
            return x
        x[bad] = rng.standard_normal((int(bad.sum()), x.shape[1]))
    raise RuntimeError("could not draw tie-free tokens")


def compare(name, got, want, exact=False):
    got = np.asarray(got)
    want = np.asarray(want)
    if got.shape != want.shape:
        return [f"{name}: shape {got.shape} != {want.shape}"]
    if exact:
        if not np.array_equal(got, want):
            bad = np.argwhere(got != want)[:4].tolist()
            return [f"{name}: differs at {bad}"]
        return []
    err = np.abs(got - want)
    if not np.all(err <= ATOL + RTOL * np.abs(want)):
        return [f"{name}: max_abs={err.max():.3e}"]
    return []


def report(results, name, problems, got=None, want=None):
    detail = ""
    if got is not None:
        err = np.abs(np.asarray(got) - np.asarray(want))
        rel = err / np.maximum(np.abs(want), 1e-300)
        detail = f" max_abs={err.max():.2e} max_rel={rel.max():.2e}"
    status = "FAIL" if problems else "PASS"
    print(f"{status} {name}{detail}")
    for problem in problems:
        print(f"    {problem}")
    results.append(not problems)


def check_mixtral(results, rng, tokens, num_experts, top_k):
    x, w = draw_layer(rng, tokens, 24, 40, num_experts)
    x = tie_free_x(rng, x, lambda v: ref.route(
        v, w["router"], top_k, "softmax", details=True)[3]["margin"])
    block = oracle.MixtralSparseMoeBlock(w["router"], w["gate"], w["up"],
                                         w["down"], top_k)
    y_t, wt_t, idx_t = oracle.run(block, x)
    y, info = ref.layer(x, w["router"], w["gate"], w["up"], w["down"], top_k,
                        "silu_glu", score="softmax", normalize=True,
                        details=True)
    problems = (compare("indices", info["indices"], idx_t, exact=True) +
                compare("weights", info["weights"], wt_t) +
                compare("y", y, y_t))
    report(results, f"mixtral E={num_experts} K={top_k} T={tokens}",
           problems, y, y_t)


def check_qwen2(results, rng, tokens, num_experts, top_k, norm):
    x, w = draw_layer(rng, tokens, 24, 40, num_experts, shared_width=56)
    x = tie_free_x(rng, x, lambda v: ref.route(
        v, w["router"], top_k, "softmax", details=True)[3]["margin"])
    block = oracle.Qwen2MoeSparseMoeBlock(
        w["router"], w["gate"], w["up"], w["down"], top_k, w["shared_gate"],
        w["shared_up"], w["shared_down"], w["shared_expert_gate"],
        norm_topk_prob=norm)
    y_t, wt_t, idx_t = oracle.run(block, x)
    y, info = ref.layer(x, w["router"], w["gate"], w["up"], w["down"], top_k,
                        "silu_glu", score="softmax", normalize=norm,
                        shared_gate=w["shared_gate"],
                        shared_up=w["shared_up"],
                        shared_down=w["shared_down"],
                        shared_expert_gate=w["shared_expert_gate"],
                        details=True)
    problems = (compare("indices", info["indices"], idx_t, exact=True) +
                compare("weights", info["weights"], wt_t) +
                compare("y", y, y_t))
    report(results, f"qwen2-moe E={num_experts} K={top_k} T={tokens} "
           f"norm_topk_prob={norm}", problems, y, y_t)


def check_deepseek_v3(results, rng, tokens, num_experts, top_k, n_group,
                      topk_group, scale):
    x, w = draw_layer(rng, tokens, 24, 40, num_experts, shared_width=48)
    bias = rng.standard_normal(num_experts) * 0.1
    route_args = dict(top_k=top_k, score="sigmoid", normalize=True,
                      scale=scale, n_group=n_group, topk_group=topk_group,
                      group_score="top2_sum", bias=bias)
    x = tie_free_x(rng, x, lambda v: ref.route(
        v, w["router"], details=True, **route_args)[3]["margin"])
    block = oracle.DeepseekV3MoE(
        w["router"], bias, w["gate"], w["up"], w["down"], top_k, n_group,
        topk_group, scale, w["shared_gate"], w["shared_up"],
        w["shared_down"])
    y_t, wt_t, idx_t = oracle.run(block, x)
    # The scale attribute is an f32: use a scale that f32 holds exactly.
    assert float(np.float32(scale)) == scale
    y, info = ref.layer(x, w["router"], w["gate"], w["up"], w["down"],
                        act="silu_glu", shared_gate=w["shared_gate"],
                        shared_up=w["shared_up"],
                        shared_down=w["shared_down"], details=True,
                        **route_args)
    problems = (compare("indices", info["indices"], idx_t, exact=True) +
                compare("weights", info["weights"], wt_t) +
                compare("y", y, y_t))
    report(results, f"deepseek-v3 E={num_experts} K={top_k} T={tokens} "
           f"n_group={n_group} topk_group={topk_group} scale={scale}",
           problems, y, y_t)


def check_losses(results, rng, tokens, num_experts, top_k):
    logits = rng.standard_normal((tokens, num_experts)) * 3
    scores = F.softmax(torch.as_tensor(logits), dim=-1)
    indices = torch.topk(scores, top_k, dim=-1)[1]
    # transformers' load_balancing_loss_func (Mixtral): the per-slot token
    # fractions times the mean router probability, summed, times E. Summed
    # over the K slots the fractions are K * f_e (f_e over the T*K
    # assignments), so it is K times the Switch loss of moe.
    expert_mask = F.one_hot(indices, num_experts).double()
    tokens_per_expert = expert_mask.mean(dim=0)  # K x E
    router_prob_per_expert = scores.mean(dim=0)  # E
    hf = float((tokens_per_expert * router_prob_per_expert.unsqueeze(0))
               .sum() * num_experts)
    got = ref.load_balancing_loss(scores.numpy(), indices.numpy())
    problems = compare("load_balancing_loss", got, hf / top_k)
    report(results, f"load_balancing_loss E={num_experts} K={top_k} "
           f"T={tokens}", problems, got, hf / top_k)
    # ST-MoE z-loss: mean(logsumexp(logits)^2).
    z = float((torch.logsumexp(torch.as_tensor(logits), dim=-1) ** 2).mean())
    got = ref.router_z_loss(logits)
    report(results, f"router_z_loss E={num_experts} T={tokens}",
           compare("router_z_loss", got, z), got, z)


def main():
    torch.set_grad_enabled(False)
    rng = np.random.default_rng(1234)
    results = []
    for tokens, num_experts, top_k in [(1, 2, 1), (33, 8, 2), (57, 64, 6),
                                       (20, 8, 8)]:
        check_mixtral(results, rng, tokens, num_experts, top_k)
    for tokens, num_experts, top_k, norm in [(33, 8, 2, False),
                                             (17, 60, 4, False),
                                             (33, 8, 2, True)]:
        check_qwen2(results, rng, tokens, num_experts, top_k, norm)
    for tokens, num_experts, top_k, n_group, topk_group, scale in [
            (33, 16, 4, 4, 2, 2.5), (40, 64, 8, 8, 4, 2.5),
            (9, 8, 2, 1, 1, 1.0), (12, 16, 6, 8, 8, 1.5)]:
        check_deepseek_v3(results, rng, tokens, num_experts, top_k, n_group,
                          topk_group, scale)
    for tokens, num_experts, top_k in [(33, 8, 2), (5, 64, 6)]:
        check_losses(results, rng, tokens, num_experts, top_k)
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
