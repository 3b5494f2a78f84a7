"""Worker processes die with their parent.

A sweep's workers are separate processes; if the parent is killed (kill -9, an OOM kill, a closed
terminal) they would be re-parented and keep training, writing checkpoints nobody asked for. Each
worker calls `die_with_parent(parent_pid)` first thing:

- on Linux, prctl(PR_SET_PDEATHSIG, SIGKILL) makes the kernel kill the worker the moment its parent
  (the thread that spawned it: the sweep's calling thread, which outlives its pool) exits;
- everywhere, a daemon thread polls os.getppid() twice a second and exits the worker once it changes
  (re-parenting), and a parent that died before the worker got here is caught by the first check.

Multiprocessing's resource tracker exits by itself once the parent and the workers are gone (its pipe
closes). A worker killed mid-checkpoint leaves at most a temp file that the next write of the same
checkpoint removes (docs/reliability.md).
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

__all__ = ["die_with_parent"]

PR_SET_PDEATHSIG = 1         # <linux/prctl.h>
PR_SET_NAME = 15
THREAD_NAME = b"lowbit-watch"
POLL_S = 0.5


def _watch(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):       # name the thread (ps -L, /proc/PID/task/*/comm)
        ctypes.CDLL(None).prctl(PR_SET_NAME, THREAD_NAME, 0, 0, 0)
    while True:
        time.sleep(POLL_S)
        if os.getppid() != parent_pid:
            os._exit(1)


def die_with_parent(parent_pid: int) -> None:
    """Make this process exit when process `parent_pid` (its parent) exits."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:      # the parent died before we got here
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), daemon=True, name="lowbit-die-with-parent").start()
