"""Reliability: kill -9 of `lowbit train` leaves no worker running (issue 17 item 2). The sweep's workers
(and multiprocessing's resource tracker) are found through /proc as the parent's children, the parent
is killed with SIGKILL, and none of them may be alive 5 s later."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the workers")


def _children(pid):
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(d.name))
    return kids


def _read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _watching(pid):
    from lowbit.train.lifetime import THREAD_NAME
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    return any(_read(t / "comm").strip() == THREAD_NAME.decode() for t in tasks)


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"          # a zombie has exited (it waits only to be reaped)


def test_kill_9_of_lowbit_train_leaves_no_worker(tmp_path):
    conf = tmp_path / "long.yaml"
    conf.write_text(yaml.safe_dump({"name": "long", "model": {"kind": "mlp", "hidden": [8]}, "epochs": 500,
                                    "recipes": ["fp32", "bf16_nearest"], "seeds": [0], "jobs": 2}))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    parent = subprocess.Popen([sys.executable, "-m", "lowbit.cli", "train", str(conf), "--out", str(tmp_path / "o"),
                               "--no-progress"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        workers = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and parent.poll() is None:
            kids = _children(parent.pid)
            # two pool workers that set up their parent watch (the resource tracker is a third child)
            workers = [k for k in kids if "multiprocessing" in _read(f"/proc/{k}/cmdline")]
            if sum(_watching(w) for w in workers) >= 2:
                break
            time.sleep(0.2)
        assert parent.poll() is None and len(workers) >= 2, "the sweep did not start its workers"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        end = time.monotonic() + 5                   # none may be alive 5 s later (dead ones stay dead)
        while time.monotonic() < end and any(_alive(w) for w in workers):
            time.sleep(0.1)
        survivors = [w for w in workers if _alive(w)]
        assert not survivors, f"workers {survivors} outlived their killed parent"
    finally:
        for w in _children(parent.pid) if parent.poll() is None else []:
            os.kill(w, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
