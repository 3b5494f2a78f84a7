"""Round trip through an export directory is exact, for EVERY format in the registry: the loaded codes
equal the encoded codes, and the loaded values equal `fmt.quantize(x)` bit for bit (NaN == NaN), over
odd shapes, empty tensors, 0-d tensors, shapes that do not fill a byte or a block, every axis, and
special values (NaN, +-Inf, -0, huge, tiny) wherever the format can encode them."""
import numpy as np
import pytest

from lowbit.export import (decode_tensor, encode_tensor, export_tensors, format_from_spec, format_spec,
                           load_tensors, load_values, same_values)
from lowbit.numerics import get_format, list_formats

SHAPES = [(), (0,), (3, 0), (1,), (5,), (7, 3), (3, 33), (2, 3, 17)]
SPECIALS = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e30, -1e30, 1e-30, 65504.0, 448.0, 0.75], np.float32)


def _scaled(fmt):
    return fmt.is_scaled


def _data(fmt, shape, seed):
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.standard_normal(shape) * rng.choice([1e-3, 1.0, 30.0], size=shape), dtype=np.float32)
    flat = x.reshape(-1)
    k = min(flat.size, SPECIALS.size)
    flat[:k] = SPECIALS[:k]
    if not _codes_hold_specials(fmt, x):  # keep the finite specials only
        x = np.where(np.isfinite(x), x, 0.5).astype(np.float32)
    return x


def _codes_hold_specials(fmt, x) -> bool:
    """Whether the format's own codes carry x's non-finite values (numerics' decode(encode(x)) equals
    quantize(x)); formats without NaN/Inf codes refuse them or saturate."""
    if x.size == 0 or np.isfinite(x).all():
        return True
    try:
        back = fmt.decode(fmt.encode(x))  # numerics alone, not the code under test
    except ValueError:
        return False
    return same_values(np.asarray(back).astype(np.float32), _quantize(fmt, x, -1).astype(np.float32))


def _quantize(fmt, x, axis):
    """The reference values: the format's own quantize (an empty tensor has none: an empty array;
    ScaledFormat cannot reshape some empty shapes, which is reported to numerics)."""
    if x.size == 0:
        return np.zeros(x.shape, _quantize(fmt, np.zeros(1, np.float32), -1).dtype)
    return np.asarray(fmt.quantize(x, axis=axis))


def _cases():
    for name in list_formats():
        fmt = get_format(name)
        for shape in SHAPES:
            axes = range(-len(shape), 0) if _scaled(fmt) and shape else [-1]
            for axis in axes:
                yield name, shape, axis


@pytest.fixture(scope="module")
def cases():
    """Every (format, shape, axis) case: its encoding and its reference values (the format's quantize)."""
    tensors, expect = {}, {}
    for i, (name, shape, axis) in enumerate(_cases()):
        fmt = get_format(name)
        x = _data(fmt, shape, i)
        key = f"{name}/{'x'.join(map(str, shape)) or 'scalar'}/axis{axis}"
        tensors[key] = encode_tensor(x, fmt, axis=axis)
        expect[key] = _quantize(fmt, x, axis)
    return tensors, expect


@pytest.fixture(scope="module", params=["packed", "safetensors", "memh"])
def exported(tmp_path_factory, request, cases):
    """One export directory per target holding every case, loaded back."""
    tensors, _ = cases
    folder = export_tensors(tensors, tmp_path_factory.mktemp("rt") / "all", target=request.param)
    return folder, load_tensors(folder)


def test_every_registered_format_is_covered(cases):
    tensors, _ = cases
    assert {k.split("/")[0] for k in tensors} == set(list_formats())


def test_loaded_codes_equal_encoded_codes(cases, exported):
    tensors, _ = cases
    _, loaded = exported
    assert list(loaded) == list(tensors)
    for key, enc in tensors.items():
        got = loaded[key]
        assert got.fmt == enc.fmt and got.fmt.name == enc.fmt.name, key
        assert got.shape == enc.shape and np.array_equal(got.codes, enc.codes), key
        if enc.scales is not None:
            assert np.array_equal(got.scales, enc.scales), key
        assert got.tensor_scale == enc.tensor_scale, key


def test_loaded_values_equal_quantize_bit_for_bit(cases, exported):
    _, expect = cases
    _, loaded = exported
    for key, want in expect.items():
        assert same_values(decode_tensor(loaded[key]), want), key


@pytest.mark.parametrize("ops,opset", [("qdq", None), ("qonnx", None), ("qdq", 21), ("auto", None), ("portable", None)])
def test_onnx_files_alone_give_back_every_code(tmp_path, cases, ops, opset):
    """The onnx target read back from model.onnx's initializers: the same codes, scales and tensor
    scales, for every case of every format the target expresses (the others are refused). The auto and
    portable exports are also run in onnxruntime: every output equals `fmt.quantize` bit for bit."""
    tensors, expect = cases
    by_format = {}
    for key, enc in tensors.items():
        if key.split("/")[1] in ("scalar", "3x0", "3x33", "2x3x17"):  # empty, 0-d, ragged blocks, every axis
            by_format.setdefault(key.split("/")[0], {})[key] = enc
    refused = []
    for name, group in by_format.items():
        try:
            folder = export_tensors(group, tmp_path / name, target="onnx", ops=ops, opset=opset)
        except ValueError as exc:
            assert "export it with target 'packed', 'safetensors' or 'memh'" in str(exc)
            refused.append(name)
            continue
        loaded = load_tensors(folder)
        if ops in ("auto", "portable"):
            from lowbit.export.onnx_runtime import run_model
            outs = run_model(folder / "model.onnx")
            assert all(same_values(outs[key], expect[key]) for key in group), name
        for key, enc in group.items():
            got = loaded[key]
            assert np.array_equal(got.codes, enc.codes), key
            assert (enc.scales is None and got.scales is None) or np.array_equal(got.scales, enc.scales), key
            assert got.tensor_scale == enc.tensor_scale, key
    assert len(refused) < len(by_format) // 2
    if ops in ("auto", "portable"):   # every registry format has a form onnxruntime runs
        assert refused == []


def test_load_values_decodes_the_directory(tmp_path):
    x = np.linspace(-3, 3, 11, dtype=np.float32)
    folder = export_tensors({"a": (x, "fp8_e5m2"), "b": (x.reshape(1, 11), "mxint8")}, tmp_path / "v")
    vals = load_values(folder)
    assert same_values(vals["a"], np.asarray(get_format("fp8_e5m2").quantize(x)))
    assert same_values(vals["b"], np.asarray(get_format("mxint8").quantize(x.reshape(1, 11))))


def test_format_spec_rebuilds_every_registered_format():
    for name in list_formats():
        fmt = get_format(name)
        back = format_from_spec(format_spec(fmt))
        assert back == fmt and back.name == name and hash(back) == hash(fmt)


def test_format_spec_refuses_unknown_types_and_parameters():
    with pytest.raises(ValueError, match="unknown format type 'Evil'"):
        format_from_spec({"type": "Evil"})
    spec = format_spec(get_format("fp8_e4m3fn"))
    with pytest.raises(ValueError, match=r"no parameter\(s\) \['colour'\]"):
        format_from_spec(dict(spec, colour=1))
    with pytest.raises(ValueError, match="ebits"):
        format_from_spec(dict(spec, ebits=99))


def test_ternary_trit_packing_roundtrip_and_size(tmp_path):
    fmt = get_format("ternary_row")
    x = np.random.default_rng(0).standard_normal((3, 13)).astype(np.float32)
    folder = export_tensors({"w": (x, fmt)}, tmp_path / "t", packing="trits")
    enc = load_tensors(folder)["w"]
    assert same_values(decode_tensor(enc), np.asarray(fmt.quantize(x)))
    assert (folder / "tensors/0000_w.codes.bin").stat().st_size == 8  # ceil(39 / 5)
    with pytest.raises(ValueError, match="packing='trits' needs ternary codes"):
        export_tensors({"w": (x, "int8")}, tmp_path / "u", packing={"w": "trits"})
    assert not (tmp_path / "u").exists()


def test_sub_byte_codes_are_packed_two_per_byte(tmp_path):
    x = np.linspace(-6, 6, 9, dtype=np.float32)
    folder = export_tensors({"a": (x, "fp4_e2m1fn"), "b": (x, "int4"), "c": (x.reshape(1, 9), "mxfp4_e2m1")},
                            tmp_path / "p")
    assert (folder / "tensors/0000_a.codes.bin").stat().st_size == 5
    assert (folder / "tensors/0001_b.codes.bin").stat().st_size == 5
    assert (folder / "tensors/0002_c.codes.bin").stat().st_size == 16  # one padded block of 32
    assert (folder / "tensors/0002_c.scales.bin").stat().st_size == 1  # one e8m0 scale


def test_nvfp4_nan_block_is_carried_by_its_codes():
    fmt = get_format("nvfp4")
    x = np.array([[np.nan] + [1.0] * 15], np.float32)
    assert same_values(decode_tensor(encode_tensor(x, fmt)), np.asarray(fmt.quantize(x)))
