"""Reliability: export corruptions that pass the checksums (manifest edited with its hash recomputed, a
garbage file listed with its new sha256) and bad export/import arguments give one clear line (issue 17
items 6, 8, 10)."""
import json
import shutil

import pytest

from lowbit.export import load_exported
from lowbit.export.store import _manifest_hash, sha256_file
from lowbit.train import load_config, train_run


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A 1-step mxfp4 checkpoint of a tiny MLP, and its export (through the CLI)."""
    from lowbit.cli import main
    d = tmp_path_factory.mktemp("export")
    cfg = load_config({"model": {"kind": "mlp", "hidden": [8]}, "epochs": 1, "batch_size": 256, "seeds": [0],
                       "recipes": ["mxfp4"], "checkpoint_every": 1})
    train_run(cfg, cfg.recipes[0], 0, ckpt_path=d / "mxfp4.pt", max_steps=1)
    assert main(["export", str(d / "mxfp4.pt"), "--to", str(d / "e")]) == 0
    return d


def _edit(src, dst, fn):
    shutil.copytree(src, dst)
    m = json.loads((dst / "manifest.json").read_text())
    fn(m, dst)
    m["manifest_sha256"] = _manifest_hash(m)
    (dst / "manifest.json").write_text(json.dumps(m))
    return dst


def _garbage_state(m, d):
    (d / "state.safetensors").write_bytes(b"\x07garbage" * 10)
    m["files"]["state.safetensors"] = {"bytes": 80, "sha256": sha256_file(d / "state.safetensors")}


def _set(path, value):
    def fn(m, d):
        obj = m
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return fn


CASES = {
    "no codes": (lambda m, d: m["tensors"]["1.weight"].pop("codes"), "has no 'codes'"),
    "count abc": (_set(["tensors", "1.weight", "codes", "count"], "abc"), "codes.count='abc'"),
    "bits 0": (_set(["tensors", "1.weight", "codes", "bits"], 0), "codes.bits=0"),
    "entry a string": (_set(["tensors", "1.weight"], "x"), "a manifest entry is an object"),
    "empty layer table": (_set(["extra", "model", "layers"], {}), "extra.model.layers lists []"),
    "string builder": (_set(["extra", "model", "builder"], "x"), "extra.model.builder"),
    "format_name": (_set(["tensors", "1.weight", "format_name"], "fp8_e4m3"), "format_name"),
    "scales.format": (_set(["tensors", "1.weight", "scales", "format"], "fp32"), "scales.format"),
    "layer format": (_set(["extra", "model", "layers", "1", "format"], "fp8_e4m3"), "layers['1'].format"),
    "recipe weight format": (_set(["extra", "model", "recipe", "weight", "format"], "fp8_e4m3"),
                             "recipe 'mxfp4' quantizes weights to 'fp8_e4m3'"),
    "no tensors": (_set(["tensors"], {}), "the manifest's tensors are []"),
    "garbage state.safetensors": (_garbage_state, "state.safetensors: not a valid safetensors file"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_manifest_edits_with_recomputed_hash_are_one_line(exported, tmp_path, one_line_error, case):
    fn, words = CASES[case]
    d = _edit(exported / "e", tmp_path / "c", fn)
    with pytest.raises(ValueError, match=None) as exc:
        load_exported(d)
    assert words in str(exc.value) and "\n" not in str(exc.value)
    assert words in one_line_error("import", d)


def test_packing_trits_on_a_non_ternary_checkpoint_is_an_error(exported, tmp_path, one_line_error):
    line = one_line_error("export", exported / "mxfp4.pt", "--to", tmp_path / "t", "--packing", "trits")
    assert "packing 'trits' needs ternary codes" in line and "mxfp4_e2m1" in line
    assert not (tmp_path / "t").exists()


def test_import_save_naming_a_directory_is_one_line(exported, tmp_path, one_line_error):
    (tmp_path / "d").mkdir()
    assert "is a directory" in one_line_error("import", exported / "e", "--save", tmp_path / "d")
    assert list((tmp_path / "d").iterdir()) == []
