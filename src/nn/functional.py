"""The quantized GEMM with its backward pass: what one matmul of a layer does on low-precision hardware.

y = A @ B^T (+ bias) with A (..., M, K) an activation and B (N, K) a weight or (..., N, K) a second
activation (attention). Each GEMM quantizes its operands along ITS OWN reduction dimension
(REFERENCES section 3; e.g. "Microscaling Data Formats for Deep Learning", Rouhani et al. 2023):
- forward      y  = Q_out(Q_a(A | K) @ Q_b(B | K)^T + bias)
- input grad   dA = Q_ga(Q_go(dY | N) @ Q_b(B | N))
- weight grad  dB = Q_gw(Q_go(dY | M)^T @ Q_a(A | M))   (times the DGE factor of B when enabled)
where "| K" names the axis the scales run along. A quantizer whose result does not depend on the axis
(no scaling, or one per-tensor scale) is applied once and reused. Gradients pass straight through the
quantizers (STE) except for the optional DGE factor. With an accumulator spec, every GEMM sums its
products term by term in that format (`numerics.lowp_sum`, promoted every block_k terms).
"""
from __future__ import annotations

import torch

from lowbit.numerics import lowp_sum

__all__ = ["GemmSite", "qgemm"]

# tags that keep the random streams of the tensors of one call apart
T_A, T_B, T_OUT, T_GO_N, T_GO_M, T_B_N, T_A_M, T_GA, T_GB, T_BIAS = range(10)


class GemmSite:
    """Static description of one GEMM of a layer: its quantizers, names and options."""

    def __init__(self, layer: str, layer_id: int, sub: int, qa, qb, qout, qgo, qga, qgb, acc=None,
                 b_is_weight=True, dge=None, ctx=None):
        self.layer, self.layer_id, self.sub = layer, layer_id, sub
        self.qa, self.qb, self.qout, self.qgo, self.qga, self.qgb = qa, qb, qout, qgo, qga, qgb
        self.acc, self.b_is_weight, self.dge, self.ctx = acc, b_is_weight, dge, ctx

    def seed(self, tag: int, call: int) -> int:
        return self.ctx.seed_for(self.layer_id, self.sub * 16 + tag, call)


def _mm(x: torch.Tensor, y: torch.Tensor, acc) -> torch.Tensor:
    """x (..., M, K) @ y(..., N, K)^T, optionally through an emulated low-precision accumulator."""
    if acc is None:
        return torch.matmul(x, y.transpose(-1, -2))
    prods = x.unsqueeze(-2) * y.unsqueeze(-3)      # (..., M, N, K): exact for <= 12-bit significands
    out = lowp_sum(prods, acc.format, axis=-1, block=acc.block_k, promote_fmt=acc.promote)
    return out.to(x.dtype)


def _count(site, phase, m, n, k, count, qa, qb, out_fmt):
    c = site.ctx.counter
    if c is not None:
        acc = site.acc.format if site.acc is not None else "fp32"
        name = f"{site.layer}.{phase}" + (f"{site.sub}" if site.sub else "")
        c.gemm(site.layer, name, phase, m, n, k, qa.op_format, qb.op_format, acc, out_fmt, count)
        for q in (qa, qb):   # blocks that do not tile the reduction dim are zero-padded (numerics.ScaledFormat)
            blk = q.fmt.block if q.fmt.is_scaled and q.fmt.granularity == "block" else None
            if blk and k % blk:
                c.notes.add(f"{name}: reduction dim {k} is not a multiple of the {q.op_format} block {blk}; "
                            f"zero-padded to {k + (-k) % blk}")


class _QGemm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, bias, site, call):
        qctx = site.ctx
        stats = {}
        aq = site.qa(a, -1, site.seed(T_A, call), stats)
        bq = site.qb(b, -1, site.seed(T_B, call))
        y = _mm(aq, bq, site.acc)
        if bias is not None:
            y = y + bias
        y = site.qout(y, -1, site.seed(T_OUT, call))
        qctx.guard(y, site.layer, "output" if site.sub == 0 else f"output{site.sub}")
        dge = site.dge(b) if site.dge is not None else None
        ctx.save_for_backward(a, b, aq, bq, dge)
        ctx.site, ctx.call, ctx.has_bias = site, call, bias is not None
        if qctx.counter is not None:
            m = a.shape[-2]
            count = a[..., 0, 0].numel()
            n, k = b.shape[-2], a.shape[-1]
            _count(site, "fwd", m, n, k, count, site.qa, site.qb, site.qout.op_format)
            qctx.counter.tensor(site.layer, "activation", a.numel(), site.qa.op_format)
            qctx.counter.tensor(site.layer, "weight" if site.b_is_weight else "activation", b.numel(),
                                site.qb.op_format)
            qctx.counter.tensor(site.layer, "activation", y.numel(), site.qout.op_format)
            if "occ_nnz" in stats:   # the sparse residual GEMM of OCC, in the residual format
                qctx.counter.elementwise(site.layer, f"{site.layer}.occ_residual", stats["occ_nnz"] * n, "fma",
                                         site.qa.spec.residual_format)
        return y

    @staticmethod
    def backward(ctx, gy):
        a, b, aq, bq, dge = ctx.saved_tensors
        site, call = ctx.site, ctx.call
        qctx = site.ctx
        ga = gb = gbias = None
        go_n = site.qgo(gy, -1, site.seed(T_GO_N, call))
        if ctx.needs_input_grad[0]:
            b_n = site.qb(b, -2, site.seed(T_B_N, call)) if site.qb.axis_dependent else bq
            # dA[M, K] = dY[M, N] @ B[N, K]: reduction over N
            ga = _mm(go_n, b_n.transpose(-1, -2), site.acc)
            ga = site.qga(ga, -1, site.seed(T_GA, call))
            qctx.guard(ga, site.layer, "grad_input")
        if ctx.needs_input_grad[1] or ctx.has_bias:
            go_m = site.qgo(gy, -2, site.seed(T_GO_M, call)) if site.qgo.axis_dependent else go_n
        if ctx.needs_input_grad[1]:
            a_m = site.qa(a, -2, site.seed(T_A_M, call)) if site.qa.axis_dependent else aq
            # dB[N, K] = dY^T[N, M] @ A[M, K]: reduction over M
            gb = _mm(go_m.transpose(-1, -2), a_m.transpose(-1, -2), site.acc)
            if b.dim() < gb.dim():       # a shared weight: sum over the batch dims
                gb = gb.reshape(-1, *b.shape).sum(0)
            qg = site.qgb if site.b_is_weight else site.qga
            gb = qg(gb, -1, site.seed(T_GB, call))
            if dge is not None:
                gb = gb * dge
            qctx.guard(gb, site.layer, "grad_weight" if site.b_is_weight else "grad_input_b")
        if ctx.has_bias:
            gbias = site.qgb(go_m.reshape(-1, go_m.shape[-1]).sum(0), -1, site.seed(T_BIAS, call))
        if qctx.counter is not None:
            m, n, k = a.shape[-2], b.shape[-2], a.shape[-1]
            count = a[..., 0, 0].numel()
            if ga is not None:
                _count(site, "bwd_input", m, k, n, count, site.qgo, site.qb, site.qga.op_format)
                qctx.counter.tensor(site.layer, "grad_input", ga.numel(), site.qga.op_format)
            if gb is not None:
                _count(site, "bwd_weight", k, n, m, count, site.qa, site.qgo,
                       site.qgb.op_format if site.b_is_weight else site.qga.op_format)
                qctx.counter.tensor(site.layer, "grad_weight" if site.b_is_weight else "grad_input",
                                    gb.numel(), site.qgb.op_format)
            qctx.counter.tensor(site.layer, "grad_output", gy.numel(), site.qgo.op_format)
        return ga, gb, gbias, None, None


def qgemm(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None, site: GemmSite, call: int) -> torch.Tensor:
    """y = a @ b^T (+ bias) with the quantization of `site`; `call` indexes the random streams."""
    return _QGemm.apply(a, b, bias, site, int(call))
