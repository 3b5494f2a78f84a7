"""Export directories are written atomically and loading says exactly what is wrong: a refused existing
target, force that replaces only lowbit exports, a failed export that leaves nothing behind, and damaged,
truncated, foreign, newer-version and hand-edited directories, each named with expected vs found."""
import hashlib
import json

import numpy as np
import pytest

import lowbit.export.packed as packed
from lowbit.export import export_tensors, load_tensors, read_manifest


def _tensors():
    rng = np.random.default_rng(1)
    return {"w": (rng.standard_normal((4, 40)).astype(np.float32), "mxfp4_e2m1"),
            "b": (rng.standard_normal(5).astype(np.float32), "fp8_e4m3fn")}


@pytest.fixture()
def good(tmp_path):
    return export_tensors(_tensors(), tmp_path / "exp")


def _siblings(folder):
    return sorted(p.name for p in folder.parent.iterdir())


def test_manifest_header_and_checksums(good):
    m = json.loads((good / "manifest.json").read_text())
    assert m["schema"] == "lowbit.export" and m["version"] == 1 and m["target"] == "packed"
    for rel, info in m["files"].items():
        data = (good / rel).read_bytes()
        assert info == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert set(m["files"]) == {"tensors/0000_w.codes.bin", "tensors/0000_w.scales.bin", "tensors/0001_b.codes.bin"}
    assert _siblings(good) == ["exp"]  # no partial or backup folders left


def test_existing_target_is_refused_then_replaced_with_force(good):
    before = (good / "manifest.json").read_text()
    with pytest.raises(ValueError, match="already exists; pass force=True"):
        export_tensors({"x": (np.ones(3, np.float32), "int8")}, good)
    assert (good / "manifest.json").read_text() == before
    export_tensors({"x": (np.ones(3, np.float32), "int8")}, good, force=True)
    assert list(load_tensors(good)) == ["x"]
    assert _siblings(good) == ["exp"]


def test_force_never_replaces_a_folder_that_is_not_an_export(tmp_path):
    home = tmp_path / "mine"
    home.mkdir()
    (home / "precious.txt").write_text("keep")
    with pytest.raises(ValueError, match="not a lowbit export.*refusing"):
        export_tensors(_tensors(), home, force=True)
    assert (home / "precious.txt").read_text() == "keep"


def test_a_failed_export_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def boom(codes, bits, packing):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return np.zeros(1, np.uint8)
    monkeypatch.setattr(packed, "codes_to_array", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        export_tensors(_tensors(), tmp_path / "exp")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_forced_export_keeps_the_old_one(good, monkeypatch):
    monkeypatch.setattr(packed, "codes_to_array", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        export_tensors({"x": (np.ones(3, np.float32), "int8")}, good, force=True)
    assert set(load_tensors(good)) == {"w", "b"}
    assert _siblings(good) == ["exp"]


def test_truncated_file_is_named_with_sizes(good):
    f = good / "tensors/0000_w.codes.bin"
    size = f.stat().st_size
    f.write_bytes(f.read_bytes()[:-3])
    with pytest.raises(ValueError, match=rf"0000_w.codes.bin: {size} bytes expected, {size - 3} found"):
        load_tensors(good)


def test_altered_file_is_named_with_both_digests(good):
    f = good / "tensors/0001_b.codes.bin"
    data = bytearray(f.read_bytes())
    expected = hashlib.sha256(data).hexdigest()
    data[0] ^= 1
    f.write_bytes(bytes(data))
    found = hashlib.sha256(data).hexdigest()
    with pytest.raises(ValueError, match=rf"0001_b.codes.bin: sha256 {expected} expected, {found} found"):
        load_tensors(good)


def test_missing_file_and_missing_manifest(good):
    (good / "tensors/0000_w.scales.bin").unlink()
    with pytest.raises(ValueError, match="0000_w.scales.bin: listed in manifest.json but missing"):
        load_tensors(good)
    (good / "manifest.json").unlink()
    with pytest.raises(ValueError, match="has no manifest.json"):
        load_tensors(good)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_tensors(good / "nope")


def _rewrite(folder, edit, rehash=False):
    """Edit the manifest; with rehash=True also recompute its own hash (a consistent forgery)."""
    from lowbit.export.store import _manifest_hash
    m = json.loads((folder / "manifest.json").read_text())
    edit(m)
    if rehash:
        m["manifest_sha256"] = _manifest_hash(m)
    (folder / "manifest.json").write_text(json.dumps(m))


def test_foreign_and_future_manifests(good):
    (good / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_tensors(good)
    (good / "manifest.json").write_text(json.dumps({"schema": "acme.weights", "version": 1}))
    with pytest.raises(ValueError, match="schema 'acme.weights' found, 'lowbit.export' expected"):
        load_tensors(good)
    (good / "manifest.json").write_text(json.dumps({"schema": "lowbit.export", "version": 7}))
    with pytest.raises(ValueError, match="manifest version 7 found, 1 expected .written by a newer lowbit"):
        load_tensors(good)


def test_hand_edited_manifest_is_detected(good):
    _rewrite(good, lambda m: m["tensors"]["b"].__setitem__("shape", [6]))
    with pytest.raises(ValueError, match="manifest_sha256 .* expected, .* found from its content; the manifest "
                                         "was altered"):
        load_tensors(good)


def test_consistently_forged_manifest_still_fails_on_layout(good):
    def edit(m):
        m["tensors"]["w"]["shape"] = [4, 33]  # padded layout (4, 64) would fit 33 too; padding would not
    _rewrite(good, edit, rehash=True)
    with pytest.raises(ValueError, match=r"tensor 'w' layout.padded: 31 expected for this format and shape, 24 found"):
        load_tensors(good)


def test_dirty_padding_bits_with_valid_checksums(tmp_path):
    folder = export_tensors({"v": (np.ones(3, np.float32), "fp6_e3m2fn")}, tmp_path / "e")  # 18 bits, 3 bytes
    f = folder / "tensors/0000_v.codes.bin"
    data = bytearray(f.read_bytes())
    data[-1] |= 0x80

    def edit(m):
        m["files"]["tensors/0000_v.codes.bin"]["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    f.write_bytes(bytes(data))
    _rewrite(folder, edit, rehash=True)
    with pytest.raises(ValueError, match=r"0000_v.codes.bin \(v codes\): the 6 padding bits"):
        load_tensors(folder)


def test_read_manifest_lists_tensors(good):
    m = read_manifest(good)
    assert m["tensors"]["w"]["format_name"] == "mxfp4_e2m1"
    assert m["tensors"]["w"]["layout"] == {"shape": [4, 64], "order": "C", "axis": 1, "padded": 24,
                                           "granularity": "block", "block": 32}
    assert m["tensors"]["w"]["scales"]["format"] == "e8m0fnu"


def test_a_forged_manifest_cannot_point_at_unchecked_files(good):
    (good / "tensors/extra.bin").write_bytes(b"\0" * 5)

    def edit(m):
        m["tensors"]["b"]["codes"]["file"] = "tensors/extra.bin"
    _rewrite(good, edit, rehash=True)
    with pytest.raises(ValueError, match="'tensors/extra.bin' is not among the checksummed files"):
        load_tensors(good)


@pytest.mark.parametrize("target", ["packed", "safetensors", "memh"])
def test_any_flipped_byte_in_any_file_is_caught_and_named(tmp_path, target):
    folder = export_tensors(_tensors(), tmp_path / target, target=target)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert files
    for i, f in enumerate(files):
        original = f.read_bytes()
        data = bytearray(original)
        data[(7 * i) % len(data)] ^= 0x10
        f.write_bytes(bytes(data))
        with pytest.raises(ValueError, match=f.name):
            load_tensors(folder)
        f.write_bytes(original)
    assert set(load_tensors(folder)) == {"w", "b"}
