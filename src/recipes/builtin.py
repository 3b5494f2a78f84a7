"""The built-in recipes (issue 4). Sources:
- bf16_*: "Revisiting BFloat16 Training" (Zamirai et al.): pure 16-bit training, weights, gradients,
  optimizer state and every op in bf16; stochastic rounding or Kahan summation of the weight update
  as the remedies (REFERENCES section 2).
- fp8: e4m3 forward / e5m2 backward with per-tensor current scaling (REFERENCES section 3).
- mx*: OCP MX v1.0 block-32 formats, blocks along each GEMM's reduction dimension; nvfp4: NVIDIA's
  block-16 e2m1 with e4m3 block scales and an fp32 tensor scale.
- fp4_dge_occ: Wang et al., "Optimizing LLM Training Using FP4 Quantization": vector-wise absmax fp4,
  the differentiable gradient estimator, outlier clamping + compensation (REFERENCES section 5).
- ternary: BitNet b1.58 QAT (absmean ternary weights, 8-bit absmax per-token activations), section 7.
- eco_*: ECO, no master weights; the write-back error goes into the momentum (section 6).
The *_nomaster / fp4_tensor / fp4_channel recipes are the study counterparts of the above.
"""
from __future__ import annotations

from .spec import OptimSpec, QuantSpec, Recipe

Q = QuantSpec


def _bf16(name, desc, **opt):
    b = Q("bf16")
    return Recipe(name, desc, weight=b, input=b, output=b, grad_output=b, grad_weight=b, grad_input=b,
                  optimizer=OptimSpec(weight_format="bf16", state_format="bf16", arith_format="bf16", **opt),
                  datapath="sa32_bf16", tags=("bf16",))


def _fp4(name, desc, fmt, scaling="none", **kw):
    return Recipe(name, desc, weight=Q(fmt, scaling=scaling), input=Q(fmt, scaling=scaling, **kw.pop("inp", {})),
                  grad_output=Q("fp8_e5m2", scaling="tensor"), datapath="sa32_mxfp4", tags=("fp4",), **kw)


def builtin_recipes() -> list[Recipe]:
    e4 = Q("fp8_e4m3fn", scaling="tensor")
    e5 = Q("fp8_e5m2", scaling="tensor")
    i8c = Q("int8", scaling="channel")
    return [
        Recipe("fp32", "fp32 baseline: nothing quantized, fp32 master weights and momentum",
               datapath="sa32_fp32", tags=("baseline",)),
        _bf16("bf16_nearest", "pure bf16: every tensor, op and state in bf16, round-to-nearest-even"),
        _bf16("bf16_sr", "pure bf16 with stochastic rounding of the weight write-back", rounding="stochastic"),
        _bf16("bf16_kahan", "pure bf16 with a Kahan-compensated weight update (bf16 compensation)", kahan=True),
        Recipe("fp8", "fp8 e4m3 weights/activations, e5m2 output gradients, per-tensor scaling; fp32 master",
               weight=e4, input=e4, grad_output=e5, datapath="sa32_fp8", tags=("fp8",)),
        Recipe("mxfp8", "MXFP8: e4m3 forward, e5m2 backward, block-32 e8m0 scales along each reduction dim",
               weight=Q("mxfp8_e4m3"), input=Q("mxfp8_e4m3"), grad_output=Q("mxfp8_e5m2"),
               datapath="sa32_mxfp8", tags=("mx",)),
        Recipe("mxfp6", "MXFP6: e2m3 forward, e3m2 backward, block-32 e8m0 scales",
               weight=Q("mxfp6_e2m3"), input=Q("mxfp6_e2m3"), grad_output=Q("mxfp6_e3m2"),
               datapath="sa32_mxfp8", tags=("mx",)),
        _fp4("mxfp4", "MXFP4 (e2m1, block-32 e8m0 scales) weights/activations; e5m2 per-tensor gradients",
             "mxfp4_e2m1"),
        _fp4("nvfp4", "NVFP4 (e2m1, block-16 e4m3 scales + fp32 tensor scale); e5m2 per-tensor gradients",
             "nvfp4"),
        _fp4("fp4_tensor", "fp4 e2m1 with ONE per-tensor scale (the counterpart of mxfp4/nvfp4)",
             "fp4_e2m1fn", scaling="tensor"),
        _fp4("fp4_channel", "fp4 e2m1, absmax per channel/token (vector-wise), plain straight-through",
             "fp4_e2m1fn", scaling="channel"),
        _fp4("fp4_dge_occ", "fp4 e2m1 vector-wise + differentiable gradient estimator (k=5) + outlier "
             "clamping at the 0.99 quantile with a bf16 sparse residual", "fp4_e2m1fn", scaling="channel",
             estimator="dge", inp={"clamp_quantile": 0.99}),
        Recipe("int8", "int8 weights (per output channel) and activations (per token), absmax scales",
               weight=i8c, input=i8c, datapath="sa32_int8", tags=("int",)),
        Recipe("ternary", "BitNet b1.58 QAT: absmean ternary weights, int8 per-token activations, STE",
               weight=Q("ternary"), input=i8c, datapath="sa32_ternary", tags=("ternary",)),
        Recipe("eco_fp8", "ECO: weights stored only in fp8 e4m3 (per-channel scale), write-back error fed "
               "into the momentum; fp8 GEMMs", weight=Q("fp8_e4m3fn", scaling="channel"), input=e4, grad_output=e5,
               optimizer=OptimSpec(weight_format="fp8_e4m3fn", weight_scaling="channel", eco=True),
               datapath="sa32_fp8", tags=("eco",)),
        Recipe("fp8_nomaster", "naive master-weight removal: as eco_fp8 without the error feedback",
               weight=Q("fp8_e4m3fn", scaling="channel"), input=e4, grad_output=e5,
               optimizer=OptimSpec(weight_format="fp8_e4m3fn", weight_scaling="channel"),
               datapath="sa32_fp8", tags=("eco",)),
        Recipe("eco_int4", "ECO with int4 weights (per-channel absmax scale), bf16 activations",
               weight=Q("int4", scaling="channel"), input=Q("bf16"),
               optimizer=OptimSpec(weight_format="int4", weight_scaling="channel", eco=True),
               datapath="sa32_int8", tags=("eco",)),
        Recipe("int4_nomaster", "naive master-weight removal with int4 weights (no error feedback)",
               weight=Q("int4", scaling="channel"), input=Q("bf16"),
               optimizer=OptimSpec(weight_format="int4", weight_scaling="channel"),
               datapath="sa32_int8", tags=("eco",)),
    ]
