"""Reading an `onnx` export back into codes: the ONNX file alone carries every code and scale exactly.

The inverse of onnx_target.py, per form: `dq` takes the element codes from the typed initializer (ONNX
integers back to two's complement codes, ONNX floats by their bit patterns) and the scale codes from the
float32 scales (fraction bits of fixed-point elements unfolded; e8m0/e4m3 scales re-encoded, exact since
they are on their grid); `cast` takes the bit patterns of the stored floats; `qonnx` re-encodes the
float32 values with the format (exact: they are on the grid, and the per-element scales are the block
scales). The codes go back into lowbit's layout (axis last, padded to whole blocks) and through the same
checks as every other target (`encoded_from_entry`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lowbit.numerics import FixedFormat

from .codec import EncodedTensor, is_scaled, layout_of, same_values
from .manifest import codes_from_array, encoded_from_entry, float32_from_hex
from .onnx_portable import table_of
from .spec import format_from_spec

__all__ = ["read_onnx"]


def _to_layout(arr: np.ndarray, probe: EncodedTensor) -> np.ndarray:
    """A tensor in its own shape -> lowbit's scaled layout (axis last, zero-padded), as probe's codes."""
    if probe.fmt.granularity == "tensor" or not probe.shape:
        moved = arr.reshape(1, -1) if probe.fmt.granularity == "tensor" else arr.reshape(1)
    else:
        moved = np.moveaxis(arr, probe.axis, -1)
    pad = probe.codes.shape[-1] - moved.shape[-1]
    if pad:
        moved = np.concatenate([moved, np.zeros(moved.shape[:-1] + (pad,), moved.dtype)], axis=-1)
    return moved.reshape(probe.codes.shape)


def _int_codes(arr: np.ndarray, elem) -> np.ndarray:
    if isinstance(elem, FixedFormat):   # ONNX integers -> two's complement codes of the element's width
        return np.asarray(arr).astype(np.int64) % (1 << elem.bits)
    return np.asarray(arr).view(np.uint8).astype(np.int64)   # ml_dtypes floats: one code per byte


def _scale_codes(values: np.ndarray, fmt) -> np.ndarray:
    """Scale codes from float scale values (fraction bits of a fixed-point element unfolded)."""
    v = np.asarray(values, np.float64)
    if isinstance(fmt.element, FixedFormat):
        v = np.ldexp(v, fmt.element.frac_bits)
    if fmt.scale_format is None:
        return v.astype(np.float32).view(np.uint32).astype(np.int64)
    return np.asarray(fmt.scale_format.encode(v), np.int64)


def _dq_scale_layout(s: np.ndarray, probe: EncodedTensor) -> np.ndarray:
    """Inverse of onnx_target._dq_scale: float32 DequantizeLinear scales -> (..., nblocks)."""
    target = probe.scales.shape
    if s.ndim == 0:
        return np.full(target, float(s))
    if s.ndim == 1 and len(probe.shape) == 2 and probe.fmt.granularity == "channel":
        return s.reshape(target)
    return np.moveaxis(s, probe.axis, -1).reshape(target)


def _stream(name: str, get, key: str, fmt, count: int) -> np.ndarray:
    """Codes of a portable form's packed uint8 stream, after checking its value table is the format's."""
    if not same_values(np.asarray(get(key + "_table")), table_of(fmt)):
        raise ValueError(f"tensor {name!r}: the value table {key}_table is not the values of {fmt.name}")
    return codes_from_array(np.asarray(get(key)), int(fmt.bits), count, "bits", f"tensor {name!r} {key}")


def _portable(name: str, fmt, elem, probe: EncodedTensor, get):
    """(codes, scales) of the portable form: the packed streams (and fp32 scales) in lowbit's layout."""
    codes = _stream(name, get, "codes", elem, int(probe.codes.size))
    if not is_scaled(fmt):
        return codes, None
    if fmt.scale_format is None:
        s = np.asarray(get("scale"))
        if s.dtype != np.float32 or s.shape != probe.scales.shape:
            raise ValueError(f"tensor {name!r}: float32 scales of shape {list(probe.scales.shape)} expected, "
                             f"{s.dtype} {list(s.shape)} found")
        return codes, s.view(np.uint32).astype(np.int64)
    scales = _stream(name, get, "scale_codes", fmt.scale_format, int(probe.scales.size))
    return codes, scales.reshape(probe.scales.shape)


def _tensor(name: str, entry: dict, get) -> EncodedTensor:
    fmt = format_from_spec(entry["format"], f"tensor {name!r} format")
    shape, axis, form = tuple(entry["shape"]), entry["layout"]["axis"], entry["onnx"]["form"]
    probe = layout_of(fmt, shape, -1 if axis is None else axis)
    elem = fmt.element
    scales = None
    if form == "empty":
        codes, scales = probe.codes, probe.scales
    elif form == "cast":
        v = np.asarray(get("value"))
        codes = v.view({1: np.uint8, 2: np.uint16, 4: np.uint32}[v.dtype.itemsize]).astype(np.int64)
    elif form == "dq":
        codes = _int_codes(get("codes"), elem)
        if is_scaled(fmt):
            codes = _to_layout(codes, probe)
            scales = _scale_codes(_dq_scale_layout(np.asarray(get("scale")), probe), fmt)
    elif form == "wide_int":
        codes = np.asarray(get("codes"), np.int64) % (1 << elem.bits)   # integers -> two's complement codes
    elif form == "portable":
        codes, scales = _portable(name, fmt, elem, probe, get)
    elif form == "qonnx":
        x = np.asarray(get("x"), np.float64)
        if is_scaled(fmt):
            per = _to_layout(np.broadcast_to(np.asarray(get("scale"), np.float64), shape), probe)
            blk = probe.codes.shape[-1] // max(probe.scales.shape[-1], 1)
            s_blk = per.reshape(probe.scales.shape + (blk,))[..., 0]
            scales = _scale_codes(s_blk, fmt)
            true = np.ldexp(s_blk, elem.frac_bits if isinstance(elem, FixedFormat) else 0)
            xl = _to_layout(x, probe).reshape(probe.scales.shape + (blk,))
            with np.errstate(invalid="ignore", divide="ignore"):
                v = np.where((true > 0)[..., None], xl / np.where(true > 0, true, 1.0)[..., None], 0.0)
            codes = np.asarray(elem.encode(v.reshape(probe.codes.shape), overflow="saturate"), np.int64)
        else:
            codes = np.asarray(fmt.encode(x), np.int64)
    else:
        raise ValueError(f"tensor {name!r}: onnx form {form!r} unknown")
    if entry.get("tensor_scale") is not None and form != "empty":   # an empty tensor has no graph
        got = np.float32(np.asarray(get("tensor_scale")))
        if got.tobytes() != np.float32(float32_from_hex(entry["tensor_scale"]["float32"], name)).tobytes():
            raise ValueError(f"tensor {name!r}: the ONNX tensor scale {got!r} disagrees with the manifest")
    return encoded_from_entry(name, entry, np.asarray(codes, np.int64).reshape(-1), scales)


def read_onnx(folder: Path, manifest: dict) -> dict:
    import onnx
    from onnx import numpy_helper
    path = folder / manifest.get("file", "model.onnx")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf raises its own error types for a damaged file
        raise ValueError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    props = {p.key: p.value for p in model.metadata_props}
    try:
        embedded = json.loads(props["lowbit_manifest"])["tensors"]
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"{path}: metadata 'lowbit_manifest' missing or not lowbit JSON") from None
    if embedded != manifest["tensors"]:
        raise ValueError(f"{path}: the manifest in its metadata disagrees with manifest.json")
    inits = {t.name: t for t in model.graph.initializer}
    out = {}
    for name, entry in manifest["tensors"].items():
        def get(key, name=name):
            t = inits.get(f"{name}::{key}")
            if t is None:
                raise ValueError(f"{path}: initializer {name}::{key} missing")
            return numpy_helper.to_array(t)
        out[name] = _tensor(name, entry, get)
    return out
