"""The per-tensor part of the manifest (schema in docs/export.md), shared by every target.

An entry names the format (its full `format_spec` and its name), the tensor's shape, the code layout
(layout shape, blocked axis, padding, granularity, block), the element codes (bits, count, packing) and
the scales (bits, count, shape, scale format) and tensor scale (fp32 bit pattern). Targets add where the
data lives (`file`, `key`, ...). Reading an entry back checks it against the format: the layout shape
and scale shape must be exactly what the format's own `encode` produces for that shape and axis.
"""
from __future__ import annotations

import re
import struct

import numpy as np

from lowbit.numerics import FixedFormat

from .codec import EncodedTensor, is_scaled, layout_of, scale_bits
from .packing import pack_bits, pack_trits, unpack_bits, unpack_trits
from .spec import format_from_spec, format_spec

__all__ = ["tensor_entry", "encoded_from_entry", "encoded_from_storage", "file_stem", "codes_to_array", "codes_from_array", "word_dtype",
           "PACKINGS",
           "can_pack_trits", "float32_hex", "float32_from_hex"]

PACKINGS = ("bits", "trits", "none", "float32")


def can_pack_trits(elem) -> bool:
    """The element is a trit: a 2-bit signed integer without its -2 code (codes 0b00, 0b01, 0b11)."""
    return isinstance(elem, FixedFormat) and elem.bits == 2 and elem.signed and elem.symmetric


def word_dtype(bits: int):
    """The unsigned integer type that holds one code of `bits` bits unpacked (packing 'none')."""
    return np.dtype("<u1") if bits <= 8 else np.dtype("<u2") if bits <= 16 else np.dtype("<u4")


def codes_to_array(codes, bits: int, packing: str) -> np.ndarray:
    """Codes as stored: a uint8 byte stream ('bits', 'trits'), one unsigned word per code ('none'), or
    fp32 bit patterns as float32 values ('float32')."""
    c = np.asarray(codes, np.int64)
    if packing == "none":
        return c.astype(word_dtype(bits))
    if packing == "float32":  # fp32 scales: their bit patterns seen as float32 (exact, NaN payloads kept)
        return c.astype("<u4").view("<f4")
    if packing == "trits":
        data = pack_trits(np.where(c == 3, -1, c))  # 2-bit two's complement -> trit value
    else:
        data = pack_bits(c, bits)
    return np.frombuffer(data, np.uint8)


def codes_from_array(arr, bits: int, count: int, packing: str, what: str) -> np.ndarray:
    """Inverse of `codes_to_array`: `count` int64 codes (C order). Sizes, types and padding are checked."""
    arr = np.asarray(arr)
    if packing == "none":
        if arr.dtype != word_dtype(bits) or arr.size != count:
            raise ValueError(f"{what}: {count} codes as {word_dtype(bits)} expected, {arr.size} as {arr.dtype} found")
        return arr.astype(np.int64).reshape(-1)
    if packing == "float32":
        if arr.dtype != np.dtype("<f4") or arr.size != count or bits != 32:
            raise ValueError(f"{what}: {count} float32 values expected, {arr.size} as {arr.dtype} found")
        return arr.reshape(-1).view("<u4").astype(np.int64)
    if arr.dtype != np.uint8:
        raise ValueError(f"{what}: a uint8 byte stream expected, {arr.dtype} found")
    if packing == "trits":
        return unpack_trits(arr.tobytes(), count, what) & 3  # trit value -> 2-bit two's complement code
    if packing == "bits":
        return unpack_bits(arr.tobytes(), bits, count, what)
    raise ValueError(f"{what}: packing {packing!r} unknown; allowed: {', '.join(PACKINGS)}")


def float32_hex(v: float) -> str:
    return "0x%08x" % struct.unpack("<I", struct.pack("<f", v))[0]


def float32_from_hex(s: str, where: str) -> float:
    if not isinstance(s, str) or not re.fullmatch(r"0x[0-9a-fA-F]{8}", s):
        raise ValueError(f"{where}: an fp32 bit pattern '0x' + 8 hex digits expected, got {s!r}")
    return struct.unpack("<f", struct.pack("<I", int(s, 16)))[0]


def file_stem(index: int, name: str) -> str:
    """A portable file name for tensor `name` (index first, so that names never collide)."""
    return f"{index:04d}_" + re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80]


def tensor_entry(enc: EncodedTensor, packing: str = "bits") -> dict:
    if packing not in PACKINGS:
        raise ValueError(f"packing={packing!r}; allowed: {', '.join(PACKINGS)}")
    if packing == "trits" and not can_pack_trits(enc.element_format):
        raise ValueError(f"packing='trits' needs ternary codes; {enc.fmt.name} has {enc.element_format.name} "
                         "elements: use packing='bits'")
    fmt = enc.fmt
    entry = {"format_name": str(fmt.name), "format": format_spec(fmt), "shape": list(enc.shape),
             "layout": {"shape": list(enc.codes.shape), "order": "C", "axis": enc.axis, "padded": enc.padded,
                        "granularity": fmt.granularity if fmt.is_scaled else None,
                        "block": fmt.block if is_scaled(fmt) and fmt.granularity == "block" else None},
             "codes": {"bits": enc.element_bits, "count": int(enc.codes.size), "packing": packing},
             "scales": None, "tensor_scale": None}
    if is_scaled(fmt):
        entry["scales"] = {"bits": scale_bits(fmt), "count": int(enc.scales.size), "shape": list(enc.scales.shape),
                           "format": "fp32" if fmt.scale_format is None else str(fmt.scale_format.name)}
        if enc.tensor_scale is not None:
            entry["tensor_scale"] = {"float32": float32_hex(enc.tensor_scale), "value": float(enc.tensor_scale)}
    return entry


def _shape(v, where: str) -> tuple:
    if not isinstance(v, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in v):
        raise ValueError(f"{where}: a shape (list of non-negative integers) expected, got {v!r}")
    return tuple(v)


def _expect(found, expected, where: str):
    if found != expected:
        raise ValueError(f"{where}: {expected!r} expected for this format and shape, {found!r} found")


def encoded_from_entry(name: str, entry: dict, codes: np.ndarray, scales: np.ndarray | None) -> EncodedTensor:
    """Rebuild the EncodedTensor of tensor `name` from its manifest entry and its unpacked arrays."""
    where = f"tensor {name!r}"
    try:
        fmt = format_from_spec(entry["format"], f"{where} format")
        shape = _shape(entry["shape"], f"{where} shape")
        layout = entry["layout"]
        lshape = _shape(layout["shape"], f"{where} layout.shape")
        axis, padded = layout["axis"], layout["padded"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{where}: manifest entry lacks {exc}; not a lowbit manifest entry") from None
    _expect(entry.get("format_name"), str(fmt.name), f"{where} format_name (the name of its format spec)")
    if is_scaled(fmt) and isinstance(entry.get("scales"), dict):
        _expect(entry["scales"].get("format"), "fp32" if fmt.scale_format is None else str(fmt.scale_format.name),
                f"{where} scales.format (the scale format of its format spec)")
    if codes.size != int(np.prod(lshape)):
        raise ValueError(f"{where}: {codes.size} codes found, {int(np.prod(lshape))} expected for layout {list(lshape)}")
    codes = codes.reshape(lshape)
    if not is_scaled(fmt):
        _expect(lshape, shape, f"{where} layout.shape")
        return EncodedTensor(fmt, shape, codes)
    if not isinstance(axis, int) or (shape and not 0 <= axis < len(shape)):
        raise ValueError(f"{where} layout.axis: an axis of shape {list(shape)} expected, {axis!r} found")
    probe = layout_of(fmt, shape, axis)
    _expect(lshape, tuple(probe.codes.shape), f"{where} layout.shape")
    _expect(padded, int(probe.padded), f"{where} layout.padded")
    _expect(axis, int(probe.axis), f"{where} layout.axis")
    if scales is None:
        raise ValueError(f"{where}: format {fmt.name} has scales but the manifest gives none")
    _expect(tuple(scales.shape), tuple(probe.scales.shape), f"{where} scales.shape")
    ts = None
    if fmt.is_scaled and fmt.tensor_scale:
        if not isinstance(entry.get("tensor_scale"), dict):
            raise ValueError(f"{where}: format {fmt.name} has a tensor scale but the manifest gives none")
        ts = float32_from_hex(entry["tensor_scale"].get("float32"), f"{where} tensor_scale")
    return EncodedTensor(fmt, shape, codes, axis, padded, scales, ts)


def _check_part(name: str, part: str, info) -> None:
    """The fields of an entry's codes/scales object: bits 1..32, count >= 0, a known packing."""
    where = f"tensor {name!r} {part}"
    if not isinstance(info, dict):
        raise ValueError(f"{where}: an object with bits, count and packing expected, got {info!r}")
    for key, lo, hi in (("bits", 1, 32), ("count", 0, None)):
        v = info.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
            raise ValueError(f"{where}.{key}={v!r} must be an integer in [{lo}, {hi if hi else 'inf'}]")
    if info.get("packing", "bits") not in PACKINGS:
        raise ValueError(f"{where}.packing={info.get('packing')!r}; allowed: {', '.join(PACKINGS)}")


def encoded_from_storage(name: str, entry: dict, fetch) -> EncodedTensor:
    """Read one tensor: `fetch(name, part, info)` returns (stored array, label) for part 'codes' or
    'scales' (info is that part of the entry); the arrays are unpacked and checked here."""
    if not isinstance(entry, dict):
        raise ValueError(f"tensor {name!r}: a manifest entry is an object, got {entry!r}")
    try:
        parts = {}
        for part in ("codes", "scales"):
            info = entry.get(part)
            if info is None:
                if part == "codes":
                    raise ValueError(f"tensor {name!r}: the manifest entry has no 'codes'; not a lowbit manifest "
                                     "entry")
                parts[part] = None
                continue
            _check_part(name, part, info)
            arr, label = fetch(name, part, info)
            packing = info.get("packing", "bits")
            flat = codes_from_array(arr, info["bits"], info["count"], packing, f"{label} ({name} {part})")
            if part == "scales" and int(np.prod(info["shape"])) != flat.size:
                raise ValueError(f"tensor {name!r}: scales.shape {info['shape']} does not hold {flat.size} scales")
            parts[part] = flat if part == "codes" else flat.reshape(info["shape"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"tensor {name!r}: manifest entry lacks {exc}; not a lowbit manifest entry") from None
    return encoded_from_entry(name, entry, parts["codes"], parts["scales"])
