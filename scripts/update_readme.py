"""Regenerate the README's two tables that commands print: the main job's table (`lowbit run`) and the
energy summary (`lowbit sim`). Each is the code block right after a marker line in README.md:

    <!-- table: lowbit run -->       <!-- table: lowbit sim -->

Run from the repository root: `python scripts/update_readme.py` (about 1 minute on 2 cores). It prints
the wall time of `lowbit run` and rewrites README.md in place (atomically) if a table changed.
tests/package/test_readme.py checks that both blocks are what the commands print today."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "<!-- table: {} -->"


def table_block(output: str, command: str) -> str:
    """The table a command prints: from its header line to the first blank line."""
    head = {"lowbit run": lambda l: l.startswith("recipe") and "accuracy" in l,
            "lowbit sim": lambda l: l.startswith("arch ") and "pJ/weight update" in l}[command]
    lines = output.splitlines()
    i = next(k for k, l in enumerate(lines) if head(l))
    j = next((k for k in range(i, len(lines)) if not lines[k].strip()), len(lines))
    return "\n".join(lines[i:j])


def readme_block(text: str, command: str) -> str:
    m = re.search(re.escape(MARK.format(command)) + r"\n```\n(.*?)\n```", text, flags=re.S)
    if m is None:
        raise SystemExit(f"README.md has no block after {MARK.format(command)!r}")
    return m.group(1)


def replace_block(text: str, command: str, table: str) -> str:
    pat = re.escape(MARK.format(command)) + r"\n```\n.*?\n```"
    return re.sub(pat, lambda _: MARK.format(command) + "\n```\n" + table + "\n```", text, count=1, flags=re.S)


def run(command: str, cwd: Path) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    argv = [sys.executable, "-m", "lowbit.cli"] + command.split()[1:]
    r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return r.stdout


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "configs").symlink_to(ROOT / "configs")
        for command in ("lowbit run", "lowbit sim"):
            t0 = time.perf_counter()
            out = run(command + (" --no-progress" if command == "lowbit run" else ""), Path(tmp))
            print(f"{command}: {time.perf_counter() - t0:.1f} s")
            text = replace_block(text, command, table_block(out, command))
    if text != readme.read_text():
        from lowbit.numerics._io import atomic_write_text
        atomic_write_text(readme, text)
        print("README.md updated")
    else:
        print("README.md unchanged")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
