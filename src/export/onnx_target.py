"""The `onnx` target: `model.onnx`, a graph with one float32 output per tensor, equal to the lowbit
values bit for bit (checked with onnxruntime and with onnx.reference.ReferenceEvaluator in the tests).

Per tensor (forms chosen by onnx_map.py, onnx_runtime.py and onnx_portable.py):
- `dq`: codes as an initializer of their ONNX type -> DequantizeLinear(x, scale[, axis][, block_size])
  with float32 scales (per tensor: a scalar; per channel of a 2-D weight: per-axis; per block: blocked
  along the axis, the last block ragged, as DequantizeLinear-21 defines) -> Mul by NVFP4's fp32 tensor
  scale. Elements times scales are exact in float32 except for the single final rounding the lowbit
  value has too.
- `cast`: fp16/bf16/e8m0 stored as themselves -> Cast to float32 (fp32 itself: Identity).
- `portable`: packed uint8 codes -> Gather from the format's value table -> scales (onnx_portable.py):
  only operators every onnxruntime CPU build has.
- `wide_int` (auto/portable; fixed point whose values need float64, e.g. int32): the integers as an
  INT64 initializer -> Cast to DOUBLE -> Mul by 2^-frac_bits; a float64 output, as `Format.quantize`.
- `qonnx`: float32 values -> QONNX FloatQuant / Quant (domain qonnx.custom_op.general) with the format's
  parameters; on values already on the grid these are the identity, so the output is exact.
`ops="auto"` (default) takes dq/cast where the installed onnxruntime runs that exact form (asked of
onnxruntime once, onnx_runtime.py) and portable otherwise; `ops="portable"` takes portable everywhere;
`ops="qdq"` takes dq/cast where the opset allows and qonnx otherwise; `ops="qonnx"` uses QONNX for
every quantized format. `opset=None` picks the lowest opset (>= 19) that makes every native tensor
native. The model's metadata holds the manifest's tensor entries (`lowbit_manifest`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from lowbit.numerics import FloatFormat

from .api import ONNX_OPS
from .codec import EncodedTensor, decode_tensor, is_scaled, quantize_dtype
from .manifest import tensor_entry
from .onnx_map import (MAX_OPSET, MIN_OPSET, cannot_express, is_fixed, native_element, qonnx_float_ok,
                       whole_float)
from .onnx_portable import MAX_BITS, lower, lower_wide_int, unlayout, why_not, why_not_wide
from .onnx_runtime import probe_record, runs_cast, runs_dequantize, runtime_version, scale_kind
from .store import SCHEMA, VERSION

__all__ = ["write_onnx", "QONNX_DOMAIN", "FILE"]

FILE = "model.onnx"
QONNX_DOMAIN = "qonnx.custom_op.general"
OPS = ONNX_OPS


def _scale_values(enc: EncodedTensor) -> np.ndarray:
    """float32 scale per block, in the scale layout (..., nblocks); frac bits folded in, exactly."""
    fmt = enc.fmt
    if fmt.scale_format is None:
        s = enc.scales.astype(np.uint32).view(np.float32).astype(np.float64)
    else:
        s = np.asarray(fmt.scale_format.decode(enc.scales), np.float64)
    if is_fixed(fmt.element):
        s = np.ldexp(s, -fmt.element.frac_bits)
    s32 = s.astype(np.float32)
    ok = (s32.astype(np.float64) == s) | np.isnan(s)
    if not ok.all():
        raise cannot_express(fmt, "a scale times the element's 2^-frac_bits is not a float32")
    return s32


def _dq_scale(enc: EncodedTensor):
    """(scale array, DequantizeLinear attributes) for the tensor's granularity (blocks need opset 21)."""
    fmt, s, nd = enc.fmt, _scale_values(enc), len(enc.shape)
    if fmt.granularity == "tensor" or nd <= 1 and fmt.granularity == "channel" or s.size == 1:
        return s.reshape(()), {}   # one scale: per tensor (onnxruntime refuses block_size with one scale)
    if fmt.granularity == "channel" and nd == 2:
        return s.reshape(-1), {"axis": 1 - enc.axis}  # one scale per index of the other axis
    block = fmt.block if fmt.granularity == "block" else enc.shape[enc.axis]
    return np.moveaxis(s, -1, enc.axis), {"axis": enc.axis, "block_size": int(block)}


def _runtime_native(enc: EncodedTensor, form: str, opset: int, probes: dict) -> bool:
    """Does the installed onnxruntime run this native form exactly (onnx_runtime.py; asked once)?"""
    installed = runtime_version() is not None
    if form == "cast":
        tp, dt, _ = whole_float(enc.fmt, opset)
        question = f"Cast {TP.DataType.Name(tp)} -> FLOAT, opset {opset}"
        answer = installed and runs_cast(tp, np.dtype(dt).name, opset)
    else:
        tp, dt, _, _ = native_element(enc.element_format, opset)
        kind = scale_kind(_dq_scale(enc)[1]) if is_scaled(enc.fmt) else "tensor"
        question = f"DequantizeLinear {TP.DataType.Name(tp)} ({kind} scale), opset {opset}"
        answer = installed and runs_dequantize(tp, np.dtype(dt).name, kind, opset)
    probes[question] = answer
    return answer


def _plan(enc: EncodedTensor, opset: int, ops: str, probes: dict | None = None) -> str:
    fmt = enc.fmt
    elem = enc.element_format
    if ops in ("auto", "portable"):
        return _plan_runtime(enc, opset, ops, {} if probes is None else probes)
    if np.dtype(quantize_dtype(fmt)) != np.float32:
        raise cannot_express(fmt, "its values need float64 and ONNX dequantizes to float32")
    if not (is_fixed(elem) or isinstance(elem, FloatFormat)):
        raise cannot_express(fmt, f"no ONNX or QONNX operator decodes {type(elem).__name__} elements")
    if int(np.prod(enc.shape)) == 0:
        return "empty"
    if not is_scaled(fmt) and whole_float(fmt, opset):
        return "cast"
    if ops == "qdq" and native_element(elem, opset):
        return "dq"
    if is_fixed(elem) or qonnx_float_ok(elem):
        return "qonnx"
    raise cannot_express(fmt, f"no ONNX type at opset {opset} and QONNX FloatQuant lacks its encoding")


def _plan_runtime(enc: EncodedTensor, opset: int, ops: str, probes: dict) -> str:
    """auto: the native form where onnxruntime runs it exactly, else portable; portable: portable
    (fp32 itself: Cast, which every runtime has)."""
    fmt, elem = enc.fmt, enc.element_format
    if np.dtype(quantize_dtype(fmt)) != np.float32:   # e.g. int32: integers -> float64 (Cast, Mul)
        why = why_not_wide(enc)
        if why is not None:
            raise cannot_express(fmt, why)
        return "empty" if int(np.prod(enc.shape)) == 0 else "wide_int"
    if int(np.prod(enc.shape)) == 0:
        return "empty"
    whole = not is_scaled(fmt) and whole_float(fmt, opset)
    if whole and (elem.bits > MAX_BITS or ops == "auto" and _runtime_native(enc, "cast", opset, probes)):
        return "cast"
    if ops == "auto" and not whole and native_element(elem, opset):
        try:
            if _runtime_native(enc, "dq", opset, probes):
                return "dq"
        except ValueError:   # scales ONNX cannot hold as float32 (cannot_express): portable decides
            pass
    why = why_not(enc)
    if why is not None:
        raise cannot_express(fmt, why)
    return "portable"


def _const(name: str, arr) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(arr), name)


def _typed(codes: np.ndarray, elem, dtype) -> np.ndarray:
    if is_fixed(elem):
        k = np.where(elem.signed & (codes >= (1 << (elem.bits - 1))), codes - (1 << elem.bits), codes)
        return k.astype(dtype)
    return codes.astype(np.uint8).view(dtype)


def _nodes(name: str, enc: EncodedTensor, form: str, opset: int):
    """(nodes, initializers, domain opset needed) producing float32 output `name`."""
    fmt, elem, p = enc.fmt, enc.element_format, f"{name}::"
    if form == "portable":
        return (*lower(name, enc), 0)
    if form == "wide_int":
        return (*lower_wide_int(name, enc), 0)
    if form == "empty":
        zeros = np.zeros(enc.shape, quantize_dtype(fmt))
        return [helper.make_node("Identity", [p + "empty"], [name])], [_const(p + "empty", zeros)], 0
    if form == "cast":
        tp, dt, op = whole_float(fmt, opset)
        words = enc.codes.astype({1: np.uint8, 2: np.uint16, 4: np.uint32}[np.dtype(dt).itemsize])
        init = _const(p + "value", words.view(dt))
        return [helper.make_node("Cast", [p + "value"], [name], to=TP.FLOAT)], [init], 0
    tail = [name] if enc.tensor_scale is None else [p + "pre"]
    nodes, inits = [], []
    if form == "dq":
        tp, dt, op, _ = native_element(elem, opset)
        if is_scaled(fmt):
            codes = unlayout(enc, enc.codes)
            scale, attrs = _dq_scale(enc)
        else:
            codes, attrs = enc.codes, {}
            scale = np.float32(2.0 ** -elem.frac_bits) if is_fixed(elem) else np.float32(1.0)
        inits += [_const(p + "codes", _typed(codes, elem, dt)), _const(p + "scale", np.asarray(scale, np.float32))]
        nodes.append(helper.make_node("DequantizeLinear", [p + "codes", p + "scale"], tail, **attrs))
    else:  # qonnx: fake-quant of float32 values already on the grid
        pre = EncodedTensor(fmt, enc.shape, enc.codes, enc.axis, enc.padded, enc.scales, None)
        vals = decode_tensor(pre, np.float64)
        if is_scaled(fmt):
            s = _scale_values(enc).astype(np.float64)
            per = np.repeat(s, fmt.block if fmt.granularity == "block" else enc.codes.shape[-1], axis=-1)
            scale = unlayout(enc, per.reshape(enc.codes.shape)).astype(np.float32)
            vals = vals.astype(np.float32)
        else:
            scale = np.float32(2.0 ** -elem.frac_bits) if is_fixed(elem) else np.float32(1.0)
        inits += [_const(p + "x", np.asarray(vals, np.float32)), _const(p + "scale", np.asarray(scale, np.float32))]
        if is_fixed(elem):
            inits += [_const(p + "zeropt", np.float32(0)), _const(p + "bitwidth", np.float32(elem.bits))]
            nodes.append(helper.make_node("Quant", [p + "x", p + "scale", p + "zeropt", p + "bitwidth"], tail,
                                          domain=QONNX_DOMAIN, signed=int(elem.signed),
                                          narrow=int(elem.symmetric), rounding_mode="ROUND"))
        else:
            for k, v in (("exponent_bitwidth", elem.ebits), ("mantissa_bitwidth", elem.mbits),
                         ("exponent_bias", elem.bias), ("max_val", elem.max)):
                inits.append(_const(p + k, np.float32(v)))
            nodes.append(helper.make_node(
                "FloatQuant", [p + "x", p + "scale", p + "exponent_bitwidth", p + "mantissa_bitwidth",
                               p + "exponent_bias", p + "max_val"], tail, domain=QONNX_DOMAIN,
                has_inf=int(elem.has_inf), has_nan=int(elem.has_nan), has_subnormal=int(elem.subnormals),
                rounding_mode="ROUND", saturation=1))
    if enc.tensor_scale is not None:
        inits.append(_const(p + "tensor_scale", np.float32(enc.tensor_scale)))
        nodes.append(helper.make_node("Mul", [p + "pre", p + "tensor_scale"], [name]))
    return nodes, inits, int(form == "qonnx")


def _native_opset(enc: EncodedTensor) -> int | None:
    """The lowest opset with a native (dq/cast, full width) form of the tensor; None if there is none."""
    try:
        opset = _needed_opset(enc, "qdq")
    except ValueError:
        return None
    form = _plan(enc, opset, "qdq")
    return opset if form in ("dq", "cast") else None


def _auto_opset(encs: dict, probes: dict) -> int:
    """The lowest opset at which every tensor onnxruntime runs natively is native (the rest portable):
    shrink the set of native tensors until onnxruntime runs each of them at the opset they need."""
    need = {name: _native_opset(enc) for name, enc in encs.items() if int(np.prod(enc.shape))}
    native = {name for name, op in need.items() if op is not None}
    while True:
        opset = max([MIN_OPSET] + [need[name] for name in native])
        keep = {name for name in native if _plan(encs[name], opset, "auto", probes) in ("dq", "cast")}
        if keep == native:
            return opset
        native = keep


def _needed_opset(enc: EncodedTensor, ops: str) -> int:
    """The lowest opset at which the tensor is native (dq/cast); MIN_OPSET if only QONNX expresses it."""
    error, qonnx_ok = None, False
    for opset in range(MIN_OPSET, MAX_OPSET + 1):
        try:
            form = _plan(enc, opset, ops)
        except ValueError as exc:
            error = exc
            continue
        if form == "qonnx":
            qonnx_ok = True
            continue
        if form == "dq" and native_element(enc.element_format, opset)[0] != \
                native_element(enc.element_format, MAX_OPSET)[0]:
            continue  # widened (e.g. int4 as INT8): a later opset has the exact width
        blocked = form == "dq" and is_scaled(enc.fmt) and "block_size" in _dq_scale(enc)[1]
        return max(opset, 21) if blocked else opset
    if qonnx_ok or error is None:
        return MIN_OPSET
    raise error


def write_onnx(folder: Path, encs: dict, options: dict) -> dict:
    ops = options.get("ops", "auto")
    if ops not in OPS:
        raise ValueError(f"ops={ops!r}; allowed: {', '.join(OPS)}")
    other = sorted({p for p in (options.get("packing") or {}).values() if p != "bits"})
    if other:   # ONNX types or (portable) the LSB-first bit stream: there is no trit packing in a graph
        raise ValueError(f"packing {other[0]!r} is not available in the onnx target (codes are ONNX types or the "
                         "'bits' stream); use packing 'bits' or the packed, safetensors or memh target")
    opset, probes = options.get("opset"), {}
    if opset is None and ops == "auto":
        opset = _auto_opset(encs, probes)
    elif opset is None:
        opset = max([MIN_OPSET] + [_needed_opset(e, ops) for e in encs.values()])
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset={opset!r}; allowed: {MIN_OPSET}..{MAX_OPSET}")
    forward = options.get("forward")   # a model's forward graph (onnx_forward.py) consuming the tensors
    if forward is not None and ops not in ("auto", "portable"):
        raise ValueError(f"ops={ops!r} is not available for a forward graph (it must run in onnxruntime); "
                         "allowed: auto, portable")
    nodes, inits, outputs, entries, forms, qonnx = [], [], [], {}, {}, 0
    for name, enc in encs.items():
        form = _plan(enc, opset, ops, probes)
        n, i, q = _nodes(name, enc, form, opset)
        nodes += n
        inits += i
        qonnx |= q
        out_type = helper.np_dtype_to_tensor_dtype(np.dtype(quantize_dtype(enc.fmt)))   # float32 (int32: float64)
        if forward is not None and out_type != TP.FLOAT:
            raise ValueError(f"tensor {name!r} ({enc.fmt.name}) decodes to float64; a forward graph computes "
                             "its GEMMs in float32")
        if forward is None:
            outputs.append(helper.make_tensor_value_info(name, out_type, list(enc.shape)))
        entries[name] = tensor_entry(enc)
        entries[name]["onnx"] = {"output": name, "form": form}
        forms[name] = form
    inputs, fwd_record = [], None
    if forward is not None:
        fnodes, finits, inputs, outputs, fwd_record = forward({name: name for name in encs})
        nodes += fnodes
        inits += finits
    graph = helper.make_graph(nodes, "lowbit_export", inputs, outputs, initializer=inits)
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(QONNX_DOMAIN, 1)] if qonnx else [])
    model = helper.make_model(graph, opset_imports=imports, producer_name="lowbit")
    meta = json.dumps({"schema": SCHEMA, "version": VERSION, "tensors": entries}, allow_nan=False)
    helper.set_model_props(model, {"lowbit_manifest": meta})
    onnx.checker.check_model(model, full_check=not qonnx)
    onnx.save(model, str(folder / FILE))
    record = {"opset": opset, "ops": ops, "forms": forms}
    if fwd_record is not None:
        record["graph"] = "forward"
        record["forward"] = fwd_record
    if ops == "auto":   # what the choice between native and portable forms was based on
        record["runtime"] = probe_record(runtime_version(), probes)
    return {"tensors": entries, "file": FILE, "onnx": record}
