"""Which ONNX form expresses a lowbit format exactly (ONNX Operators.md: DequantizeLinear-10/13/19/21/
23/25/28, Cast; QONNX custom ops Quant and FloatQuant, fastmachinelearning/qonnx docs/qonnx-custom-ops).

- Native element types (DequantizeLinear input, with the opset that introduced them): INT8/UINT8/INT32
  (10), FLOAT8E4M3FN/E4M3FNUZ/E5M2/E5M2FNUZ (19), INT4/UINT4/INT16/UINT16 and blocked scales (21),
  FLOAT4E2M1 (23), INT2/UINT2 (25), FLOAT6E2M3/E3M2 (28). An integer format narrower than an ONNX type
  is stored in the narrowest one the opset has (the integers are the same; the manifest keeps the
  format). Fixed-point fraction bits fold into the float32 scale (a power of two, exact).
- Whole float formats are stored as themselves and cast: fp32, fp16, bf16 (Cast-13), e8m0fnu (Cast-24).
- QONNX FloatQuant (exponent/mantissa bitwidth, bias, max_val inputs; has_inf, has_nan, has_subnormal,
  rounding_mode, saturation attributes) expresses the other minifloats; QONNX Quant (bitwidth, signed,
  narrow) the integers, when asked for or when the opset lacks the type.
- Not expressible: LNS (no log-domain op in ONNX or QONNX) and formats whose values float32 cannot hold
  (e.g. int32: DequantizeLinear outputs float32). Those raise ValueError naming the other targets.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np
from onnx import TensorProto as TP

from lowbit.numerics import FixedFormat, FloatFormat

__all__ = ["MIN_OPSET", "MAX_OPSET", "native_element", "whole_float", "qonnx_float_ok", "cannot_express"]

MIN_OPSET = 19   # the reference evaluator implements DequantizeLinear from opset 19 on
MAX_OPSET = 28


def _table(rows):
    """Keep the rows this onnx/ml_dtypes install knows (older ones lack INT2, FLOAT6, FLOAT8E8M0...)."""
    out = []
    for row in rows:
        dt = getattr(ml_dtypes, row[-2], None) or getattr(np, row[-2], None)
        key, tp, op = row[:-3], getattr(TP, row[-3], None), row[-1]
        if tp is not None and dt is not None:
            out.append((*key, tp, dt, op))
    return out


# (signed, width) -> (TensorProto type, numpy dtype, opset)
_INTS = _table([(True, 2, "INT2", "int2", 25), (True, 4, "INT4", "int4", 21), (True, 8, "INT8", "int8", 10),
                (True, 16, "INT16", "int16", 21), (False, 2, "UINT2", "uint2", 25), (False, 4, "UINT4", "uint4", 21),
                (False, 8, "UINT8", "uint8", 10), (False, 16, "UINT16", "uint16", 21)])
# (ebits, mbits, bias, policy, signed) -> (type, numpy dtype, opset)
_FLOATS = {r[0]: r[1:] for r in _table([
    ((4, 3, 7, "fn", True), "FLOAT8E4M3FN", "float8_e4m3fn", 19), ((5, 2, 15, "ieee", True), "FLOAT8E5M2", "float8_e5m2", 19),
    ((4, 3, 8, "fnuz", True), "FLOAT8E4M3FNUZ", "float8_e4m3fnuz", 19),
    ((5, 2, 16, "fnuz", True), "FLOAT8E5M2FNUZ", "float8_e5m2fnuz", 19),
    ((2, 1, 1, "none", True), "FLOAT4E2M1", "float4_e2m1fn", 23),
    ((2, 3, 1, "none", True), "FLOAT6E2M3", "float6_e2m3fn", 28),
    ((3, 2, 3, "none", True), "FLOAT6E3M2", "float6_e3m2fn", 28)])}
# Whole formats stored as an ONNX float type and cast to float32.
_WHOLE = {r[0]: r[1:] for r in _table([
    ((8, 23, 127, "ieee", True), "FLOAT", "float32", 1), ((5, 10, 15, "ieee", True), "FLOAT16", "float16", 6),
    ((8, 7, 127, "ieee", True), "BFLOAT16", "bfloat16", 13), ((8, 0, 127, "fn", False), "FLOAT8E8M0", "float8_e8m0fnu", 24)])}


def _is_fixed(fmt) -> bool:
    return isinstance(fmt, FixedFormat)


def _is_float(fmt) -> bool:
    return isinstance(fmt, FloatFormat)


def _key(fmt):
    return (fmt.ebits, fmt.mbits, fmt.bias, fmt.policy, fmt.signed)


def native_element(elem, opset: int):
    """(TensorProto type, numpy dtype, opset, kind) for DequantizeLinear input, or None."""
    if _is_fixed(elem):
        for signed, width, tp, dt, op in _INTS:
            if signed == elem.signed and width >= elem.bits and op <= opset:
                return tp, dt, max(op, MIN_OPSET), "int"
        if elem.signed and elem.bits <= 32:
            return TP.INT32, np.int32, MIN_OPSET, "int"
        return None
    if _is_float(elem) and _key(elem) in _FLOATS:
        tp, dt, op = _FLOATS[_key(elem)]
        if op <= opset:
            return tp, dt, max(op, MIN_OPSET), "float"
    return None


def whole_float(fmt, opset: int):
    """(type, numpy dtype, opset) of a float format stored as itself and cast to float32, or None."""
    if _is_float(fmt) and _key(fmt) in _WHOLE:
        tp, dt, op = _WHOLE[_key(fmt)]
        if op <= opset:
            return tp, dt, max(op, MIN_OPSET)
    return None


def qonnx_float_ok(elem) -> bool:
    """FloatQuant is signed, with subnormals down to 2^(1-bias-mbits) (its executable semantics)."""
    return _is_float(elem) and elem.signed and elem.subnormals


def is_fixed(fmt) -> bool:
    return _is_fixed(fmt)


def cannot_express(fmt, why: str) -> ValueError:
    return ValueError(f"the onnx target cannot express format {fmt.name!r} ({type(fmt).__name__}): {why}; "
                      "export it with target 'packed', 'safetensors' or 'memh' instead")
