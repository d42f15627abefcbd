"""Helpers that write decoder-only transformer graphs as MLIR text.

Shared by generate_mixtral.py and generate_mobilellm.py. The graphs use the
upstream func, linalg, arith, math and tensor dialects plus the moe dialect,
on tensors, with the token count T dynamic. Weights are function arguments
with fully static shapes in the PyTorch nn.Linear layout [out, in]; a
projection is a `linalg.matmul` with transposed-B indexing maps (how
linalg::MatmulTransposeBOp prints). Every matmul accumulates in f32.

Needs only the Python standard library.
"""

import math


def tensor_type(shape, element="f32"):
    """tensor<?x4096xf32> for shape ['?', 4096]."""
    return "tensor<" + "x".join(str(d) for d in shape) + "x" + element + ">"


# Affine map aliases every generated module declares at its top.
MAP_ALIASES = """\
#matmul_lhs = affine_map<(m, n, k) -> (m, k)>
#matmul_rhs_t = affine_map<(m, n, k) -> (n, k)>
#matmul_out = affine_map<(m, n, k) -> (m, n)>
"""


class Weights:
    """The weight arguments of a function, in order of first use."""

    def __init__(self):
        self.args = []

    def add(self, name, shape, element):
        value = "%" + name
        self.args.append((value, tensor_type(shape, element)))
        return value


class Body:
    """Straight-line MLIR ops of one function, with unique value names.

    Function-level and moe.repeat-level values get names from `fresh`;
    values local to a linalg.generic body start with `%b_`, which `fresh`
    never produces, so they cannot clash with a value visible from above.
    """

    def __init__(self):
        self.lines = []
        self.used = set()
        self.depth = 1

    def fresh(self, hint):
        name = hint
        suffix = 1
        while name in self.used:
            suffix += 1
            name = f"{hint}_{suffix}"
        self.used.add(name)
        return "%" + name

    def emit(self, text):
        for line in text.splitlines() or [""]:
            self.lines.append("  " * self.depth + line if line else "")

    def comment(self, text):
        self.emit("// " + text)

    def op(self, hint, text):
        """Emits `%name = text` and returns %name."""
        name = self.fresh(hint)
        self.emit(f"{name} = {text}")
        return name


class Graph:
    """Emits the layers of a Llama-family decoder onto a Body.

    `T` is the SSA value holding the (dynamic) token count; `zero` and
    `neg_inf` are f32 constants; all are defined once at function level and
    captured by moe.repeat bodies.
    """

    def __init__(self, body, weights, weight_element):
        self.b = body
        self.w = weights
        self.welt = weight_element
        self.T = None

    def prologue(self, token_ids):
        b = self.b
        b.emit("%c0 = arith.constant 0 : index")
        b.emit("%zero = arith.constant 0.000000e+00 : f32")
        b.emit("%neg_inf = arith.constant 0xFF800000 : f32")
        b.used.update(["c0", "zero", "neg_inf"])
        self.T = b.op("T", f"tensor.dim {token_ids}, %c0 : tensor<?xi32>")

    # -- building blocks ----------------------------------------------------

    def dyn_sizes(self, shape):
        return ", ".join(self.T for d in shape if d == "?")

    def empty(self, shape, hint):
        return self.b.op(
            hint + "_empty", f"tensor.empty({self.dyn_sizes(shape)}) : {tensor_type(shape)}")

    def filled(self, shape, hint, value="%zero"):
        ty = tensor_type(shape)
        e = self.empty(shape, hint)
        return self.b.op(hint + "_init", f"linalg.fill ins({value} : f32) outs({e} : {ty}) -> {ty}")

    def embedding(self, token_ids, table, vocab, dim, hint="embed"):
        """Gathers rows of `table` [vocab, dim]: a linalg.generic whose body
        reads the captured table with tensor.extract (DESIGN.md: no
        tensor.gather)."""
        out = ["?", dim]
        e = self.empty(out, hint)
        welt = self.welt
        cast = f"arith.extf %b_w : {welt} to f32" if welt != "f32" else None
        lines = [
            "linalg.generic {indexing_maps = [affine_map<(t, d) -> (t)>, "
            "affine_map<(t, d) -> (t, d)>], iterator_types = [\"parallel\", \"parallel\"]}",
            f"    ins({token_ids} : tensor<?xi32>) outs({e} : {tensor_type(out)}) {{",
            "^bb0(%b_id: i32, %b_out: f32):",
            "  %b_row = arith.index_cast %b_id : i32 to index",
            "  %b_col = linalg.index 1 : index",
            f"  %b_w = tensor.extract {table}[%b_row, %b_col] : {tensor_type([vocab, dim], welt)}",
        ]
        if cast:
            lines.append("  %b_v = " + cast)
            lines.append("  linalg.yield %b_v : f32")
        else:
            lines.append("  linalg.yield %b_w : f32")
        lines.append(f"}} -> {tensor_type(out)}")
        return self.b.op(hint, "\n".join(lines))

    def linear(self, x, weight, in_dim, out_dim, hint):
        """x [T, in] times weight [out, in] transposed: [T, out] in f32."""
        out = ["?", out_dim]
        init = self.filled(out, hint)
        ty = tensor_type(out)
        return self.b.op(
            hint,
            "linalg.matmul indexing_maps = [#matmul_lhs, #matmul_rhs_t, #matmul_out]\n"
            f"    ins({x}, {weight} : {tensor_type(['?', in_dim])}, "
            f"{tensor_type([out_dim, in_dim], self.welt)})\n"
            f"    outs({init} : {ty}) -> {ty}")

    def add(self, a, c, dim, hint):
        ty = tensor_type(["?", dim])
        e = self.empty(["?", dim], hint)
        return self.b.op(hint, f"linalg.add ins({a}, {c} : {ty}, {ty}) outs({e} : {ty}) -> {ty}")

    def rms_norm(self, x, weight, dim, eps, hint):
        """x / sqrt(mean(x^2) + eps) * weight, per token."""
        b = self.b
        ty = tensor_type(["?", dim])
        sums = self.filled(["?"], hint + "_sumsq")
        sq = b.op(
            hint + "_sumsq",
            "linalg.generic {indexing_maps = [affine_map<(t, d) -> (t, d)>, "
            "affine_map<(t, d) -> (t)>], iterator_types = [\"parallel\", \"reduction\"]}\n"
            f"    ins({x} : {ty}) outs({sums} : tensor<?xf32>) {{\n"
            "^bb0(%b_x: f32, %b_acc: f32):\n"
            "  %b_sq = arith.mulf %b_x, %b_x : f32\n"
            "  %b_sum = arith.addf %b_acc, %b_sq : f32\n"
            "  linalg.yield %b_sum : f32\n"
            "} -> tensor<?xf32>")
        e = self.empty(["?", dim], hint)
        welt = self.welt
        wcast = (f"  %b_wf = arith.extf %b_w : {welt} to f32\n"
                 if welt != "f32" else "")
        wval = "%b_wf" if welt != "f32" else "%b_w"
        return b.op(
            hint,
            "linalg.generic {indexing_maps = [affine_map<(t, d) -> (t, d)>, "
            "affine_map<(t, d) -> (t)>, affine_map<(t, d) -> (d)>, "
            "affine_map<(t, d) -> (t, d)>], iterator_types = [\"parallel\", \"parallel\"]}\n"
            f"    ins({x}, {sq}, {weight} : {ty}, tensor<?xf32>, "
            f"{tensor_type([dim], welt)}) outs({e} : {ty}) {{\n"
            f"^bb0(%b_x: f32, %b_ss: f32, %b_w: {welt}, %b_out: f32):\n"
            f"  %b_n = arith.constant {float(dim):e} : f32\n"
            f"  %b_eps = arith.constant {eps:e} : f32\n"
            "  %b_mean = arith.divf %b_ss, %b_n : f32\n"
            "  %b_var = arith.addf %b_mean, %b_eps : f32\n"
            "  %b_inv = math.rsqrt %b_var : f32\n"
            "  %b_xn = arith.mulf %b_x, %b_inv : f32\n"
            + wcast +
            f"  %b_y = arith.mulf %b_xn, {wval} : f32\n"
            "  linalg.yield %b_y : f32\n"
            f"}} -> {ty}")

    def rope(self, x, heads_shape, head_dim, theta, hint):
        """Rotary embedding (rotate-half form) of x [T, *heads, 2, hd/2].

        The T tokens are one sequence at positions 0 .. T-1. Returns a
        tensor of the same shape.
        """
        b = self.b
        half = head_dim // 2
        shape = ["?"] + heads_shape + [2, half]
        half_shape = ["?"] + heads_shape + [half]
        rank = len(shape)
        ty = tensor_type(shape)
        hty = tensor_type(half_shape)
        zeros = ", ".join("0" for _ in shape)
        ones = ", ".join("1" for _ in shape)
        sizes = ", ".join(
            [self.T] + [str(d) for d in heads_shape] + ["1", str(half)])
        first = b.op(hint + "_x1",
                     f"tensor.extract_slice {x}[{zeros}] [{sizes}] [{ones}] : {ty} to {hty}")
        offs = ", ".join(["0"] * (rank - 2) + ["1", "0"])
        second = b.op(hint + "_x2",
                      f"tensor.extract_slice {x}[{offs}] [{sizes}] [{ones}] : {ty} to {hty}")
        dims = ["t"] + [f"h{k}" for k in range(len(heads_shape))] + ["s", "i"]
        all_dims = ", ".join(dims)
        half_dims = ", ".join(dims[:-2] + dims[-1:])
        e = self.empty(shape, hint)
        # inv_freq(i) = theta^(-2i/hd) = exp(i * -2 ln(theta) / hd).
        freq_scale = -2.0 * math.log(theta) / head_dim
        return b.op(
            hint,
            f"linalg.generic {{indexing_maps = [affine_map<({all_dims}) -> ({half_dims})>, "
            f"affine_map<({all_dims}) -> ({half_dims})>, affine_map<({all_dims}) -> ({all_dims})>], "
            "iterator_types = [" + ", ".join(['"parallel"'] * rank) + "]}\n"
            f"    ins({first}, {second} : {hty}, {hty}) outs({e} : {ty}) {{\n"
            "^bb0(%b_x1: f32, %b_x2: f32, %b_out: f32):\n"
            "  %b_t = linalg.index 0 : index\n"
            f"  %b_s = linalg.index {rank - 2} : index\n"
            f"  %b_i = linalg.index {rank - 1} : index\n"
            "  %b_t64 = arith.index_cast %b_t : index to i64\n"
            "  %b_i64 = arith.index_cast %b_i : index to i64\n"
            "  %b_pos = arith.sitofp %b_t64 : i64 to f32\n"
            "  %b_if = arith.sitofp %b_i64 : i64 to f32\n"
            f"  %b_fs = arith.constant {freq_scale:e} : f32\n"
            "  %b_le = arith.mulf %b_if, %b_fs : f32\n"
            "  %b_freq = math.exp %b_le : f32\n"
            "  %b_angle = arith.mulf %b_pos, %b_freq : f32\n"
            "  %b_cos = math.cos %b_angle : f32\n"
            "  %b_sin = math.sin %b_angle : f32\n"
            "  %b_c0 = arith.constant 0 : index\n"
            "  %b_first = arith.cmpi eq, %b_s, %b_c0 : index\n"
            # first half: x1 cos - x2 sin; second half: x2 cos + x1 sin.
            "  %b_own = arith.select %b_first, %b_x1, %b_x2 : f32\n"
            "  %b_other = arith.select %b_first, %b_x2, %b_x1 : f32\n"
            "  %b_nother = arith.negf %b_other : f32\n"
            "  %b_rot = arith.select %b_first, %b_nother, %b_other : f32\n"
            "  %b_a = arith.mulf %b_own, %b_cos : f32\n"
            "  %b_r = arith.mulf %b_rot, %b_sin : f32\n"
            "  %b_y = arith.addf %b_a, %b_r : f32\n"
            "  linalg.yield %b_y : f32\n"
            f"}} -> {ty}")

    def attention(self, x, wq, wk, wv, wo, dim, heads, kv_heads, head_dim,
                  theta, prefix):
        """Causal grouped-query self-attention with RoPE over the T tokens
        (one sequence, no KV cache). Returns the o_proj output [T, dim]."""
        b = self.b
        groups = kv_heads
        rep = heads // kv_heads
        half = head_dim // 2
        q = self.linear(x, wq, dim, heads * head_dim, prefix + "q")
        k = self.linear(x, wk, dim, kv_heads * head_dim, prefix + "k")
        v = self.linear(x, wv, dim, kv_heads * head_dim, prefix + "v")

        # Heads: q [T, G, R, 2, hd/2], k [T, G, 2, hd/2], v [T, G, hd].
        qs = ["?", groups, rep, 2, half]
        ks = ["?", groups, 2, half]
        vs = ["?", groups, head_dim]
        qh = b.op(prefix + "q_heads",
                  f"tensor.expand_shape {q} [[0], [1, 2, 3, 4]] output_shape "
                  f"[{self.T}, {groups}, {rep}, 2, {half}] : "
                  f"{tensor_type(['?', heads * head_dim])} into {tensor_type(qs)}")
        kh = b.op(prefix + "k_heads",
                  f"tensor.expand_shape {k} [[0], [1, 2, 3]] output_shape "
                  f"[{self.T}, {groups}, 2, {half}] : "
                  f"{tensor_type(['?', kv_heads * head_dim])} into {tensor_type(ks)}")
        vh = b.op(prefix + "v_heads",
                  f"tensor.expand_shape {v} [[0], [1, 2]] output_shape "
                  f"[{self.T}, {groups}, {head_dim}] : "
                  f"{tensor_type(['?', kv_heads * head_dim])} into {tensor_type(vs)}")
        qr = self.rope(qh, [groups, rep], head_dim, theta, prefix + "q_rope")
        kr = self.rope(kh, [groups], head_dim, theta, prefix + "k_rope")

        # Scores s[g, r, i, j] = q[i, g, r] . k[j, g].
        ss = [groups, rep, "?", "?"]
        sty = tensor_type(ss)
        s_init = self.filled(ss, prefix + "scores")
        scores = b.op(
            prefix + "scores",
            "linalg.generic {indexing_maps = ["
            "affine_map<(g, r, i, j, s, c) -> (i, g, r, s, c)>, "
            "affine_map<(g, r, i, j, s, c) -> (j, g, s, c)>, "
            "affine_map<(g, r, i, j, s, c) -> (g, r, i, j)>], iterator_types = "
            "[\"parallel\", \"parallel\", \"parallel\", \"parallel\", \"reduction\", \"reduction\"]}\n"
            f"    ins({qr}, {kr} : {tensor_type(qs)}, {tensor_type(ks)}) outs({s_init} : {sty}) {{\n"
            "^bb0(%b_q: f32, %b_k: f32, %b_acc: f32):\n"
            "  %b_p = arith.mulf %b_q, %b_k : f32\n"
            "  %b_s = arith.addf %b_acc, %b_p : f32\n"
            "  linalg.yield %b_s : f32\n"
            f"}} -> {sty}")

        # Causal mask and 1/sqrt(hd) scale, applied where scores are read.
        scale = 1.0 / math.sqrt(head_dim)
        masked = (
            "  %b_i = linalg.index 2 : index\n"
            "  %b_j = linalg.index 3 : index\n"
            "  %b_future = arith.cmpi ugt, %b_j, %b_i : index\n"
            f"  %b_scale = arith.constant {scale:e} : f32\n"
            "  %b_scaled = arith.mulf %b_s, %b_scale : f32\n")
        rows = [groups, rep, "?"]
        rty = tensor_type(rows)
        four = "(g, r, i, j)"
        m_init = self.filled(rows, prefix + "row_max", value="%neg_inf")
        row_max = b.op(
            prefix + "row_max",
            f"linalg.generic {{indexing_maps = [affine_map<{four} -> (g, r, i, j)>, "
            f"affine_map<{four} -> (g, r, i)>], iterator_types = "
            "[\"parallel\", \"parallel\", \"parallel\", \"reduction\"]}\n"
            f"    ins({scores} : {sty}) outs({m_init} : {rty}) {{\n"
            "^bb0(%b_s: f32, %b_acc: f32):\n"
            + masked +
            "  %b_v = arith.select %b_future, %b_acc, %b_scaled : f32\n"
            "  %b_m = arith.maximumf %b_acc, %b_v : f32\n"
            "  linalg.yield %b_m : f32\n"
            f"}} -> {rty}")
        p_empty = self.empty(ss, prefix + "exp")
        probs = b.op(
            prefix + "exp",
            f"linalg.generic {{indexing_maps = [affine_map<{four} -> (g, r, i, j)>, "
            f"affine_map<{four} -> (g, r, i)>, affine_map<{four} -> (g, r, i, j)>], "
            "iterator_types = [\"parallel\", \"parallel\", \"parallel\", \"parallel\"]}\n"
            f"    ins({scores}, {row_max} : {sty}, {rty}) outs({p_empty} : {sty}) {{\n"
            "^bb0(%b_s: f32, %b_m: f32, %b_out: f32):\n"
            + masked +
            "  %b_d = arith.subf %b_scaled, %b_m : f32\n"
            "  %b_e = math.exp %b_d : f32\n"
            "  %b_z = arith.constant 0.000000e+00 : f32\n"
            "  %b_p = arith.select %b_future, %b_z, %b_e : f32\n"
            "  linalg.yield %b_p : f32\n"
            f"}} -> {sty}")
        l_init = self.filled(rows, prefix + "row_sum")
        row_sum = b.op(
            prefix + "row_sum",
            f"linalg.generic {{indexing_maps = [affine_map<{four} -> (g, r, i, j)>, "
            f"affine_map<{four} -> (g, r, i)>], iterator_types = "
            "[\"parallel\", \"parallel\", \"parallel\", \"reduction\"]}\n"
            f"    ins({probs} : {sty}) outs({l_init} : {rty}) {{\n"
            "^bb0(%b_p: f32, %b_acc: f32):\n"
            "  %b_s = arith.addf %b_acc, %b_p : f32\n"
            "  linalg.yield %b_s : f32\n"
            f"}} -> {rty}")

        # o[i, g, r, d] = sum_j p[g, r, i, j] * v[j, g, d] / l[g, r, i].
        os_ = ["?", groups, rep, head_dim]
        oty = tensor_type(os_)
        o_init = self.filled(os_, prefix + "attn")
        five = "(i, g, r, d, j)"
        out = b.op(
            prefix + "attn",
            f"linalg.generic {{indexing_maps = [affine_map<{five} -> (g, r, i, j)>, "
            f"affine_map<{five} -> (j, g, d)>, affine_map<{five} -> (g, r, i)>, "
            f"affine_map<{five} -> (i, g, r, d)>], iterator_types = "
            "[\"parallel\", \"parallel\", \"parallel\", \"parallel\", \"reduction\"]}\n"
            f"    ins({probs}, {vh}, {row_sum} : {sty}, {tensor_type(vs)}, {rty}) "
            f"outs({o_init} : {oty}) {{\n"
            "^bb0(%b_p: f32, %b_v: f32, %b_l: f32, %b_acc: f32):\n"
            "  %b_w = arith.divf %b_p, %b_l : f32\n"
            "  %b_pv = arith.mulf %b_w, %b_v : f32\n"
            "  %b_s = arith.addf %b_acc, %b_pv : f32\n"
            "  linalg.yield %b_s : f32\n"
            f"}} -> {oty}")
        flat = b.op(prefix + "attn_flat",
                    f"tensor.collapse_shape {out} [[0], [1, 2, 3]] : {oty} into "
                    f"{tensor_type(['?', heads * head_dim])}")
        return self.linear(flat, wo, heads * head_dim, dim, prefix + "o")

    def swiglu(self, x, wg, wu, wd, dim, ffn, prefix):
        """Dense SwiGLU FFN: (silu(x wg^T) * (x wu^T)) wd^T."""
        b = self.b
        gate = self.linear(x, wg, dim, ffn, prefix + "gate")
        up = self.linear(x, wu, dim, ffn, prefix + "up")
        ty = tensor_type(["?", ffn])
        e = self.empty(["?", ffn], prefix + "act")
        act = b.op(
            prefix + "act",
            "linalg.generic {indexing_maps = [affine_map<(t, f) -> (t, f)>, "
            "affine_map<(t, f) -> (t, f)>, affine_map<(t, f) -> (t, f)>], "
            "iterator_types = [\"parallel\", \"parallel\"]}\n"
            f"    ins({gate}, {up} : {ty}, {ty}) outs({e} : {ty}) {{\n"
            "^bb0(%b_g: f32, %b_u: f32, %b_out: f32):\n"
            "  %b_ng = arith.negf %b_g : f32\n"
            "  %b_e = math.exp %b_ng : f32\n"
            "  %b_one = arith.constant 1.000000e+00 : f32\n"
            "  %b_den = arith.addf %b_one, %b_e : f32\n"
            "  %b_silu = arith.divf %b_g, %b_den : f32\n"
            "  %b_y = arith.mulf %b_silu, %b_u : f32\n"
            "  linalg.yield %b_y : f32\n"
            f"}} -> {ty}")
        return self.linear(act, wd, ffn, dim, prefix + "down")


def write_module(path, header, func_name, inputs, weights, body, result_type,
                 result):
    """Writes `header` (comment lines), the map aliases and one func.func."""
    args = ",\n".join(f"    {name}: {ty}" for name, ty in inputs + weights.args)
    text = [header.rstrip("\n"), "", MAP_ALIASES.rstrip("\n"), "",
            f"func.func @{func_name}(\n{args})\n    -> {result_type} {{"]
    text += body.lines
    text.append(f"  return {result} : {result_type}")
    text.append("}")
    with open(path, "w") as f:
        f.write("\n".join(text) + "\n")
