"""The `portable` ONNX lowering: a tensor decoded with operators every ONNX runtime's CPU provider has.

DequantizeLinear needs a kernel for the element type (onnxruntime 1.32 has none for FLOAT4E2M1, so
fp4/MXFP4/NVFP4 exports in that form do not load). The portable form uses only integer and float32
operators (BitShift, BitwiseAnd on uint8; Cast, Mul, ReduceSum, Gather on int32/float32; Reshape,
Slice, Transpose, Unsqueeze):

    codes (uint8 initializer: the same LSB-first bit stream as the packed target, docs/export.md)
      -> widths 1, 2, 4: BitShift(byte, 0, b, 2b, ...) & (2^b - 1) -> Slice n codes -> Cast int32;
         8: Cast int32; other widths: BitShift(byte, 0..7) & 1 -> one int32 per bit -> Reshape (n, bits)
         -> Mul 2^j -> ReduceSum
      -> Gather(table) with table = the element format's 2^bits values in code order (float32)
      -> Reshape (..., nblocks, block) -> Mul by the block/channel/tensor scales (..., nblocks, 1)
         (e8m0/e4m3 scale codes decoded the same way from the scale format's 256 values;
         fp32 scales as a float32 initializer) -> Mul by NVFP4's fp32 tensor scale
      -> Reshape to the layout -> Slice off the padding of the ragged last block -> Transpose the
         blocked axis back -> Reshape to the tensor's shape.

The value table has a NaN wherever the element (or scale) format decodes a code to NaN, so NaN codes
decode to NaN. Every product is one float32 multiplication, so the graph's values are exactly what
this module's numpy float32 emulation gives (IEEE arithmetic, no flush-to-zero); `lower` checks that
emulation against `decode_tensor` (= `Format.quantize`) bit for bit before a tensor is written in this
form, and refuses the tensor otherwise, naming why.
"""
from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

from lowbit.numerics import FixedFormat

from .codec import EncodedTensor, decode_tensor, same_values
from .manifest import codes_to_array

__all__ = ["MAX_BITS", "table_of", "lower", "emulate", "why_not", "unlayout", "why_not_wide", "lower_wide_int"]

MAX_BITS = 16   # a value table of 2^16 float32 (256 KiB) at most


def table_of(fmt) -> np.ndarray:
    """The float32 values of every code of an element or scale format (NaN codes decode to NaN)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.asarray(fmt.values(), np.float64).astype(np.float32)


def _scales32(enc: EncodedTensor) -> np.ndarray:
    fmt = enc.fmt
    if fmt.scale_format is None:    # fp32 scales: their bit patterns
        return enc.scales.astype(np.uint32).view(np.float32)
    return table_of(fmt.scale_format)[enc.scales]


def unlayout(enc: EncodedTensor, arr: np.ndarray) -> np.ndarray:
    """Codes or values in lowbit's scaled layout (axis last, padded) back in the tensor's own shape and
    axis order (numpy; the portable graph does the same with Slice/Transpose/Reshape)."""
    if enc.fmt.granularity == "tensor":
        return arr.reshape(-1)[: int(np.prod(enc.shape))].reshape(enc.shape)
    if enc.padded:
        arr = arr[..., : arr.shape[-1] - enc.padded]
    return np.moveaxis(arr, -1, enc.axis).reshape(enc.shape) if enc.shape else arr.reshape(())


def emulate(enc: EncodedTensor) -> np.ndarray:
    """What the portable graph computes, step by step in numpy float32."""
    elem = enc.element_format
    vals = table_of(elem)[enc.codes]
    if not enc.fmt.is_scaled:
        return vals.reshape(enc.shape)
    s = _scales32(enc)
    blocks = vals.reshape(s.shape + (-1,))
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        out = blocks * s[..., None]
        if enc.tensor_scale is not None:
            out = out * np.float32(enc.tensor_scale)
    return unlayout(enc, out.reshape(enc.codes.shape))


def why_not(enc: EncodedTensor) -> str | None:
    """None when the portable form reproduces the tensor's values bit for bit, else the reason."""
    elem = enc.element_format
    if elem.bits > MAX_BITS:
        return f"its {elem.bits}-bit elements need a value table of more than 2^{MAX_BITS} entries"
    fmt = enc.fmt
    if fmt.is_scaled and fmt.scale_format is not None and fmt.scale_format.bits > MAX_BITS:
        return f"its {fmt.scale_format.bits}-bit scales need a value table of more than 2^{MAX_BITS} entries"
    if not same_values(emulate(enc), decode_tensor(enc, np.float32)):
        return "element times scale in float32 does not reproduce its values (the lowbit decode rounds once in float64)"
    return None


class _Graph:
    """Nodes and initializers of one tensor's subgraph, with names prefixed by the tensor's name."""

    def __init__(self, prefix: str):
        self.p, self.nodes, self.inits, self.n = prefix, [], [], 0

    def const(self, key: str, arr) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(arr), self.p + key))
        return self.p + key

    def op(self, op_type: str, inputs, out: str | None = None, **attrs) -> str:
        if out is None:
            self.n += 1
            out = f"{self.p}t{self.n}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def shape(self, key: str, dims) -> str:
        return self.const(key, np.asarray(list(dims), np.int64))


def _decode_stream(g: _Graph, key: str, codes: np.ndarray, bits: int, table: np.ndarray, shape,
                   out: str | None = None) -> str:
    """codes -> packed uint8 initializer `key` -> float32 values of `table`, reshaped to `shape`.
    Widths dividing 8 (1, 2, 4) split each byte with one BitShift and a mask (fp4: 2 codes per byte);
    8 bits are the bytes themselves; other widths (3, 5, 6, 7, 16, ...) go through single bits."""
    n = int(codes.size)
    stream = g.const(key, codes_to_array(codes.reshape(-1), bits, "bits"))
    int32 = helper.np_dtype_to_tensor_dtype(np.dtype(np.int32))
    if bits == 8:
        index = g.op("Cast", [stream], to=int32)
    elif 8 % bits == 0:
        col = g.op("Unsqueeze", [stream, g.shape(key + "_axis", [1])])
        shifts = g.const(key + "_shifts", np.arange(0, 8, bits, dtype=np.uint8))
        fields = g.op("BitwiseAnd", [g.op("BitShift", [col, shifts], direction="RIGHT"),
                                     g.const(key + "_mask", np.uint8((1 << bits) - 1))])
        flat = g.op("Reshape", [fields, g.shape(key + "_flat", [-1])])
        used = g.op("Slice", [flat, g.shape(key + "_start", [0]), g.shape(key + "_stop", [n])])
        index = g.op("Cast", [used], to=int32)
    else:
        col = g.op("Unsqueeze", [stream, g.shape(key + "_axis", [1])])
        shifted = g.op("BitShift", [col, g.const(key + "_shifts", np.arange(8, dtype=np.uint8))], direction="RIGHT")
        bit = g.op("Cast", [g.op("BitwiseAnd", [shifted, g.const(key + "_one", np.uint8(1))])], to=int32)
        flat = g.op("Reshape", [bit, g.shape(key + "_flat", [-1])])
        used = g.op("Slice", [flat, g.shape(key + "_start", [0]), g.shape(key + "_stop", [n * bits])])
        per_code = g.op("Reshape", [used, g.shape(key + "_percode", [n, bits])])
        weighted = g.op("Mul", [per_code, g.const(key + "_weights", (1 << np.arange(bits)).astype(np.int32))])
        index = g.op("ReduceSum", [weighted, g.shape(key + "_sumaxis", [1])], keepdims=0)
    values = g.op("Gather", [g.const(key + "_table", table), index], axis=0)
    return g.op("Reshape", [values, g.shape(key + "_shape", shape)], out=out)


def lower(name: str, enc: EncodedTensor):
    """(nodes, initializers) writing float32 output `name` in the portable form (see the docstring)."""
    g = _Graph(f"{name}::")
    fmt, elem = enc.fmt, enc.element_format
    if not fmt.is_scaled:
        _decode_stream(g, "codes", enc.codes, elem.bits, table_of(elem), enc.shape, out=name)
        return g.nodes, g.inits
    sshape = tuple(enc.scales.shape)
    vals = _decode_stream(g, "codes", enc.codes, elem.bits, table_of(elem), sshape + (-1,))
    if fmt.scale_format is None:
        scale = g.const("scale", _scales32(enc))
    else:
        scale = _decode_stream(g, "scale_codes", enc.scales, fmt.scale_format.bits, table_of(fmt.scale_format), sshape)
    scaled = g.op("Mul", [vals, g.op("Unsqueeze", [scale, g.shape("scale_axis", [len(sshape)])])])
    if enc.tensor_scale is not None:
        scaled = g.op("Mul", [scaled, g.const("tensor_scale", np.float32(enc.tensor_scale))])
    lshape = tuple(enc.codes.shape)
    out = g.op("Reshape", [scaled, g.shape("layout", lshape)])
    if fmt.granularity == "tensor":
        flat = g.op("Reshape", [out, g.shape("flat", [-1])])
        out = g.op("Slice", [flat, g.shape("start", [0]), g.shape("stop", [int(np.prod(enc.shape))])])
    else:
        if enc.padded:
            out = g.op("Slice", [out, g.shape("start", [0]), g.shape("stop", [lshape[-1] - enc.padded]),
                                 g.shape("slice_axis", [len(lshape) - 1])])
        last = len(lshape) - 1
        if enc.shape and enc.axis != last:
            perm = list(range(last))
            perm.insert(enc.axis, last)
            out = g.op("Transpose", [out], perm=perm)
    g.op("Reshape", [out, g.shape("shape", enc.shape)], out=name)
    return g.nodes, g.inits


def why_not_wide(enc: EncodedTensor) -> str | None:
    """None when a format whose values need float64 is fixed point that `lower_wide_int` decodes exactly
    (integers of at most 53 bits times a power of two are float64 values), else the reason."""
    fmt = enc.fmt
    if fmt.is_scaled or not isinstance(fmt, FixedFormat) or fmt.bits > 53:
        return "its values need float64 and only unscaled fixed point of at most 53 bits is decoded in float64"
    return None


def _signed_ints(enc: EncodedTensor) -> np.ndarray:
    """The fixed-point codes as the integers they stand for (two's complement for signed formats)."""
    fmt, c = enc.fmt, np.asarray(enc.codes, np.int64)
    return np.where(fmt.signed & (c >= (1 << (fmt.bits - 1))), c - (1 << fmt.bits), c) if fmt.signed else c


def lower_wide_int(name: str, enc: EncodedTensor):
    """(nodes, initializers): float64 output `name` = Cast(int64 integers, DOUBLE) * 2^-frac_bits."""
    g = _Graph(f"{name}::")
    ints = g.const("codes", _signed_ints(enc).reshape(enc.shape))
    as_double = g.op("Cast", [ints], to=helper.np_dtype_to_tensor_dtype(np.dtype(np.float64)))
    g.op("Mul", [as_double, g.const("scale", np.float64(2.0) ** -enc.fmt.frac_bits)], out=name)
    return g.nodes, g.inits
