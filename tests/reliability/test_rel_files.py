"""Reliability: files follow the umask, writes land whole, and nothing is left behind (issue 17 items 9,
11; issue 16's output-permission item)."""
import os
import stat

import pytest

from lowbit.numerics._io import atomic_write_text, load_yaml, make_temp_dir


@pytest.fixture(params=[0o022, 0o002, 0o077])
def mask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_atomic_write_and_temp_dirs_follow_the_umask(tmp_path, mask):
    f = atomic_write_text(tmp_path / "sub" / "a.txt", "x")
    assert _mode(f) == 0o666 & ~mask
    assert _mode(f.parent) == 0o777 & ~mask
    d = make_temp_dir(tmp_path, ".t.partial-")
    assert _mode(d) == 0o777 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["sub", d.name])   # no temp file left
    from lowbit.export.store import write_directory
    exp = write_directory(tmp_path / "exp", lambda folder: (folder / "a.bin").write_bytes(b"1") and {})
    assert _mode(exp) == 0o777 & ~mask
    assert _mode(exp / "a.bin") == _mode(exp / "manifest.json") == 0o666 & ~mask


def test_failed_atomic_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = atomic_write_text(tmp_path / "a.txt", "old")

    def boom(fh):
        fh.write(b"half")
        raise RuntimeError("disk full")
    from lowbit.numerics._io import atomic_write
    with pytest.raises(RuntimeError):
        atomic_write(path, boom)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_writing_onto_a_folder_or_below_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        atomic_write_text(tmp_path / "d", "x")
    atomic_write_text(tmp_path / "f", "x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        atomic_write_text(tmp_path / "f" / "g" / "h.txt", "x")
    with pytest.raises(ValueError, match="is a directory"):
        load_yaml(tmp_path / "d")


def _dead_pid():
    """The pid of a process that has exited (and been reaped)."""
    import subprocess
    import sys
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temp_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    from lowbit.train import save_checkpoint
    dead = _dead_pid()
    stale = tmp_path / f".run.pt.{dead}-abcd1234.tmp"
    stale.write_bytes(b"")                               # what a kill -9 inside atomic_write leaves
    live = tmp_path / f".run.pt.{os.getppid()}-abcd1234.tmp"      # a running writer's: kept
    live.write_bytes(b"")
    other = tmp_path / f".other.pt.{dead}-abcd1234.tmp"        # another target's: kept
    other.write_bytes(b"")
    save_checkpoint(tmp_path / "run.pt", {"x": 1})
    assert not stale.exists() and live.exists() and other.exists()


def test_export_leftovers_of_killed_runs_are_removed_by_the_next_export(tmp_path):
    from lowbit.export.store import read_manifest, write_directory

    def files(folder):
        (folder / "a.bin").write_bytes(b"1234")
        return {"target": "test"}
    dead = _dead_pid()
    target = tmp_path / "x"
    write_directory(target, files)
    partial = tmp_path / f".x.partial-{dead}-k2j3"
    (partial / "sub").mkdir(parents=True)
    old = tmp_path / f".x.old-{dead}-0badf00d"
    old.mkdir()
    (old / "manifest.json").write_text("{}")
    running = tmp_path / f".x.partial-{os.getppid()}-zzzz"        # a running export's: kept
    running.mkdir()
    write_directory(target, files, force=True)
    read_manifest(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["x", running.name])
