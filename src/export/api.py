"""Tensor-level export API: named tensors in lowbit formats -> an export directory -> the same codes.

`export_tensors(tensors, to, target="packed")` takes {name: EncodedTensor | (values, format[, axis])},
encodes where needed (with the format's own `encode`), and writes the directory atomically with its
manifest (store.py). `load_tensors(dir)` verifies the directory and returns {name: EncodedTensor};
`load_values(dir)` decodes them (equal to `fmt.quantize(values)` bit for bit).
"""
from __future__ import annotations

from pathlib import Path

from lowbit.numerics import get_format

from ._deps import require
from .codec import EncodedTensor, decode_tensor, encode_tensor
from .packed import read_packed, write_packed
from .memh import read_memh, write_memh
from .safetensors_target import read_safetensors, write_safetensors
from .store import read_manifest, write_directory

__all__ = ["export_tensors", "load_tensors", "load_values", "as_encoded", "TARGETS", "register_target", "ONNX_OPS"]

# The onnx target's lowerings (onnx_target.py; named here so that callers need not import onnx)
ONNX_OPS = ("auto", "qdq", "qonnx", "portable")

# target name -> (write(folder, encs, options) -> manifest body, read(folder, manifest) -> {name: enc} or None)
TARGETS: dict = {}


def register_target(name: str, write, read=None) -> None:
    TARGETS[name] = (write, read)


register_target("packed", lambda folder, encs, opts: write_packed(folder, encs, opts.get("packing", {})),
                read_packed)
register_target("safetensors", write_safetensors, read_safetensors)
register_target("memh", write_memh, read_memh)


def _write_onnx(folder, encs, options):
    require("onnx", "the onnx target")
    require("ml_dtypes", "the onnx target")
    from .onnx_target import write_onnx  # onnx and ml_dtypes are needed for this target only
    return write_onnx(folder, encs, options)


def _read_onnx(folder, manifest):
    require("onnx", "the onnx target")
    require("ml_dtypes", "the onnx target")
    from .onnx_read import read_onnx
    return read_onnx(folder, manifest)


register_target("onnx", _write_onnx, _read_onnx)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("lowbit")
    except PackageNotFoundError:  # not installed as a distribution (source tree on sys.path)
        return "unknown"


def as_encoded(name: str, item) -> EncodedTensor:
    """An EncodedTensor from an EncodedTensor, (values, format) or (values, format, axis)."""
    if isinstance(item, EncodedTensor):
        return item
    if isinstance(item, (tuple, list)) and len(item) in (2, 3):
        values, fmt = item[0], get_format(item[1])
        axis = item[2] if len(item) == 3 else -1
        return encode_tensor(values, fmt, axis=axis)
    raise ValueError(f"tensor {name!r}: give an EncodedTensor or (values, format[, axis]), got {type(item).__name__}")


def _check_target(target: str):
    if target not in TARGETS:
        raise ValueError(f"unknown export target {target!r}; allowed: {', '.join(TARGETS)}")
    return TARGETS[target]


def export_tensors(tensors: dict, to, target: str = "packed", force: bool = False, packing=None,
                   extra: dict | None = None, files: dict | None = None, **options) -> Path:
    """Write `tensors` ({name: EncodedTensor | (values, format[, axis])}) to directory `to`.
    `packing`: "bits" (default) or "trits" for every ternary tensor, or a {name: packing} dict.
    `extra` is stored in the manifest as is (JSON); `files` ({relative path: bytes}) are written next to
    the target's files and checksummed like them. Target options (e.g. ONNX opset) pass through."""
    write, _ = _check_target(target)
    if not isinstance(tensors, dict) or not all(isinstance(k, str) and k for k in tensors):
        raise ValueError("tensors must be a dict with non-empty string names")
    encs = {name: as_encoded(name, item) for name, item in tensors.items()}
    if isinstance(packing, str):
        from .manifest import can_pack_trits
        if packing == "trits":
            other = sorted({e.fmt.name for e in encs.values() if not can_pack_trits(e.element_format)})
            if other:
                raise ValueError(f"packing 'trits' needs ternary codes; this export has {', '.join(other)} "
                                 "tensors: use packing 'bits' (or a {name: packing} dict)")
        packing = {n: packing for n in encs}
    options = dict(options, packing=packing or {})

    def body(folder: Path) -> dict:
        out = {"target": target, "lowbit_version": _version(),
               "byte_order": "codes: LSB-first bit stream (docs/export.md)"}
        out.update(write(folder, encs, options))
        for rel, data in (files or {}).items():
            path = folder / rel
            if path.exists() or Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise ValueError(f"extra file {rel!r} clashes with the target's files or leaves the folder")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        out["extra"] = extra or {}
        return out

    return write_directory(to, body, force=force)


def load_tensors(folder) -> dict:
    """{name: EncodedTensor} of a verified export directory (any target that stores codes)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    target = manifest.get("target")
    if target not in TARGETS or TARGETS[target][1] is None:
        readable = [t for t, (_, r) in TARGETS.items() if r is not None]
        raise ValueError(f"{folder}: target {target!r} cannot be loaded back; loadable targets: {', '.join(readable)}")
    if not isinstance(manifest.get("tensors"), dict):
        raise ValueError(f"{folder}/manifest.json: 'tensors' must map tensor names to entries")
    listed = set(manifest["files"])
    for name, entry in manifest["tensors"].items():
        for part in ("codes", "scales", "tensor_scale"):
            f = (entry.get(part) or {}).get("file") if isinstance(entry, dict) else None
            if f is not None and f not in listed:
                raise ValueError(f"{folder}/manifest.json: tensor {name!r} {part} file {f!r} is not among the "
                                 "checksummed files")
    if manifest.get("file") is not None and manifest["file"] not in listed:
        raise ValueError(f"{folder}/manifest.json: {manifest['file']!r} is not among the checksummed files")
    return TARGETS[target][1](folder, manifest)


def load_values(folder, dtype=None) -> dict:
    """{name: numpy values} of an export directory (decoded with the recorded formats)."""
    return {n: decode_tensor(e, dtype) for n, e in load_tensors(folder).items()}
