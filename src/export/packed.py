"""The `packed` target: one raw little-endian bit stream per code array (packing.py), nothing else.

Files: `tensors/NNNN_<name>.codes.bin` (element codes, `bits` or `trits` packing) and, for scaled
formats, `tensors/NNNN_<name>.scales.bin` (scale codes: e8m0/e4m3 codes, or fp32 bit patterns).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .manifest import encoded_from_entry, file_stem, pack_codes, tensor_entry, unpack_codes

__all__ = ["write_packed", "read_packed", "read_arrays"]


def write_packed(folder: Path, encs: dict, packing: dict) -> dict:
    (folder / "tensors").mkdir()
    entries = {}
    for i, (name, enc) in enumerate(encs.items()):
        entry = tensor_entry(enc, packing.get(name, "bits"))
        stem = f"tensors/{file_stem(i, name)}"
        entry["codes"]["file"] = f"{stem}.codes.bin"
        (folder / entry["codes"]["file"]).write_bytes(pack_codes(enc.codes, enc.element_bits,
                                                                 entry["codes"]["packing"]))
        if entry["scales"] is not None:
            entry["scales"]["file"] = f"{stem}.scales.bin"
            (folder / entry["scales"]["file"]).write_bytes(pack_codes(enc.scales, entry["scales"]["bits"], "bits"))
        entries[name] = entry
    return {"tensors": entries}


def read_arrays(folder: Path, name: str, entry: dict):
    """(codes, scales or None) of one tensor, unpacked from its files (sizes and padding checked)."""
    def load(part, packing):
        info = entry[part]
        data = (folder / info["file"]).read_bytes()
        return unpack_codes(data, info["bits"], info["count"], packing, f"{info['file']} ({name} {part})")
    try:
        codes = load("codes", entry["codes"].get("packing", "bits"))
        scales = None
        if entry.get("scales") is not None:
            scales = load("scales", "bits").reshape(entry["scales"]["shape"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"tensor {name!r}: manifest entry lacks {exc}; not a lowbit manifest entry") from None
    return np.asarray(codes, np.int64), scales


def read_packed(folder: Path, manifest: dict) -> dict:
    return {name: encoded_from_entry(name, entry, *read_arrays(folder, name, entry))
            for name, entry in manifest["tensors"].items()}
