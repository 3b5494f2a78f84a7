"""The Ray backend (lowbit.train.backend): a small sweep and a design-space exploration run on a local 2-CPU Ray
instance give the same results as the local backend (runs equal except their wall-clock time, DSE CSV byte for
byte); a Ray worker killed mid-sweep has its task retried; each finished run is written atomically and
--resume skips it; bad --backend / --address values are one line, exit 2."""
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from lowbit.cli import main

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_local():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


def _cfg():
    from lowbit.train import load_config
    # blobs, not digits: no scikit-learn import in each fresh Ray worker
    return load_config({"recipes": ["bf16_sr"], "seeds": [0, 1], "epochs": 1, "jobs": 2, "data": {"name": "blobs"},
                        "model": {"kind": "mlp", "hidden": [16]}})


def _strip_wall(x):
    if isinstance(x, dict):
        return {k: _strip_wall(v) for k, v in x.items() if not k.startswith("wall_s")}
    if isinstance(x, list):
        return [_strip_wall(v) for v in x]
    return x


def _records(results):
    """The runs' JSON records (TrainResult.to_dict()) without wall times."""
    return _strip_wall(json.loads(json.dumps([r.to_dict() for r in results])))


def _ray_task_pids(name="ray::_job"):
    """Ray worker processes (children of the instance this test started) currently running `name`."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if (p / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace").startswith(name):
                    pids.append(int(p.name))
            except OSError:
                pass
    return pids


def test_sweep_on_ray_with_a_killed_worker_equals_local_and_resume_skips_finished(ray_local, tmp_path):
    from lowbit.train.backend import RayBackend
    from lowbit.train.sweep import run_file, run_sweep
    cfg = _cfg()
    killed = []

    def killer():   # kill the first worker seen running a training task, once
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            pids = _ray_task_pids()
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)
    t = threading.Thread(target=killer, daemon=True)
    t.start()
    with RayBackend() as be:     # connects to the running instance; leaves it running
        remote = run_sweep(cfg, progress=False, backend=be, runs_dir=str(tmp_path / "ray"))
    t.join(timeout=1)
    assert killed, "no Ray worker was seen running a task"
    local_dir = tmp_path / "local"
    local = run_sweep(cfg, jobs=1, progress=False, runs_dir=str(local_dir))
    assert _records(remote) == _records(local)
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == sorted(p.name for p in local_dir.iterdir())
    # --resume: finished runs are skipped (their files untouched), the missing one is run again
    os.remove(run_file(str(local_dir), "bf16_sr", 1))
    keep = run_file(str(local_dir), "bf16_sr", 0)
    stamp = os.stat(keep).st_mtime_ns
    again = run_sweep(cfg, jobs=1, progress=False, runs_dir=str(local_dir), resume=True)
    assert os.stat(keep).st_mtime_ns == stamp
    assert _records(again) == _records(local)


def test_dse_on_ray_is_byte_identical_to_local(ray_local, tmp_path, capsys):
    import yaml
    space = {"name": "r", "workloads": ["mlp_step"], "datapath": ["fp32", "int8", "lns"], "rows": [0, 8, 32],
             "cols": [8, 16], "dataflow": ["os", "ws", "is"], "buffers": {"a": [1, 64], "b": [64], "c": [1, 32]},
             "dram_gbps": [16, 64], "chunk": 100}
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(space))
    for backend in ("local", "ray"):
        assert main(["dse", str(p), "--out", str(tmp_path / backend), "--no-plot", "--no-progress",
                     "--backend", backend]) == 0
    for f in ("points.csv", "pareto.csv"):
        assert (tmp_path / "ray" / f).read_bytes() == (tmp_path / "local" / f).read_bytes()
    assert "Ray" not in capsys.readouterr().err


@pytest.mark.parametrize("argv, msg", [
    (["--backend", "dask"], "--backend='dask'; allowed: local, ray"),
    (["--backend", "ray", "--address", "nohost"], "--address='nohost'; allowed: HOST:PORT, ray://HOST:PORT or auto"),
    (["--backend", "ray", "--address", "h:99999"], "--address='h:99999'"),
    (["--address", "127.0.0.1:6379"], "--address='127.0.0.1:6379' is only meaningful with --backend ray"),
])
def test_bad_backend_or_address_is_one_line_exit_2(tmp_path, capsys, argv, msg):
    for cmd in (["run", "--out", str(tmp_path / "o")], ["dse", "configs/dse/gemm_small.yaml"],
                ["train", "configs/runs/default.yaml", "--out", str(tmp_path / "t")]):
        assert main(cmd + argv) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, err
