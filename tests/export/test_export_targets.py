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


def test_memh_one_code_per_line_and_packed_words(tmp_path):
    x = np.linspace(-6, 6, 9, dtype=np.float32)
    fmt = get_format("fp4_e2m1fn")
    codes = fmt.encode(x)
    one = export_tensors({"w": (x, fmt)}, tmp_path / "one", target="memh")
    lines = (one / "mem/0000_w.codes.memh").read_text().split()
    assert [int(v, 16) for v in lines] == codes.tolist() and all(len(v) == 1 for v in lines)
    packed = export_tensors({"w": (x, fmt)}, tmp_path / "w32", target="memh", word_bits=32)
    words = [int(v, 16) for v in (packed / "mem/0000_w.codes.memh").read_text().split()]
    assert len(words) == 2  # 9 codes of 4 bits in 32-bit words: code 8j+k in bits [4k+3:4k] of word j
    for i, c in enumerate(codes.tolist()):
        assert (words[i // 8] >> (4 * (i % 8))) & 0xF == c
    binary = export_tensors({"w": (x, fmt)}, tmp_path / "b", target="memh", radix="bin")
    assert (binary / "mem/0000_w.codes.memb").read_text().split()[0] == format(int(codes[0]), "04b")
    for folder in (one, packed, binary):
        assert np.array_equal(load_tensors(folder)["w"].codes, codes)


def test_memh_scales_trits_and_damage(tmp_path):
    x = np.random.default_rng(4).standard_normal((2, 40)).astype(np.float32)
    folder = export_tensors({"m": (x, "mxfp8_e4m3"), "t": (x, "ternary_row")}, tmp_path / "s", target="memh",
                            packing={"t": "trits"})
    mx = encode_tensor(x, get_format("mxfp8_e4m3"))
    scales = [int(v, 16) for v in (folder / "mem/0000_m.scales.memh").read_text().split()]
    assert scales == mx.scales.reshape(-1).tolist()
    tern = (folder / "mem/0001_t.codes.memh").read_text().split()
    assert len(tern) == 16 and max(int(v, 16) for v in tern) < 243  # 80 trits, 5 per 8-bit word
    assert np.array_equal(load_tensors(folder)["t"].codes, encode_tensor(x, get_format("ternary_row")).codes)
    with pytest.raises(ValueError, match="radix='oct'; allowed: hex, bin"):
        export_tensors({"m": (x, "int8")}, tmp_path / "r", target="memh", radix="oct")
    f = folder / "mem/0000_m.codes.memh"
    f.write_text(f.read_text().replace("\n", "\n", 1)[:-3])
    with pytest.raises(ValueError, match="0000_m.codes.memh: .* bytes expected"):
        load_tensors(folder)


def test_a_missing_optional_package_is_named_with_the_install_line(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "safetensors", None)   # as if it were not installed
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ValueError, match=r"the safetensors target needs the 'safetensors' package: "
                                         r"pip install 'lowbit\[export\]'"):
        export_tensors({"a": (np.ones(2, np.float32), "int8")}, tmp_path / "x", target="safetensors")
    assert not (tmp_path / "x").exists()
