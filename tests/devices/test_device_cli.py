"""`lowbit device PRESET` writes the plot and the data (atomically, no temp files left) and fails clearly."""
import csv
import json

from lowbit.cli import main


def test_device_command_writes_plot_csv_json(tmp_path, capsys):
    assert main(["device", "agsi", "--pulses", "20", "--devices", "3", "--seed", "1", "--out", str(tmp_path)]) == 0
    png, csv_path, js = (tmp_path / f"device_agsi.{s}" for s in ("png", "csv", "json"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 41 and rows[0]["direction"] == "start" and rows[21]["direction"] == "down"
    meta = json.loads(js.read_text())
    assert meta["params"]["kind"] == "neurosim" and len(meta["mean"]) == 41
    assert abs(float(rows[10]["mean"]) - meta["mean"][10]) < 1e-12
    # the mean column is the mean of the device columns
    devs = [float(rows[10][f"device{i}"]) for i in range(3)]
    assert abs(sum(devs) / 3 - meta["mean"][10]) < 1e-12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["device_agsi.csv", "device_agsi.json", "device_agsi.png"]


def test_device_command_bad_preset_is_one_error_line(tmp_path, capsys):
    assert main(["device", "no_such_device", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown device preset 'no_such_device'" in err and "reram_es" in err
    assert main(["device", "--list"]) == 0
    assert "pcm" in capsys.readouterr().out
