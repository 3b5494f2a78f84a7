"""The one Format interface (issue 16 part 2) and the numerics items of issue 17 (4: axis validated, never
wrapped; 5: 0-d in, 0-d out; 10: clear messages for a string/float axis, huge and uint64 codes and meta
tensors). Values are checked against the same format on a 1-element / explicitly moved copy and against
exact integers, never against a hard-coded result of the code under test."""
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from lowbit.numerics import ElementFormat, FixedFormat, Format, ScaledCodes, ScaledFormat, get_format, list_formats

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ["fp8_e4m3fn", "bf16", "fp4_e2m1fn", "int8", "uint8", "lns8", "mxfp4_e2m1", "mxint8", "nvfp4", "ternary",
          "ternary_row", "lns8_channel"]


def test_every_registered_format_implements_the_one_interface():
    x = torch.randn(3, 40, generator=torch.Generator().manual_seed(0))
    for name in list_formats():
        f = get_format(name)
        assert isinstance(f, Format) and get_format(f) is f
        assert f.is_scaled == isinstance(f, ScaledFormat)
        assert isinstance(f.element, ElementFormat) and (f.element is f) != f.is_scaled
        assert f.describe()["name"] == f.name and f.describe()["kind"] == f.kind
        assert f.bits >= f.element.bits      # storage bits per element: the scale amortized on top
        q = f.quantize(x, axis=-1)
        assert q.shape == x.shape
        # decode(encode(x)) is quantize(x) (in quantize's dtype) through the same interface for both families
        np.testing.assert_array_equal(np.asarray(f.decode(f.encode(x, axis=-1))).astype(q.numpy().dtype),
                                      q.numpy())


def test_get_format_accepts_formats_by_isinstance_not_by_duck_typing():
    class Duck:
        bits, name = 8, "duck"

        def quantize(self, x):
            return x
    with pytest.raises(ValueError, match="format must be a name .str. or a Format, got Duck"):
        get_format(Duck())


def test_axis_dependence_comes_from_the_interface():
    assert [get_format(n).axis_dependent for n in ("fp8_e4m3fn", "ternary", "ternary_row", "mxfp4_e2m1")] == [
        False, False, True, True]


@pytest.mark.parametrize("name", SAMPLE)
@pytest.mark.parametrize("axis", [2, 5, 100, -3, -100])
def test_out_of_range_axis_is_refused_not_wrapped(name, axis):
    f, x = get_format(name), torch.randn(4, 64)
    msg = rf"axis={axis} is out of range for a 2-d input; allowed: integers in \[-2, 2\)"
    with pytest.raises(ValueError, match=msg):
        f.quantize(x, axis=axis)
    with pytest.raises(ValueError, match=msg):
        f.encode(x.numpy(), axis=axis)


@pytest.mark.parametrize("name", ["mxfp4_e2m1", "nvfp4", "ternary_row", "fp8_e4m3fn"])
@pytest.mark.parametrize("axis", ["1", 1.7, 1.0, True, None])
def test_non_integer_axis_names_the_axis(name, axis):
    with pytest.raises(ValueError, match=re.escape(f"axis={axis!r} ({type(axis).__name__}) must be an integer "
                                                   f"in [-2, 2)")):
        get_format(name).quantize(torch.randn(4, 64), axis=axis)


def test_negative_axis_is_the_same_axis_and_encode_records_it_normalized():
    f = get_format("mxfp4_e2m1")
    x = torch.randn(64, 3, 5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(f.quantize(x, axis=-3), f.quantize(x, axis=0))
    # blocking along axis 0 is blocking the last axis of the moved tensor
    moved = f.quantize(x.permute(1, 2, 0).contiguous(), axis=-1).permute(2, 0, 1)
    assert torch.equal(f.quantize(x, axis=0), moved)
    assert f.encode(x, axis=-3).axis == 0 and f.encode(x, axis=np.int64(-2)).axis == 1


@pytest.mark.parametrize("name", list_formats())
def test_zero_d_in_zero_d_out(name):
    f = get_format(name)
    for x0 in (torch.tensor(1.3), torch.tensor(-0.7, dtype=torch.float64), np.array(2.5, np.float32)):
        x1 = x0.reshape(1) if isinstance(x0, torch.Tensor) else x0.reshape(1)
        q0, q1 = f.quantize(x0), f.quantize(x1)
        assert tuple(q0.shape) == () and type(q0) is type(x0)
        want = np.asarray(q1).reshape(())   # the same value in the same dtype (NaN for unsigned e8m0 at -0.7)
        np.testing.assert_array_equal(np.asarray(q0), want)
        e0 = f.encode(x0)
        if f.is_scaled:
            assert isinstance(e0, ScaledCodes) and e0.shape == () and e0.axis == 0
        else:
            assert tuple(e0.shape) == () and int(e0) == int(f.encode(x1)[0])
        d0 = f.decode(e0)
        assert np.shape(d0) == ()
        np.testing.assert_array_equal(np.asarray(d0).astype(want.dtype), want)   # decode gives float64


def test_zero_d_codes_decode_to_zero_d():
    f = get_format("fp8_e4m3fn")
    assert tuple(f.decode(torch.tensor(0x38)).shape) == () and float(f.decode(torch.tensor(0x38))) == 1.0
    assert np.shape(f.decode(np.array(0x38))) == () and f.decode(0x38) == 1.0


@pytest.mark.parametrize("name", ["fp8_e4m3fn", "int8", "lns8", "trit"])
def test_codes_beyond_int64_are_reported_with_their_value(name):
    f = get_format(name)
    bound = 1 << f.bits
    with pytest.raises(ValueError, match=rf"{name} codes: {2 ** 70} is out of range; codes are in \[0, {bound}\)"):
        f.decode(2 ** 70)
    with pytest.raises(ValueError, match=rf"{name} codes: {-2 ** 70} is out of range"):
        f.decode(-2 ** 70)
    top = np.array([1, 2 ** 64 - 1], dtype=np.uint64)
    for codes in (top, top[1], top.reshape(2, 1)):
        with pytest.raises(ValueError, match=rf"{2 ** 64 - 1} is out of range; codes are in \[0, {bound}\)"):
            f.decode(codes)
    with pytest.raises(ValueError, match=rf"code {bound} out of range"):   # in int64: the format's own check
        f.decode(np.array([bound], dtype=np.uint64))


@pytest.mark.parametrize("name", ["fp8_e4m3fn", "bf16", "lns8", "mxfp4_e2m1", "ternary"])
def test_meta_tensors_get_a_clear_error_where_values_are_needed(name):
    # quantize on the torch backend propagates shapes like any torch op (tests/numerics/test_torch_backend.py);
    # everything that reads values says so in one line instead of torch's NotImplementedError
    f = get_format(name)
    for backend in ("numba", "reference"):
        with pytest.raises(ValueError, match="lowbit cannot read the values of a meta tensor .x is on device 'meta'"):
            f.quantize(torch.empty(4, 32, device="meta"), backend=backend)
    with pytest.raises(ValueError, match="meta tensor"):
        f.encode(torch.empty(4, 32, device="meta"))
    if not f.is_scaled:
        with pytest.raises(ValueError, match="meta tensor"):
            f.decode(torch.empty(4, dtype=torch.int64, device="meta"))


def test_scaled_formats_refuse_what_they_cannot_honour():
    f = get_format("mxfp4_e2m1")
    with pytest.raises(ValueError, match="overflow='ieee' is not available"):
        f.quantize(np.ones(32), overflow="ieee")
    with pytest.raises(ValueError, match="offset=5 is not available"):
        f.quantize(np.ones(32), offset=5)
    with pytest.raises(ValueError, match="decode takes the ScaledCodes"):
        f.decode(np.zeros(32, np.int64))
    with pytest.raises(ValueError, match="element=.* must be an elementwise format"):
        ScaledFormat(f)
    with pytest.raises(ValueError, match="scaled format"):
        f.values()
    np.testing.assert_array_equal(f.quantize(np.ones(32), overflow="saturate"), np.ones(32))


# Attributes only some formats have: probing for them (or comparing class names) is dispatch on the
# kind of format, which the interface replaces (is_scaled, element, axis_dependent, describe, isinstance).
_FORMAT_ATTRS = ("element", "granularity", "block", "scale_format", "scale_rule", "tensor_scale", "frac_bits",
                 "int_bits", "ebits", "mbits", "policy", "symmetric", "gamma", "describe", "values", "quantize",
                 "bits", "signed", "subnormals")
_PROBE = re.compile(r"\b(?:hasattr|getattr)\([^,()]+,\s*[\"'](" + "|".join(_FORMAT_ATTRS) + r")[\"']")
_CLASS_NAME = re.compile(r"[\"'](?:FloatFormat|FixedFormat|LNSFormat|ScaledFormat|ElementFormat)[\"']")


def test_no_hasattr_or_class_name_dispatch_on_formats_outside_numerics():
    hits = []
    for top in ("src", "sim"):
        for path in sorted((ROOT / top).rglob("*.py")):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if _PROBE.search(line) or _CLASS_NAME.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not hits, "format dispatch by attribute probing or class name:\n" + "\n".join(hits)


def test_fixed_point_kernel_parameters_come_from_the_format():
    # Unsigned and wrapping fixed point have no kernel grid (the reference rounds them); signed saturating does.
    from lowbit.numerics.rounding import Overflow, Rounding
    assert get_format("uint8").kernel_grid(Rounding.NEAREST_EVEN, Overflow.SATURATE) is None
    assert get_format("int8").kernel_grid(Rounding.NEAREST_EVEN, Overflow.WRAP) is None
    g = FixedFormat(8, 3).kernel_grid(Rounding.UP, Overflow.SATURATE)
    assert g[6:8] == (127 / 8, 1 / 8) and g[9] == -128 / 8
