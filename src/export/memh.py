"""The `memh` target: Verilog memory images for `$readmemh` / `$readmemb` (IEEE 1364-2005 section 17.2.9).

Each code array is the same LSB-first bit stream as the packed target (packing.py), cut into words of
`word_bits` bits: stream bit p is bit p % W of word p // W, one word per line (hex or binary digits,
most significant first, no address markers), the last word zero-padded. With the default W = the code
width, line i holds code i, so `reg [B-1:0] mem [0:N-1]; $readmemh(file, mem)` gives mem[i] = code i;
with W = 32 and 4-bit codes, each line holds 8 codes, code 8j+k in bits [4k+3:4k] of word j.
Files: `mem/NNNN_<name>.codes.memh`, `.scales.memh` (e8m0/e4m3 codes, or fp32 bit patterns) and
`.tensor_scale.memh` (NVFP4's fp32 scale, one 32-bit word); `radix="bin"` writes `.memb` files.
The element and scale layouts are those of the manifest (`layout`, `scales.shape`, C order).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .manifest import codes_to_array, encoded_from_storage, file_stem, float32_hex, tensor_entry

__all__ = ["write_memh", "read_memh", "words_from_stream", "stream_from_words"]

RADIX = ("hex", "bin")


def _stream_bits(info) -> int:
    return 8 * ((info["count"] + 4) // 5) if info.get("packing") == "trits" else info["count"] * info["bits"]


def words_from_stream(data: np.ndarray, nbits: int, word_bits: int) -> list:
    """The first nbits bits of a byte stream as W-bit words (Python ints, LSB-first within the stream)."""
    bits = np.unpackbits(np.asarray(data, np.uint8), bitorder="little")[:nbits]
    bits = np.concatenate([bits, np.zeros((-nbits) % word_bits, np.uint8)]).reshape(-1, word_bits)
    if word_bits <= 63:
        return (bits.astype(np.uint64) << np.arange(word_bits, dtype=np.uint64)).sum(axis=1).tolist()
    return [int("".join(map(str, row[::-1])), 2) for row in bits.tolist()]


def stream_from_words(words: list, nbits: int, word_bits: int, what: str) -> np.ndarray:
    """Inverse of `words_from_stream`: the byte stream (uint8) of nbits bits; padding must be zero."""
    need = -(-nbits // word_bits)
    if len(words) != need:
        raise ValueError(f"{what}: {len(words)} words found, {need} expected for {nbits} bits in {word_bits}-bit words")
    if any(w >> word_bits for w in words):
        raise ValueError(f"{what}: a word is wider than {word_bits} bits")
    if word_bits <= 63:
        arr = np.asarray(words, np.uint64).reshape(-1, 1)
        bits = ((arr >> np.arange(word_bits, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8).reshape(-1)
    else:
        bits = np.array([(w >> j) & 1 for w in words for j in range(word_bits)], np.uint8)
    if bits[nbits:].any():
        raise ValueError(f"{what}: the padding bits of the last word are not zero")
    return np.packbits(bits[:nbits], bitorder="little")


def _write(path: Path, words: list, word_bits: int, radix: str):
    if radix == "hex":
        nd = -(-word_bits // 4)
        path.write_text("".join(f"{w:0{nd}x}\n" for w in words))
    else:
        path.write_text("".join(f"{w:0{word_bits}b}\n" for w in words))


def _read(path: Path, radix: str, what: str) -> list:
    out = []
    for ln in path.read_text().split():
        try:
            out.append(int(ln, 16 if radix == "hex" else 2))
        except ValueError:
            raise ValueError(f"{what}: {ln!r} is not a {radix} word") from None
    return out


def write_memh(folder: Path, encs: dict, options: dict) -> dict:
    radix, word_bits = options.get("radix", "hex"), options.get("word_bits")
    if radix not in RADIX:
        raise ValueError(f"radix={radix!r}; allowed: {', '.join(RADIX)}")
    if word_bits is not None and (isinstance(word_bits, bool) or not isinstance(word_bits, int)
                                  or not 1 <= word_bits <= 1024):
        raise ValueError(f"word_bits={word_bits!r}; allowed: None (one code per word) or 1..1024")
    ext = "memh" if radix == "hex" else "memb"
    (folder / "mem").mkdir()
    entries = {}
    for i, (name, enc) in enumerate(encs.items()):
        entry = tensor_entry(enc, options.get("packing", {}).get(name, "bits"))
        stem = f"mem/{file_stem(i, name)}"
        parts = [("codes", enc.codes, entry["codes"])]
        if entry["scales"] is not None:
            parts.append(("scales", enc.scales, entry["scales"]))
        for part, arr, info in parts:
            packing = info.get("packing", "bits")
            stream = codes_to_array(arr, info["bits"], packing)
            w = word_bits or (8 if packing == "trits" else info["bits"])
            words = words_from_stream(stream, _stream_bits(info), w)
            info.update(file=f"{stem}.{part}.{ext}", word_bits=w, words=len(words), radix=radix)
            _write(folder / info["file"], words, w, radix)
        if entry["tensor_scale"] is not None:
            entry["tensor_scale"]["file"] = f"{stem}.tensor_scale.{ext}"
            _write(folder / entry["tensor_scale"]["file"], [int(float32_hex(enc.tensor_scale), 16)], 32, radix)
        entries[name] = entry
    return {"tensors": entries}


def read_memh(folder: Path, manifest: dict) -> dict:
    def fetch(name, part, info):
        what = f"{info['file']} ({name} {part})"
        words = _read(folder / info["file"], info["radix"], what)
        return stream_from_words(words, _stream_bits(info), info["word_bits"], what), info["file"]
    out = {}
    for name, entry in manifest["tensors"].items():
        out[name] = encoded_from_storage(name, entry, fetch)
        ts = entry.get("tensor_scale")
        if ts is not None and _read(folder / ts["file"], entry["codes"]["radix"], ts["file"]) != \
                [int(ts["float32"], 16)]:
            raise ValueError(f"{ts['file']}: disagrees with the tensor scale in the manifest")
    return out
