#!/usr/bin/env python3
"""GPU benchmarks of moe-mlir (BENCHMARKS.md, GPU targets), run on the GPU
machine from a bundle that scripts/gpu/build-bundle.sh made.

For each case (a moe.layer of benchmarks/run.py's shapes, compiled by
moe-compile --target=cuda into BUNDLE/bench/<case>-<dtype>.so) and token
count it times, in one run:

* ours: the compiled layer, called through scripts/gpu/moe_cuda.py on the
  GPU buffers of PyTorch tensors (same weights, same inputs as the peers);
* PyTorch eager, the Hugging Face MoE block (router, softmax, topk, a loop
  over the experts that were hit with index_select, SwiGLU, index_add_);
* a torch._grouped_mm MoE (tokens sorted by expert, one grouped GEMM for
  gate and up, one for down; bf16 only);
* the limit: max(bytes / HBM bandwidth, flops / tensor-core peak), with the
  bandwidth (a streaming read of 4 GiB) and the bf16 matmul peak measured in
  the same run.

Cold rule: a new input (new routing) before each timed call, and the L2
cache overwritten (a 512 MiB write) outside the timed region. Ours is
checked against the eager output (max |diff| relative to max |ref|) before
it is timed. Prints the table and writes JSON (--json).

    python3 scripts/gpu/bench.py --bundle build/gpu-bundle
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as Fn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import moe_cuda  # noqa: E402
import run as suite  # noqa: E402  (benchmarks/run.py: cases and costs)

# (case, dtypes, token counts): the GPU targets of BENCHMARKS.md.
CASES = [
    ("mixtral", ["bf16", "f32"], [1, 16, 128]),
    ("olmoe", ["bf16"], [1, 256, 2048]),
    ("qwen3-moe", ["bf16"], [1, 256]),
]
TORCH_DTYPES = {"bf16": torch.bfloat16, "f32": torch.float32}


def cuda_time_ms(function, repeats, before=None):
    """Median and min of `repeats` timed calls (CUDA events), `before`
    (untimed) ahead of each."""
    times = []
    for _ in range(repeats):
        if before:
            before()
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        function()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times), min(times)


def measure_bandwidth_gbps():
    """Streaming read of 4 GiB: best of 5 sums."""
    x = torch.ones(1 << 30, dtype=torch.float32, device="cuda")
    x.sum()
    _, best = cuda_time_ms(lambda: x.sum(), 5)
    return x.numel() * 4 / (best * 1e-3) / 1e9


def measure_bf16_peak_tflops():
    n = 8192
    a = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    torch.matmul(a, b)
    _, best = cuda_time_ms(lambda: torch.matmul(a, b), 10)
    return 2 * n ** 3 / (best * 1e-3) / 1e12


class Layer:
    """One MoE layer's weights on the GPU, in the [out, in] layout that both
    nn.Linear and moe.layer use."""

    def __init__(self, case, dtype, seed):
        D, F, E = case["D"], case["F"], case["E"]
        generator = torch.Generator(device="cuda").manual_seed(seed)
        t = TORCH_DTYPES[dtype]

        def weights(*shape, fan_in):
            return (torch.randn(*shape, generator=generator, device="cuda",
                                dtype=torch.float32)
                    * fan_in ** -0.5).to(t)

        self.case, self.dtype, self.torch_dtype = case, dtype, t
        self.router = weights(E, D, fan_in=D)
        self.gate = weights(E, F, D, fan_in=D)
        self.up = weights(E, F, D, fan_in=D)
        self.down = weights(E, D, F, fan_in=F)
        self.generator = generator

    def new_input(self, tokens):
        return torch.randn(tokens, self.case["D"], generator=self.generator,
                           device="cuda").to(self.torch_dtype)

    def route(self, x):
        case = self.case
        probs = Fn.softmax(Fn.linear(x, self.router), dim=1,
                           dtype=torch.float)
        weights, experts = torch.topk(probs, case["K"], dim=-1)
        if case["normalize"]:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        return weights.to(x.dtype), experts

    def eager(self, x):
        """The Hugging Face block."""
        weights, experts = self.route(x)
        out = torch.zeros_like(x)
        mask = Fn.one_hot(experts, self.case["E"]).permute(2, 1, 0)
        hit = torch.greater(mask.sum(dim=(-1, -2)), 0).nonzero()
        for e in hit.flatten().tolist():
            slot, token = torch.where(mask[e])
            rows = x.index_select(0, token)
            h = Fn.silu(Fn.linear(rows, self.gate[e])) * \
                Fn.linear(rows, self.up[e])
            y = Fn.linear(h, self.down[e]) * weights[token, slot, None]
            out.index_add_(0, token, y.to(x.dtype))
        return out

    def grouped(self, x):
        """Tokens sorted by expert, one grouped GEMM for gate|up and one for
        down (torch._grouped_mm, bf16 on sm_90)."""
        if not hasattr(self, "gate_up_t"):
            self.gate_up_t = torch.cat([self.gate, self.up], 1) \
                .transpose(1, 2).contiguous()
            self.down_t = self.down.transpose(1, 2).contiguous()
        K, E, F = self.case["K"], self.case["E"], self.case["F"]
        weights, experts = self.route(x)
        flat = experts.flatten()
        order = torch.argsort(flat, stable=True)
        token = order // K
        counts = torch.bincount(flat, minlength=E)
        offsets = torch.cumsum(counts, 0).to(torch.int32)
        rows = x.index_select(0, token)
        h = torch._grouped_mm(rows, self.gate_up_t, offs=offsets)
        h = Fn.silu(h[:, :F]) * h[:, F:]
        y = torch._grouped_mm(h, self.down_t, offs=offsets)
        y = y * weights.flatten()[order, None]
        return torch.zeros_like(x).index_add_(0, token, y.to(x.dtype))


def run_ours(model, layer, x):
    """Our layer on the tensors' GPU buffers; returns the output tensor."""
    buffers = [moe_cuda.DeviceBuffer(t.data_ptr(), t.shape)
               for t in (x, layer.router, layer.gate, layer.up, layer.down)]
    result = model.call("layer", buffers, keep_on_device=True)[0]
    out = torch.empty(result.shape, dtype=x.dtype, device="cuda")
    model.runtime.cuda.moe_cuda_copy(out.data_ptr(), result.pointer,
                                     out.numel() * out.element_size())
    result.free()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=os.path.join(ROOT, "build",
                                                         "gpu-bundle"))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cases", help="comma-separated case names")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench.py: no CUDA device visible to PyTorch")

    runtime = moe_cuda.Runtime(os.path.join(args.bundle, "lib"))
    device = torch.cuda.get_device_name()
    bw = measure_bandwidth_gbps()
    peak = measure_bf16_peak_tflops()
    print(f"# {datetime.date.today()} {device}: HBM read {bw:.0f} GB/s, "
          f"bf16 matmul peak {peak:.0f} TFLOP/s")
    flush = torch.empty(512 << 20, dtype=torch.uint8, device="cuda")
    header = ("case", "dtype", "T", "ours_ms", "limit_ms", "%limit",
              "eager_ms", "x_eager", "grouped_ms", "x_grouped", "max_err")
    print("  ".join(f"{h:>10}" for h in header))
    rows = []
    selected = set(args.cases.split(",")) if args.cases else None
    for name, dtypes, token_counts in CASES:
        if selected and name not in selected:
            continue
        case = suite.CASE_BY_NAME[name]
        for dtype in dtypes:
            path = os.path.join(args.bundle, "bench", f"{name}-{dtype}")
            model = moe_cuda.Model(runtime, path + ".so", path + ".h")
            layer = Layer(case, dtype, seed=len(rows) + 1)
            for tokens in token_counts:
                x = layer.new_input(tokens)
                reference = layer.eager(x).float()
                ours = run_ours(model, layer, x).float()
                error = ((ours - reference).abs().max()
                         / reference.abs().max().clamp_min(1e-30)).item()
                inputs = [x]

                def cold():
                    inputs[0] = layer.new_input(tokens)
                    flush.fill_(1)

                ours_ms, _ = cuda_time_ms(
                    lambda: run_ours(model, layer, inputs[0]), args.runs, cold)
                eager_ms, _ = cuda_time_ms(
                    lambda: layer.eager(inputs[0]), args.runs, cold)
                grouped_ms = None
                if dtype == "bf16" and hasattr(torch, "_grouped_mm"):
                    try:
                        grouped_ms, _ = cuda_time_ms(
                            lambda: layer.grouped(inputs[0]), args.runs, cold)
                    except RuntimeError as failure:
                        print(f"# torch._grouped_mm failed: {failure}")
                nbytes, flops, _ = suite.costs(case, dtype, tokens)
                limit_ms = max(nbytes / (bw * 1e9),
                               flops / (peak * 1e12)) * 1e3
                row = dict(case=name, dtype=dtype, T=tokens, ours_ms=ours_ms,
                           limit_ms=limit_ms,
                           pct_limit=100 * limit_ms / ours_ms,
                           eager_ms=eager_ms, x_eager=eager_ms / ours_ms,
                           grouped_ms=grouped_ms,
                           x_grouped=(grouped_ms / ours_ms
                                      if grouped_ms else None),
                           max_err=error)
                rows.append(row)
                cells = [name, dtype, tokens, f"{ours_ms:.3f}",
                         f"{limit_ms:.3f}", f"{row['pct_limit']:.1f}",
                         f"{eager_ms:.3f}", f"{row['x_eager']:.2f}",
                         f"{grouped_ms:.3f}" if grouped_ms else "n/a",
                         f"{row['x_grouped']:.2f}" if grouped_ms else "n/a",
                         f"{error:.1e}"]
                print("  ".join(f"{c:>10}" for c in cells), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(date=str(datetime.date.today()), device=device,
                           bw_gbps=bw, bf16_peak_tflops=peak, rows=rows), f,
                      indent=1)


if __name__ == "__main__":
    main()
