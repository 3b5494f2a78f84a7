"""The `packed` target: one raw little-endian bit stream per code array (packing.py), nothing else.

Files: `tensors/NNNN_<name>.codes.bin` (element codes, `bits` or `trits` packing) and, for scaled
formats, `tensors/NNNN_<name>.scales.bin` (scale codes: e8m0/e4m3 codes, or fp32 bit patterns).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .manifest import codes_to_array, encoded_from_storage, file_stem, tensor_entry

__all__ = ["write_packed", "read_packed"]


def write_packed(folder: Path, encs: dict, packing: dict) -> dict:
    (folder / "tensors").mkdir()
    entries = {}
    for i, (name, enc) in enumerate(encs.items()):
        entry = tensor_entry(enc, packing.get(name, "bits"))
        if entry["codes"]["packing"] == "none":
            raise ValueError("the packed target stores bit streams; packing 'none' is for safetensors")
        stem = f"tensors/{file_stem(i, name)}"
        entry["codes"]["file"] = f"{stem}.codes.bin"
        (folder / entry["codes"]["file"]).write_bytes(
            codes_to_array(enc.codes, enc.element_bits, entry["codes"]["packing"]).tobytes())
        if entry["scales"] is not None:
            entry["scales"]["file"] = f"{stem}.scales.bin"
            (folder / entry["scales"]["file"]).write_bytes(
                codes_to_array(enc.scales, entry["scales"]["bits"], "bits").tobytes())
        entries[name] = entry
    return {"tensors": entries}


def read_packed(folder: Path, manifest: dict) -> dict:
    def fetch(name, part, info):
        return np.frombuffer((folder / info["file"]).read_bytes(), np.uint8), info["file"]
    return {name: encoded_from_storage(name, entry, fetch) for name, entry in manifest["tensors"].items()}
