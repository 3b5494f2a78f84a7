"""lowbit installs as a wheel: built from this checkout, installed (non-editable) into a fresh virtual
environment, and run from another directory, it finds its shipped presets (configs/ -> lowbit.configs) and
RTL (hw/rtl/ -> lowbit.rtl) through importlib.resources, not through the source tree (docs/design.md).

The venv reuses this interpreter's already-installed dependencies (torch, numba, ...) through a plain path
entry, so nothing is downloaded; this interpreter's own editable lowbit is NOT visible in it (a path entry
does not run the editable finder's .pth hook), which the test checks before running the commands."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(cmd, cwd, timeout=600):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    r = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
              str(tmp / "dist"), str(ROOT)], cwd=tmp)
    assert r.returncode == 0, r.stderr
    wheels = list((tmp / "dist").glob("lowbit-*.whl"))
    assert len(wheels) == 1
    venv = tmp / "venv"
    r = _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp)
    assert r.returncode == 0, r.stderr
    py = venv / "bin" / "python"
    purelib = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp)
    deps = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    (Path(purelib.stdout.strip()) / "_lowbit_test_deps.pth").write_text("\n".join(deps) + "\n")
    r = _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheels[0])], cwd=tmp)
    assert r.returncode == 0, r.stderr
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    return venv, elsewhere


def test_wheel_ships_configs_and_rtl_and_runs_from_another_directory(wheel_venv):
    venv, cwd = wheel_venv
    where = _run([str(venv / "bin" / "python"), "-c",
                  "import lowbit, lowbit.numerics._resources as r; print(lowbit.__file__); "
                  "print(r.config_dir('arch')); print(r.rtl_dir() / 'fp_mul.v')"], cwd=cwd)
    assert where.returncode == 0, where.stderr
    for line in where.stdout.split():
        assert line.startswith(str(venv)), f"{line} is not inside the wheel's venv"
    lowbit = str(venv / "bin" / "lowbit")

    r = _run([lowbit, "sim", "--no-plot"], cwd=cwd)
    assert r.returncode == 0, r.stderr
    assert "lns_madam_pe vs sa32_fp32" in r.stdout

    r = _run([lowbit, "run", "--epochs", "1", "--recipes", "fp32,mxfp4", "--seeds", "0", "--no-progress",
              "--out", "run_out"], cwd=cwd)
    assert r.returncode == 0, r.stderr
    assert "mxfp4" in r.stdout and (cwd / "run_out" / "metrics.json").is_file()

    r = _run([lowbit, "verify", "fp_mul", "--format", "fp8_e4m3fn"], cwd=cwd)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 mismatches - PASS" in r.stdout
