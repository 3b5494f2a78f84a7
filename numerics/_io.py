"""The one place lowbit writes files: atomically (a temp file in the same folder, then `os.replace`, so a
reader never sees half a file and a failed write leaves the old file), and YAML loading with errors that
name the file. It lives at the bottom layer (numerics) so that sim, src, benchmarks and hw tools share it."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

__all__ = ["atomic_write", "atomic_write_text", "atomic_write_bytes", "load_yaml"]


def atomic_write(path, write) -> Path:
    """Call `write(fileobj)` on a temp file (binary) next to `path`, then rename it onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def load_yaml(path) -> dict:
    """Parse a YAML mapping; a missing file raises FileNotFoundError, anything but a mapping ValueError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data
