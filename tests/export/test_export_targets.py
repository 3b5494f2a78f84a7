"""Targets other than the raw packed files: the safetensors file stands on its own (codes as integer
tensors, scales, the manifest in its metadata) and is read back exactly; damage is named."""
import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from lowbit.export import export_tensors, load_tensors, pack_bits
from lowbit.export.codec import encode_tensor
from lowbit.numerics import get_format


def test_safetensors_file_holds_integer_codes_scales_and_manifest(tmp_path):
    rng = np.random.default_rng(0)
    w8 = rng.standard_normal((3, 5)).astype(np.float32)
    w4 = rng.standard_normal((2, 40)).astype(np.float32)
    wt = rng.standard_normal((4, 7)).astype(np.float32)
    folder = export_tensors({"a": (w8, "int8"), "m": (w4, "mxfp4_e2m1"), "t": (wt, "ternary_row")},
                            tmp_path / "st", target="safetensors")
    st = load_file(folder / "model.safetensors")
    int8 = get_format("int8")
    assert st["a.codes"].dtype == np.uint8 and np.array_equal(st["a.codes"], int8.encode(w8))
    mx = encode_tensor(w4, get_format("mxfp4_e2m1"))
    assert st["m.codes"].dtype == np.uint8 and st["m.codes"].tobytes() == pack_bits(mx.codes, 4)
    assert st["m.codes"].size == 2 * 64 // 2  # two fp4 codes per byte, rows padded to a block of 32
    assert np.array_equal(st["m.scales"], mx.scales) and st["m.scales"].dtype == np.uint8
    tern = encode_tensor(wt, get_format("ternary_row"))
    assert st["t.scales"].dtype == np.float32
    assert np.array_equal(st["t.scales"].view(np.uint32), tern.scales)
    from safetensors import safe_open
    with safe_open(str(folder / "model.safetensors"), "np") as f:
        meta = json.loads(f.metadata()["lowbit_manifest"])
    assert meta["schema"] == "lowbit.export" and meta["tensors"]["m"]["format_name"] == "mxfp4_e2m1"
    loaded = load_tensors(folder)
    assert np.array_equal(loaded["m"].codes, mx.codes) and np.array_equal(loaded["t"].scales, tern.scales)


def test_safetensors_unpacked_subbyte_and_tensor_scale(tmp_path):
    x = np.random.default_rng(1).standard_normal((2, 20)).astype(np.float32)
    folder = export_tensors({"n": (x, "nvfp4")}, tmp_path / "st", target="safetensors", subbyte="unpacked")
    st = load_file(folder / "model.safetensors")
    enc = encode_tensor(x, get_format("nvfp4"))
    assert st["n.codes"].shape == enc.codes.shape and np.array_equal(st["n.codes"], enc.codes)
    assert st["n.tensor_scale"].dtype == np.float32 and float(st["n.tensor_scale"]) == enc.tensor_scale
    assert load_tensors(folder)["n"].tensor_scale == enc.tensor_scale
    with pytest.raises(ValueError, match="subbyte='loose'; allowed: packed, unpacked"):
        export_tensors({"n": (x, "nvfp4")}, tmp_path / "bad", target="safetensors", subbyte="loose")


def test_safetensors_metadata_must_agree_with_manifest(tmp_path):
    from safetensors import safe_open
    from lowbit.export.store import sha256_file
    folder = export_tensors({"a": (np.ones(4, np.float32), "int8")}, tmp_path / "st", target="safetensors")
    path = folder / "model.safetensors"
    with safe_open(str(path), "np") as f:
        meta = f.metadata()
        arrays = {k: f.get_tensor(k) for k in f.keys()}
    m = json.loads(meta["lowbit_manifest"])
    m["tensors"]["a"]["shape"] = [2, 2]
    save_file(arrays, str(path), metadata={"lowbit_manifest": json.dumps(m)})
    man = json.loads((folder / "manifest.json").read_text())
    man["files"]["model.safetensors"] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    from lowbit.export.store import _manifest_hash
    man["manifest_sha256"] = _manifest_hash(man)
    (folder / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ValueError, match="metadata disagrees with manifest.json"):
        load_tensors(folder)


def test_unknown_target_names_the_allowed_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown export target 'tflite'; allowed: packed, safetensors"):
        export_tensors({"a": (np.ones(2, np.float32), "int8")}, tmp_path / "x", target="tflite")
