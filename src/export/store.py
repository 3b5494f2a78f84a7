"""Export directories: atomic writes, the versioned manifest, sha256 of every file, and strict loading.

Writing: every file goes into a fresh hidden folder next to the target (`.NAME.partial-XXXX`), is
fsynced, the manifest (with the sha256 and size of every file, and a hash of the manifest itself) is
written last, and the folder is renamed onto the target in one step (POSIX rename(2) is atomic within
one filesystem). A failed export removes its partial folder; a crash leaves only a hidden folder without
a manifest, which never loads; such leftovers (`.NAME.partial-PID-*`, and `.NAME.old-PID-*`, the previous
export a killed `--force` run had moved aside) are removed by the next successful export of the same
target once process PID is gone (docs/reliability.md). An existing target is refused unless force=True, and even then only an
empty folder or an earlier lowbit export is replaced, never an arbitrary directory.

Loading checks, and says which file is wrong and how: missing folder or manifest, foreign JSON, schema
name and version, the manifest's own hash, and every listed file's size and sha256.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

from lowbit.numerics._io import make_temp_dir, remove_stale

__all__ = ["SCHEMA", "VERSION", "MANIFEST", "write_directory", "read_manifest", "sha256_file"]

SCHEMA = "lowbit.export"
VERSION = 1
MANIFEST = "manifest.json"


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _manifest_hash(body: dict) -> str:
    canon = json.dumps({k: v for k, v in body.items() if k != "manifest_sha256"}, sort_keys=True,
                       separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canon.encode()).hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_replaceable(target: Path) -> bool:
    if not target.is_dir() or target.is_symlink():
        return False
    if not any(target.iterdir()):
        return True
    try:
        return json.loads((target / MANIFEST).read_text()).get("schema") == SCHEMA
    except (OSError, ValueError, AttributeError):
        return False


def write_directory(target, write_files, force: bool = False) -> Path:
    """Create export directory `target` atomically. `write_files(folder)` writes the payload files into
    `folder` and returns the manifest body (a dict); file checksums and the header are added here."""
    target = Path(target)
    if target.exists() or target.is_symlink():
        if not force:
            raise ValueError(f"target {target} already exists; pass force=True (--force) to replace it")
        if not _is_replaceable(target):
            raise ValueError(f"target {target} exists and is not a lowbit export (no {MANIFEST} with schema "
                             f"{SCHEMA!r}); refusing to replace it even with force")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(target.parent, f".{target.name}.partial-")
    try:
        body = write_files(tmp)
        files = {}
        for p in sorted(q for q in tmp.rglob("*") if q.is_file()):
            rel = p.relative_to(tmp).as_posix()
            _fsync(p)
            files[rel] = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
        manifest = {"schema": SCHEMA, "version": VERSION, **body, "files": files}
        manifest["manifest_sha256"] = _manifest_hash(manifest)
        with open(tmp / MANIFEST, "w") as f:
            json.dump(manifest, f, indent=1, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        for d in sorted({p.parent for p in tmp.rglob("*")} | {tmp}, key=lambda q: -len(q.parts)):
            _fsync(d)
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.rename(target, old)
            try:
                os.rename(tmp, target)
            except OSError:
                os.rename(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.rename(tmp, target)
            except OSError as exc:
                raise ValueError(f"target {target} appeared while exporting ({exc.strerror}); nothing written") from None
        _fsync(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for kind in ("partial", "old"):      # what killed exports of this target left behind
        remove_stale(target.parent, f".{target.name}.{kind}-")
    return target


def read_manifest(folder, verify: bool = True) -> dict:
    """The manifest of export directory `folder`, after checking it and (verify=True) every file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"export directory {folder} does not exist")
    mpath = folder / MANIFEST
    if not mpath.is_file():
        raise ValueError(f"{folder} is not a lowbit export: it has no {MANIFEST} (an unfinished or foreign folder)")
    try:
        manifest = json.loads(mpath.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{mpath}: not valid JSON ({exc}); the manifest is damaged or foreign") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        found = manifest.get("schema") if isinstance(manifest, dict) else type(manifest).__name__
        raise ValueError(f"{mpath}: schema {found!r} found, {SCHEMA!r} expected; not a lowbit export")
    version = manifest.get("version")
    if version != VERSION:
        hint = "written by a newer lowbit" if isinstance(version, int) and version > VERSION else "unknown"
        raise ValueError(f"{mpath}: manifest version {version!r} found, {VERSION} expected ({hint})")
    expect = manifest.get("manifest_sha256")
    found = _manifest_hash(manifest)
    if expect != found:
        raise ValueError(f"{mpath}: manifest_sha256 {expect!r} expected, {found!r} found from its content; "
                         "the manifest was altered after export")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise ValueError(f"{mpath}: 'files' must map file names to their size and sha256")
    if verify:
        for rel, info in files.items():
            p = folder / rel
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise ValueError(f"{mpath}: file name {rel!r} points outside the export directory")
            if not isinstance(info, dict):
                raise ValueError(f"{mpath}: files[{rel!r}] must be {{'bytes': ..., 'sha256': ...}}, got {info!r}")
            if not p.is_file():
                raise ValueError(f"{p}: listed in {MANIFEST} but missing")
            size = p.stat().st_size
            if size != info.get("bytes"):
                raise ValueError(f"{p}: {info.get('bytes')} bytes expected, {size} found (truncated or altered)")
            digest = sha256_file(p)
            if digest != info.get("sha256"):
                raise ValueError(f"{p}: sha256 {info.get('sha256')} expected, {digest} found (altered)")
    return manifest
