"""Shared by the reliability tests: run the `lowbit` CLI in-process and check that a bad input gives one
line on stderr and exit code 2 (no traceback)."""
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

