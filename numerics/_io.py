"""The one place lowbit writes files: atomically (a temp file in the same folder, then `os.replace`, so a
reader never sees half a file and a failed write leaves the old file), with the permissions the umask
gives (0o666 & ~umask for files, 0o777 & ~umask for folders, like `open`/`mkdir`; mkstemp/mkdtemp alone
would give 0600/0700), and YAML loading with one-line errors that name the file (and for a syntax error
the line and column). It lives at the bottom layer (numerics) so that sim, src, benchmarks and hw tools
share it. docs/reliability.md lists what this promises and how it is tested."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

__all__ = ["atomic_write", "atomic_write_text", "atomic_write_bytes", "load_yaml", "yaml_error", "umask",
           "make_temp_dir", "remove_stale"]


def umask() -> int:
    """The process umask, read without changing it where the OS tells it (/proc/self/status, Linux >= 4.7);
    elsewhere set-and-restored (os.umask has no read-only form)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_temp_dir(parent, prefix: str) -> Path:
    """A fresh folder `{prefix}{pid}-XXXX` in `parent` (mkdtemp: unique, race-free) with the umask's
    permissions; the pid lets remove_stale tell a killed writer's folder from a running one's."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
    os.chmod(tmp, 0o777 & ~umask())
    return tmp


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # another user's process
        return True
    return True


def remove_stale(folder, prefix: str, suffix: str = "") -> list:
    """Remove what killed writers left in `folder`: entries named `{prefix}{pid}-...{suffix}` whose
    process `pid` is no longer running on this machine (a live writer's temp files are never touched).
    Called after a successful write of the same target; returns the removed paths."""
    import shutil
    gone = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return gone
    for e in entries:
        if not (e.name.startswith(prefix) and e.name.endswith(suffix)):
            continue
        pid, sep, _ = e.name[len(prefix):].partition("-")
        if not sep or not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        if e.is_dir(follow_symlinks=False):
            shutil.rmtree(e.path, ignore_errors=True)
        else:
            try:
                os.unlink(e.path)
            except FileNotFoundError:        # another cleaner was first
                pass
        gone.append(Path(e.path))
    return gone


def atomic_write(path, write) -> Path:
    """Call `write(fileobj)` on a temp file (binary) next to `path`, then rename it onto `path`. The temp
    file is `.NAME.PID-XXXX.tmp`; temp files of the same target left by killed processes are removed after
    a successful write."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a file name to write")
    for folder in (path.parent, *path.parent.parents):
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"cannot write {path}: {folder} is a file, not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    remove_stale(path.parent, f".{path.name}.", ".tmp")
    return path


def atomic_write_bytes(path, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def yaml_error(path, exc: yaml.YAMLError) -> ValueError:
    """One line for a YAML syntax error: `FILE:LINE:COLUMN: YAML syntax error: what` (1-based, as editors)."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    what = " ".join(str(getattr(exc, "problem", None) or exc).split())
    ctx = getattr(exc, "context", None)
    if ctx:
        what = f"{what} ({' '.join(str(ctx).split())})"
    return ValueError(f"{where}: YAML syntax error: {what}")


def load_yaml(path, loader=yaml.SafeLoader, what: str = "file") -> dict:
    """Parse a YAML mapping. A missing file raises FileNotFoundError; a syntax error, a binary or empty
    file, or anything but a mapping at the top raises a one-line ValueError naming the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such {what}: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is a directory, not a YAML {what}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text (UTF-8) YAML {what}: byte {exc.start} is {exc.object[exc.start]:#04x}") \
            from None
    if "\x00" in text:
        raise ValueError(f"{path}: not a text YAML {what}: it contains NUL bytes (a binary file?)")
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise yaml_error(path, exc) from None
    if data is None:
        raise ValueError(f"{path}: the {what} is empty (no keys); write at least one key")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data
