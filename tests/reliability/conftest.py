"""Helpers shared by the reliability tests: run the `lowbit` CLI in-process or as a subprocess and
check that a bad input gives one line on stderr and exit code 2 (no traceback)."""
import os
import subprocess
import sys

import pytest

from lowbit.cli import main


@pytest.fixture
def one_line_error(capsys):
    """Run `lowbit ARGS` in-process; assert exit 2 and exactly one stderr line; return that line."""
    def run(*argv):
        rc = main([str(a) for a in argv])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2, (rc, err)
        assert len(err) == 1, err
        return err[0]
    return run


def lowbit_subprocess(*argv, cwd=None, env=None, timeout=120, **kw):
    """`python -m lowbit.cli ARGS` in a fresh process (one torch thread, like CI)."""
    e = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "lowbit.cli", *map(str, argv)], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout, **kw)
