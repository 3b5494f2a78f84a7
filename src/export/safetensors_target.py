"""The `safetensors` target: codes as integer tensors, scales, and the manifest in the file's metadata.

One file, `model.safetensors` (format: huggingface/safetensors, little-endian, header JSON), holding per
tensor NAME:
- `NAME.codes`: uint8/uint16/uint32 codes in the layout shape (8..32-bit formats), or, for sub-byte
  formats, the packed LSB-first byte stream as a 1-D uint8 tensor (2 fp4/int4 codes per byte; ternary
  2 bits or 5 trits per byte); `subbyte="unpacked"` stores one uint8 per code in the layout shape instead;
- `NAME.scales`: uint8 e8m0/e4m3 scale codes, or float32 scales (exact bit patterns);
- `NAME.tensor_scale`: the fp32 second-level scale (NVFP4), a 0-d float32 tensor.
The metadata key `lowbit_manifest` holds {"schema", "version", "tensors"}: the manifest's tensor entries,
so the file alone describes itself; manifest.json next to it adds the checksums.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .manifest import codes_to_array, encoded_from_storage, tensor_entry
from ._deps import require
from .store import SCHEMA, VERSION

__all__ = ["write_safetensors", "read_safetensors", "FILE", "META_KEY"]

FILE = "model.safetensors"
META_KEY = "lowbit_manifest"
SUBBYTE = ("packed", "unpacked")


def write_safetensors(folder: Path, encs: dict, options: dict) -> dict:
    save_file = require("safetensors.numpy", "the safetensors target").save_file
    subbyte = options.get("subbyte", "packed")
    if subbyte not in SUBBYTE:
        raise ValueError(f"subbyte={subbyte!r}; allowed: {', '.join(SUBBYTE)}")
    packing = options.get("packing", {})
    clash = [n for n in encs if any(f"{n}.{p}" in encs for p in ("codes", "scales", "tensor_scale"))]
    if clash:
        raise ValueError(f"tensor names {clash} collide with the '.codes'/'.scales' keys of other tensors")
    arrays, entries = {}, {}
    for name, enc in encs.items():
        pk = packing.get(name, "bits" if subbyte == "packed" and enc.element_bits < 8 else "none")
        entry = tensor_entry(enc, pk)
        entry["codes"]["key"] = f"{name}.codes"
        arrays[f"{name}.codes"] = codes_to_array(enc.codes, enc.element_bits, pk)
        if pk == "none":
            arrays[f"{name}.codes"] = arrays[f"{name}.codes"].reshape(enc.codes.shape)
        if entry["scales"] is not None:
            spk = "float32" if entry["scales"]["format"] == "fp32" else "none"
            entry["scales"].update(key=f"{name}.scales", packing=spk)
            arrays[f"{name}.scales"] = codes_to_array(enc.scales, entry["scales"]["bits"], spk).reshape(enc.scales.shape)
        if enc.tensor_scale is not None:
            entry["tensor_scale"]["key"] = f"{name}.tensor_scale"
            arrays[f"{name}.tensor_scale"] = np.array(enc.tensor_scale, dtype=np.float32)
        entries[name] = entry
    meta = json.dumps({"schema": SCHEMA, "version": VERSION, "tensors": entries}, allow_nan=False)
    save_file(arrays, str(folder / FILE), metadata={META_KEY: meta})
    return {"tensors": entries, "file": FILE}


def read_safetensors(folder: Path, manifest: dict) -> dict:
    st = require("safetensors", "the safetensors target")
    SafetensorError, safe_open = st.SafetensorError, st.safe_open
    path = folder / manifest.get("file", FILE)
    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{path}: not a readable safetensors file ({exc})") from None
    try:
        embedded = json.loads(meta[META_KEY])["tensors"]
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"{path}: metadata key {META_KEY!r} missing or not lowbit JSON") from None
    if embedded != manifest["tensors"]:
        raise ValueError(f"{path}: the manifest in its metadata disagrees with manifest.json")

    def fetch(name, part, info):
        key = info["key"]
        if key not in arrays:
            raise ValueError(f"{path}: tensor {key!r} missing")
        return arrays[key], f"{path.name}[{key}]"
    out = {}
    for name, entry in manifest["tensors"].items():
        out[name] = enc = encoded_from_storage(name, entry, fetch)
        key = (entry.get("tensor_scale") or {}).get("key")
        if key is not None and fetch(name, "tensor_scale", {"key": key})[0].tobytes() != \
                np.float32(enc.tensor_scale).tobytes():
            raise ValueError(f"{path}: {key} disagrees with the tensor scale in the manifest")
    return out
