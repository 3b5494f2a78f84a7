"""Reliability: bad configs and command-line values give one clear line (exit 2) at load time, naming
the file (and for YAML syntax errors the line and column) or the key/flag (issue 17 items 6, 8, 10;
issue 16's "failures hidden")."""
import pytest

from lowbit.numerics._io import load_yaml
from lowbit.sim import Workload, load_arch, load_energy_table
from lowbit.train import load_config

BAD_YAML = "name: x\nrecipes: [fp32, mxfp4\nepochs: 1\n"      # unclosed flow sequence: error on line 3


def _loaders():
    from lowbit.numerics.devices.registry import load_device
    from lowbit.sim import load_area_table, load_space
    return {"run config": load_config, "arch": load_arch, "energy table": load_energy_table,
            "workload": Workload.load, "device preset": load_device, "dse space": load_space,
            "area table": load_area_table, "load_yaml": load_yaml}


@pytest.mark.parametrize("what", list(_loaders()))
def test_yaml_syntax_error_is_one_line_with_file_line_and_column(tmp_path, what):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_YAML)
    with pytest.raises(ValueError) as exc:
        _loaders()[what](path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}:3:7: YAML syntax error:") and "\n" not in msg


@pytest.mark.parametrize("content,words", [
    (b"", "is empty"), (b"# only a comment\n", "is empty"), (b"\x89PNG\r\n\x1a\n\x00\x00", "not a text"),
    (b"- a\n- b\n", "must be a mapping")])
def test_empty_binary_and_non_mapping_configs_are_rejected_naming_the_file(tmp_path, content, words):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=words) as exc:
        load_config(path)
    assert str(exc.value).startswith(str(path))


@pytest.mark.parametrize("argv", [("train",), ("run", "--config")])
def test_cli_yaml_error_is_one_line_exit_2(tmp_path, one_line_error, argv):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_YAML)
    line = one_line_error(*argv, path, "--out", tmp_path / "out")
    assert f"{path}:3:7: YAML syntax error" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", [".nan", "1e400", "-.inf", ".inf"])
@pytest.mark.parametrize("where", ["optimizer: {lr: %s}", "recipes: [{base: fp32, name: a, optimizer: {lr: %s}}]"])
def test_non_finite_lr_is_rejected_at_load_naming_lr(tmp_path, value, where):
    path = tmp_path / "c.yaml"
    path.write_text("recipes: [fp32]\n" + where % value + "\n" if "base" not in where else where % value + "\n")
    with pytest.raises(ValueError, match=r"lr=.*must be a finite number"):
        load_config(path)


@pytest.mark.parametrize("argv,flag", [
    (("run", "--epochs", "0"), "--epochs 0"), (("run", "--jobs", "0"), "--jobs 0"),
    (("run", "--jobs", "-1"), "--jobs -1"), (("train", "configs/runs/default.yaml", "--jobs", "0"), "--jobs 0")])
def test_zero_or_negative_counts_on_the_command_line_are_rejected(tmp_path, one_line_error, argv, flag):
    line = one_line_error(*argv, "--out", tmp_path / "out")
    assert flag in line and ">= 1" in line
    assert not (tmp_path / "out").exists()


def test_run_sweep_rejects_bad_jobs():
    from lowbit.train.sweep import run_sweep
    cfg = load_config({"recipes": ["fp32"], "epochs": 1, "seeds": [0]})
    for jobs in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="jobs="):
            run_sweep(cfg, jobs=jobs, progress=False)


@pytest.mark.parametrize("argv,words", [
    (("--pulses", "100000000"), "--pulses 100000000 x --devices 10"), (("--devices", "0"), "--devices 0"),
    (("--pulses", "-1"), "--pulses -1"), (("--devices", "100000", "--pulses", "5"), "the limit is")])
def test_device_command_bounds_its_work_and_blames_the_right_flag(tmp_path, one_line_error, argv, words):
    line = one_line_error("device", "ecram", *argv, "--out", tmp_path / "o")
    assert words in line
    assert not (tmp_path / "o").exists()


def test_out_naming_a_file_is_one_line(tmp_path, one_line_error):
    f = tmp_path / "f.txt"
    f.write_text("keep")
    assert "is a file, not a folder" in one_line_error("run", "--recipes", "fp32", "--epochs", "1", "--out", f)
    assert "is a file, not a folder" in one_line_error("train", "configs/runs/default.yaml", "--out", f)
    assert "is a file, not a folder" in one_line_error("device", "ecram", "--pulses", "3", "--out", f)
    assert f.read_text() == "keep"


def test_the_sweep_does_not_silence_user_warnings():
    # it used to call warnings.filterwarnings("ignore", category=UserWarning) in every worker (and, with
    # one job, in the calling process)
    import warnings
    from lowbit.train.sweep import run_sweep
    cfg = load_config({"model": {"kind": "mlp", "hidden": [4]}, "epochs": 1, "batch_size": 512, "seeds": [0],
                       "recipes": ["fp32"]})
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        run_sweep(cfg, jobs=1, progress=False)
        warnings.warn("still shown", UserWarning)
    assert any(str(w.message) == "still shown" for w in seen)
