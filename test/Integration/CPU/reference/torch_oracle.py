"""A second oracle: MoE blocks written the way Hugging Face transformers
writes them, in PyTorch 1.13 (Debian's python3-torch).

* MixtralSparseMoeBlock: softmax router, torch.topk, renormalize, a loop over
  the experts that gathers their tokens with index_select and scatters the
  results back with index_add_, SwiGLU experts (w1 gate, w3 up, w2 down).
* Qwen2MoeSparseMoeBlock: the same routed part (norm_topk_prob optional), plus
  a shared expert scaled by sigmoid(shared_expert_gate(x)).
* DeepseekV3MoE: MoEGate (sigmoid scores, e_score_correction_bias for the
  selection only, group-limited routing with the sum of each group's top 2,
  renormalization with the + 1e-20 of the original, routed_scaling_factor),
  routed experts and always-on shared experts.

These follow the published modelling code and are independent of both the
numpy reference and the compiler. Weights come in the nn.Linear layout used
by the moe dialect: router [E, D], gate/up [E, F, D], down [E, D, F], shared
gate/up [S*F_s, D], down [D, S*F_s], shared expert gate [1, D].

Each block's forward returns (y, router_weights, router_indices) so that the
routing can be compared too; indices come from torch.topk(sorted=True), in
descending score order, which on tie-free inputs is the moe.topk order.
"""

import torch
import torch.nn.functional as F
from torch import nn


def _param(array, dtype):
    return nn.Parameter(torch.as_tensor(array).to(dtype), requires_grad=False)


class SwiGLUExpert(nn.Module):
    """Mixtral's MixtralBlockSparseTop2MLP / Qwen2MoeMLP / DeepseekV3MLP."""

    def __init__(self, gate, up, down, dtype):
        super().__init__()
        out_features, in_features = gate.shape
        self.w1 = nn.Linear(in_features, out_features, bias=False)  # gate
        self.w3 = nn.Linear(in_features, out_features, bias=False)  # up
        self.w2 = nn.Linear(out_features, in_features, bias=False)  # down
        self.w1.weight = _param(gate, dtype)
        self.w3.weight = _param(up, dtype)
        self.w2.weight = _param(down, dtype)
        self.act_fn = nn.SiLU()

    def forward(self, hidden_states):
        return self.w2(self.act_fn(self.w1(hidden_states)) *
                       self.w3(hidden_states))


def _routed_experts(experts, hidden_states, routing_weights, selected_experts,
                    num_experts):
    """The expert loop of the HF blocks: per expert, its tokens with
    index_select, the expert FFN times the routing weight, index_add_ back."""
    final = torch.zeros_like(hidden_states)
    expert_mask = F.one_hot(selected_experts.long(),
                            num_classes=num_experts).permute(2, 1, 0)
    for expert_idx in range(num_experts):
        idx, top_x = torch.where(expert_mask[expert_idx])
        if top_x.numel() == 0:
            continue
        current_state = hidden_states.index_select(0, top_x)
        current = experts[expert_idx](current_state) * \
            routing_weights[top_x, idx, None]
        final.index_add_(0, top_x, current.to(hidden_states.dtype))
    return final


class MixtralSparseMoeBlock(nn.Module):
    def __init__(self, router, gate, up, down, top_k, dtype=torch.float64):
        super().__init__()
        self.num_experts, hidden = router.shape
        self.top_k = top_k
        self.gate = nn.Linear(hidden, self.num_experts, bias=False)
        self.gate.weight = _param(router, dtype)
        self.experts = nn.ModuleList(
            SwiGLUExpert(gate[e], up[e], down[e], dtype)
            for e in range(self.num_experts))
        self.dtype = dtype

    def route(self, hidden_states):
        router_logits = self.gate(hidden_states)
        routing_weights = F.softmax(router_logits, dim=1, dtype=self.dtype)
        routing_weights, selected_experts = torch.topk(
            routing_weights, self.top_k, dim=-1)
        routing_weights /= routing_weights.sum(dim=-1, keepdim=True)
        return routing_weights, selected_experts

    def forward(self, hidden_states):
        routing_weights, selected_experts = self.route(hidden_states)
        y = _routed_experts(self.experts, hidden_states, routing_weights,
                            selected_experts, self.num_experts)
        return y, routing_weights, selected_experts


class Qwen2MoeSparseMoeBlock(nn.Module):
    def __init__(self, router, gate, up, down, top_k, shared_gate, shared_up,
                 shared_down, shared_expert_gate, norm_topk_prob=False,
                 dtype=torch.float64):
        super().__init__()
        self.num_experts, hidden = router.shape
        self.top_k = top_k
        self.norm_topk_prob = norm_topk_prob
        self.gate = nn.Linear(hidden, self.num_experts, bias=False)
        self.gate.weight = _param(router, dtype)
        self.experts = nn.ModuleList(
            SwiGLUExpert(gate[e], up[e], down[e], dtype)
            for e in range(self.num_experts))
        self.shared_expert = SwiGLUExpert(shared_gate, shared_up, shared_down,
                                          dtype)
        self.shared_expert_gate = nn.Linear(hidden, 1, bias=False)
        self.shared_expert_gate.weight = _param(shared_expert_gate, dtype)
        self.dtype = dtype

    def forward(self, hidden_states):
        router_logits = self.gate(hidden_states)
        routing_weights = F.softmax(router_logits, dim=1, dtype=self.dtype)
        routing_weights, selected_experts = torch.topk(
            routing_weights, self.top_k, dim=-1)
        if self.norm_topk_prob:
            routing_weights /= routing_weights.sum(dim=-1, keepdim=True)
        y = _routed_experts(self.experts, hidden_states, routing_weights,
                            selected_experts, self.num_experts)
        shared = self.shared_expert(hidden_states)
        shared = torch.sigmoid(self.shared_expert_gate(hidden_states)) * shared
        return y + shared, routing_weights, selected_experts


class DeepseekV3MoEGate(nn.Module):
    def __init__(self, router, bias, top_k, n_group, topk_group,
                 routed_scaling_factor, norm_topk_prob=True,
                 dtype=torch.float64):
        super().__init__()
        self.n_routed_experts = router.shape[0]
        self.top_k = top_k
        self.n_group = n_group
        self.topk_group = topk_group
        self.routed_scaling_factor = routed_scaling_factor
        self.norm_topk_prob = norm_topk_prob
        self.weight = _param(router, dtype)
        self.e_score_correction_bias = _param(bias, dtype)

    def forward(self, hidden_states):
        logits = F.linear(hidden_states, self.weight, None)
        scores = logits.sigmoid()
        scores_for_choice = scores + self.e_score_correction_bias.unsqueeze(0)
        tokens = hidden_states.shape[0]
        group_scores = scores_for_choice.view(tokens, self.n_group, -1) \
            .topk(2, dim=-1)[0].sum(dim=-1)
        group_idx = torch.topk(group_scores, k=self.topk_group, dim=-1,
                               sorted=False)[1]
        group_mask = torch.zeros_like(group_scores)
        group_mask.scatter_(1, group_idx, 1)
        score_mask = group_mask.unsqueeze(-1).expand(
            tokens, self.n_group, self.n_routed_experts // self.n_group
        ).reshape(tokens, -1)
        tmp_scores = scores_for_choice.masked_fill(~score_mask.bool(),
                                                   float("-inf"))
        _, topk_idx = torch.topk(tmp_scores, k=self.top_k, dim=-1, sorted=True)
        topk_weight = scores.gather(1, topk_idx)
        if self.top_k > 1 and self.norm_topk_prob:
            denominator = topk_weight.sum(dim=-1, keepdim=True) + 1e-20
            topk_weight = topk_weight / denominator
        topk_weight = topk_weight * self.routed_scaling_factor
        return topk_idx, topk_weight


class DeepseekV3MoE(nn.Module):
    def __init__(self, router, bias, gate, up, down, top_k, n_group,
                 topk_group, routed_scaling_factor, shared_gate, shared_up,
                 shared_down, dtype=torch.float64):
        super().__init__()
        self.num_experts = router.shape[0]
        self.gate = DeepseekV3MoEGate(router, bias, top_k, n_group,
                                      topk_group, routed_scaling_factor,
                                      dtype=dtype)
        self.experts = nn.ModuleList(
            SwiGLUExpert(gate[e], up[e], down[e], dtype)
            for e in range(self.num_experts))
        self.shared_experts = SwiGLUExpert(shared_gate, shared_up,
                                           shared_down, dtype)

    def forward(self, hidden_states):
        topk_idx, topk_weight = self.gate(hidden_states)
        y = _routed_experts(self.experts, hidden_states, topk_weight,
                            topk_idx, self.num_experts)
        y = y + self.shared_experts(hidden_states)
        return y, topk_weight, topk_idx


@torch.no_grad()
def run(block, x, dtype=torch.float64):
    """Runs `block` on the numpy array `x`; returns numpy (y, weights,
    indices)."""
    y, weights, indices = block(torch.as_tensor(x).to(dtype))
    return (y.double().numpy(), weights.double().numpy(),
            indices.to(torch.int32).numpy())
