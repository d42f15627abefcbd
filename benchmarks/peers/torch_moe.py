#!/usr/bin/python3
"""PyTorch eager peer of the benchmark suite (BENCHMARKS.md, peer 1).

The MoE block as the Hugging Face transformers models write it
(MixtralSparseMoeBlock, OlmoeSparseMoeBlock, Qwen3MoeSparseMoeBlock,
DeepseekV2MoE): a router nn.Linear, softmax in f32, torch.topk, optional
renormalization, then a Python loop over the experts that were hit, each
taking its rows with index_select, running its SwiGLU MLP (three nn.Linear)
and adding its weighted output back with index_add_; shared experts are one
more MLP over all tokens. Also a dense SwiGLU block applied N times with the
same weights (the repeat cases) and a PEER layer (product keys).

Timed cold, as run.py times moe-run: before each timed call (outside the
timed region) a new input is drawn, so the routing changes, and a flush
tensor larger than the last-level cache is summed, so no weight is still
cached. One warm-up call per token count. Prints, per token count,

    bench: tokens=T runs=N median_ms=X min_ms=Y

With --check SEED it instead runs the small shapes given once on the data
of data.py and prints `check: sum=S abs_sum=A` (run.py --selftest).

Run with Debian's /usr/bin/python3 (python3-torch).
"""

import argparse
import ctypes
import mmap
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402


class MLP(nn.Module):
    """LlamaMLP / MixtralBlockSparseTop2MLP: down(silu(gate(x)) * up(x))."""

    def __init__(self, hidden, intermediate, dtype):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, intermediate, bias=False, dtype=dtype)
        self.up_proj = nn.Linear(hidden, intermediate, bias=False, dtype=dtype)
        self.down_proj = nn.Linear(intermediate, hidden, bias=False, dtype=dtype)

    def forward(self, x):
        return self.down_proj(Fn.silu(self.gate_proj(x)) * self.up_proj(x))


class SparseMoeBlock(nn.Module):
    """The Hugging Face sparse MoE block (transformers' Mixtral/OLMoE/Qwen3
    style; DeepSeek-V2 adds the shared experts)."""

    def __init__(self, D, F, E, K, normalize, shared, hot, dtype):
        super().__init__()
        self.num_experts, self.top_k, self.norm_topk_prob = E, K, normalize
        self.gate = nn.Linear(D, E, bias=False, dtype=dtype)
        self.experts = nn.ModuleList([MLP(D, F, dtype) for _ in range(E)])
        self.shared_experts = MLP(D, shared, dtype) if shared else None
        # A selection-only bias (the skewed case): it changes which experts
        # are chosen, not their weights.
        self.selection_bias = (torch.from_numpy(data.hot_bias(E, hot))
                               if hot else None)

    def forward(self, hidden_states):
        tokens, hidden = hidden_states.shape
        router_logits = self.gate(hidden_states)
        routing_weights = Fn.softmax(router_logits, dim=1, dtype=torch.float)
        if self.selection_bias is None:
            routing_weights, selected_experts = torch.topk(
                routing_weights, self.top_k, dim=-1)
        else:
            _, selected_experts = torch.topk(
                routing_weights + self.selection_bias, self.top_k, dim=-1)
            routing_weights = routing_weights.gather(1, selected_experts)
        if self.norm_topk_prob:
            routing_weights /= routing_weights.sum(dim=-1, keepdim=True)
        routing_weights = routing_weights.to(hidden_states.dtype)

        final_hidden_states = torch.zeros(
            (tokens, hidden), dtype=hidden_states.dtype)
        expert_mask = Fn.one_hot(selected_experts,
                                 num_classes=self.num_experts).permute(2, 1, 0)
        expert_hit = torch.greater(expert_mask.sum(dim=(-1, -2)), 0).nonzero()
        for expert_idx in expert_hit.flatten().tolist():
            idx, top_x = torch.where(expert_mask[expert_idx])
            current_state = hidden_states.index_select(0, top_x)
            current_hidden_states = (self.experts[expert_idx](current_state)
                                     * routing_weights[top_x, idx, None])
            final_hidden_states.index_add_(
                0, top_x, current_hidden_states.to(hidden_states.dtype))
        if self.shared_experts is not None:
            final_hidden_states = (final_hidden_states
                                   + self.shared_experts(hidden_states))
        return final_hidden_states


class RepeatBlock(nn.Module):
    """h <- h + MLP(h), `count` times with the same weights."""

    def __init__(self, D, F, count, dtype):
        super().__init__()
        self.mlp, self.count = MLP(D, F, dtype), count

    def forward(self, h):
        for _ in range(self.count):
            h = h + self.mlp(h)
        return h


class PEER(nn.Module):
    """Product-key experts (He 2024), as moe.peer defines them: per head,
    sub-key scores of the two query halves, top-k of each, top-k of the k*k
    sums, softmax, then y += sum_k g_k relu(u_e . x) v_e."""

    def __init__(self, D, n, H, k, Dk, dtype):
        super().__init__()
        self.n, self.heads, self.top_k, self.dk = n, H, k, Dk
        self.query = nn.Linear(D, H * Dk, bias=False, dtype=dtype)
        self.keys = nn.Parameter(torch.empty(H, 2, n, Dk // 2, dtype=dtype))
        nn.init.uniform_(self.keys, -1.0, 1.0)
        self.down_embed = nn.Embedding(n * n, D, dtype=dtype)
        self.up_embed = nn.Embedding(n * n, D, dtype=dtype)
        with torch.no_grad():
            self.down_embed.weight.uniform_(-D ** -0.5, D ** -0.5)
            self.up_embed.weight.uniform_(-1.0, 1.0)

    def forward(self, x):
        tokens = x.shape[0]
        k, n = self.top_k, self.n
        q = self.query(x).view(tokens, self.heads, 2, self.dk // 2)
        scores = torch.einsum("thpd,hpnd->thpn", q, self.keys)
        s1, i1 = scores[:, :, 0].topk(k, dim=-1)
        s2, i2 = scores[:, :, 1].topk(k, dim=-1)
        sums = (s1[..., :, None] + s2[..., None, :]).flatten(-2)
        top, pos = sums.topk(k, dim=-1)
        experts = (i1.gather(-1, pos // k) * n + i2.gather(-1, pos % k))
        gates = Fn.softmax(top.float(), dim=-1).to(x.dtype)
        down = self.down_embed(experts)  # T x H x k x D
        hidden = torch.relu(torch.einsum("thkd,td->thk", down, x)) * gates
        return torch.einsum("thk,thkd->td", hidden, self.up_embed(experts))


def build(args, dtype):
    if args.mode == "layer":
        return SparseMoeBlock(args.D, args.F, args.E, args.K, args.normalize,
                              args.shared, args.hot, dtype)
    if args.mode == "repeat":
        return RepeatBlock(args.D, args.F, args.repeat, dtype)
    return PEER(args.D, args.n, args.heads, args.K, args.dk, dtype)


def check(args):
    """One call on the deterministic data of data.py (f32)."""
    seed = args.check
    T = args.tokens[0]
    block = build(args, torch.float32)
    if args.mode == "layer":
        w = data.layer_tensors(seed, T, args.D, args.F, args.E, args.shared)
        block.gate.weight.copy_(torch.from_numpy(w["router"]))
        for e, expert in enumerate(block.experts):
            expert.gate_proj.weight.copy_(torch.from_numpy(w["gate"][e]))
            expert.up_proj.weight.copy_(torch.from_numpy(w["up"][e]))
            expert.down_proj.weight.copy_(torch.from_numpy(w["down"][e]))
        if args.shared:
            s = block.shared_experts
            s.gate_proj.weight.copy_(torch.from_numpy(w["shared_gate"]))
            s.up_proj.weight.copy_(torch.from_numpy(w["shared_up"]))
            s.down_proj.weight.copy_(torch.from_numpy(w["shared_down"]))
    elif args.mode == "repeat":
        w = data.repeat_tensors(seed, T, args.D, args.F)
        block.mlp.gate_proj.weight.copy_(torch.from_numpy(w["gate"]))
        block.mlp.up_proj.weight.copy_(torch.from_numpy(w["up"]))
        block.mlp.down_proj.weight.copy_(torch.from_numpy(w["down"]))
    else:
        w = data.peer_tensors(seed, T, args.D, args.n, args.heads, args.dk)
        block.query.weight.copy_(torch.from_numpy(w["query"]))
        block.keys.copy_(torch.from_numpy(w["keys"]))
        block.down_embed.weight.copy_(torch.from_numpy(w["down_embed"]))
        block.up_embed.weight.copy_(torch.from_numpy(w["up_embed"]))
    y = block(torch.from_numpy(w["x"])).double()
    print(f"check: sum={y.sum().item():.9g} abs_sum={y.abs().sum().item():.9g}")


HUGE_PAGE_BYTES = 2 << 20


def move_to_huge_pages(module):
    """Gives every parameter of at least 2 MiB new storage advised for
    transparent huge pages before it is written, as moe-run's and the
    OpenBLAS peer's weight buffers are (moe_aligned_alloc), so that no
    system pays more TLB misses than another for the same weights."""
    keep = []
    for parameter in module.parameters():
        size = parameter.numel() * parameter.element_size()
        if size < HUGE_PAGE_BYTES:
            continue
        # A private anonymous mapping (a shared one is shmem, which THP
        # leaves alone) is page-aligned; 2 MiB more lets the data start on
        # a 2 MiB boundary.
        region = mmap.mmap(-1, size + HUGE_PAGE_BYTES,
                           flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        region.madvise(mmap.MADV_HUGEPAGE)
        address = ctypes.addressof(ctypes.c_char.from_buffer(region))
        offset = -address % HUGE_PAGE_BYTES
        storage = torch.frombuffer(region, dtype=parameter.dtype,
                                   count=parameter.numel(), offset=offset)
        storage.copy_(parameter.data.reshape(-1))
        parameter.data = storage.view(parameter.shape)
        keep.append(region)
    return keep


def bench(args, dtype):
    torch.manual_seed(args.seed)
    block = build(args, dtype)
    with torch.no_grad():
        regions = move_to_huge_pages(block)  # noqa: F841 (kept mapped)
    flush = torch.ones(max(args.flush_mib, 1) << 18, dtype=torch.float32)
    generator = torch.Generator().manual_seed(args.seed + 1)

    def new_input(tokens):
        x = torch.rand(tokens, args.D, generator=generator) * 2 - 1
        return x.to(dtype)

    runs = args.runs + [args.runs[-1]] * (len(args.tokens) - len(args.runs))
    for tokens, count in zip(args.tokens, runs):
        block(new_input(tokens))  # warm-up
        for _ in range(args.warmup):  # untimed cold calls, as moe-run's
            x = new_input(tokens)
            float(flush.sum())
            block(x)
        milliseconds = []
        began = time.perf_counter()
        for _ in range(count):
            x = new_input(tokens)
            float(flush.sum())  # evict the caches (read on every thread)
            start = time.perf_counter()
            block(x)
            milliseconds.append((time.perf_counter() - start) * 1e3)
            if (args.max_seconds and len(milliseconds) >= 3
                    and time.perf_counter() - began > args.max_seconds):
                break
        print(f"bench: tokens={tokens} runs={len(milliseconds)} "
              f"median_ms={statistics.median(milliseconds):.4f} "
              f"min_ms={min(milliseconds):.4f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["layer", "repeat", "peer"],
                        default="layer")
    parser.add_argument("--D", type=int, required=True)
    parser.add_argument("--F", type=int, default=0, help="expert FFN width")
    parser.add_argument("--E", type=int, default=0, help="experts")
    parser.add_argument("--K", type=int, default=0, help="top k (PEER: per head)")
    parser.add_argument("--shared", type=int, default=0,
                        help="width of the shared experts' FFN (0: none)")
    parser.add_argument("--normalize", action="store_true",
                        help="renormalize the top-k weights")
    parser.add_argument("--hot", type=int, default=0,
                        help="skewed routing: every token picks among the "
                             "first HOT experts (0: uniform)")
    parser.add_argument("--repeat", type=int, default=1, help="repeat count")
    parser.add_argument("--n", type=int, default=0, help="PEER sub-keys per half")
    parser.add_argument("--heads", type=int, default=0, help="PEER heads")
    parser.add_argument("--dk", type=int, default=0, help="PEER query width")
    parser.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    parser.add_argument("--tokens", default="1", help="token counts, a,b,c")
    parser.add_argument("--runs", default="10",
                        help="timed calls (one, or one per token count)")
    parser.add_argument("--warmup", type=int, default=0,
                        help="untimed cold calls before the timed ones, per "
                             "token count")
    parser.add_argument("--max-seconds", type=float, default=0,
                        help="stop timing a token count after this many "
                             "seconds (at least 3 calls; 0: never)")
    parser.add_argument("--flush-mib", type=int, default=1024,
                        help="size of the flush tensor read between calls")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--check", type=int, metavar="SEED",
                        help="print the output sums on the data of data.py")
    args = parser.parse_args()
    args.tokens = [int(t) for t in args.tokens.split(",")]
    args.runs = [int(r) for r in args.runs.split(",")]
    torch.set_num_threads(args.threads)
    with torch.inference_mode():
        if args.check is not None:
            check(args)
        else:
            bench(args, torch.bfloat16 if args.dtype == "bf16" else torch.float32)


if __name__ == "__main__":
    main()
