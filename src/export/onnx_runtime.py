"""Does the installed onnxruntime run a native form? Asked of onnxruntime itself, once per question.

ONNX opsets define DequantizeLinear for types onnxruntime may have no kernel for (1.32: FLOAT4E2M1 is
valid ONNX at opset 23 but "Could not find an implementation for DequantizeLinear(23)"). So the
default `ops="auto"` does not trust the opset: for each (operator, ONNX type, scale kind, opset) it
builds a tiny model holding every code of the type (NaN codes included), with scales that are not 1
and, for blocked scales, a ragged last block; it creates an onnxruntime CPU session, runs it and
compares the output with ml_dtypes' decoding times the scales in float32, bit for bit. The answer is
cached for the process. Without onnxruntime installed every answer is "no" (and the manifest says so),
so the default then writes the portable form, which uses only operators every runtime implements.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from .codec import same_values

__all__ = ["runtime_version", "runtime_errors", "runs_dequantize", "runs_cast", "scale_kind", "probe_record",
           "run_model", "run_weights_graph"]


def runtime_version() -> str | None:
    """onnxruntime's version, or None when it is not installed."""
    try:
        import onnxruntime
    except ImportError:
        return None
    return str(onnxruntime.__version__)


def _all_values(dt) -> np.ndarray:
    """Every value of an ONNX element type as its numpy (ml_dtypes) dtype, in code order (16- and
    32-bit integers: both ends, -1, 0, 1 and a spread between)."""
    import ml_dtypes
    dt = np.dtype(dt)
    if dt.kind in "iu" or dt.name in ("int2", "int4", "uint2", "uint4"):
        info = ml_dtypes.iinfo(dt)
        if info.bits > 8:
            spread = np.linspace(info.min, info.max, 61).astype(np.int64)
            return np.unique(np.concatenate([spread, [info.min, info.min + 1, 0, 1, info.max]])).astype(dt)
        return np.arange(int(info.min), int(info.max) + 1).astype(dt)
    bits = int(ml_dtypes.finfo(dt).bits)
    if bits == 32:   # float32: zeros, subnormals, normals, infinities and a NaN of each sign
        pats = [0, 1, 0x007FFFFF, 0x00800000, 0x3F800000, 0x3FC00001, 0x7F7FFFFF, 0x7F800000, 0x7FC00000]
        return np.asarray(pats + [p | 0x80000000 for p in pats], np.uint32).view(np.float32)
    codes = np.arange(1 << bits)
    return codes.astype(np.uint16).view(dt) if bits == 16 else codes.astype(np.uint8).view(dt)


@functools.lru_cache(maxsize=None)
def runtime_errors() -> tuple:
    """The exceptions onnxruntime raises for a model it cannot load or run."""
    from onnxruntime.capi import onnxruntime_pybind11_state as st
    return (st.Fail, st.NotImplemented, st.InvalidGraph, st.InvalidArgument, st.RuntimeException)


def _quiet(ort):
    """Session options that leave errors to the raised exception (onnxruntime also logs them)."""
    options = ort.SessionOptions()
    options.log_severity_level = 4
    return options


def _session_output(model):
    import onnxruntime
    try:
        session = onnxruntime.InferenceSession(model.SerializeToString(), _quiet(onnxruntime),
                                               providers=["CPUExecutionProvider"])
        return session.run(None, {})[0]
    except runtime_errors():   # the session cannot be created (no kernel, type not allowed) or fails to run
        return None


def _model(node, inits, shape, opset: int):
    graph = helper.make_graph([node], "probe", [], [helper.make_tensor_value_info("y", TP.FLOAT, list(shape))],
                              initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="lowbit-probe")


def scale_kind(attrs: dict) -> str:
    """The DequantizeLinear scale kind of its attributes: tensor, axis or block."""
    return "block" if "block_size" in attrs else "axis" if "axis" in attrs else "tensor"


@functools.lru_cache(maxsize=None)
def runs_dequantize(tp: int, dtype_name: str, kind: str, opset: int) -> bool:
    """onnxruntime runs DequantizeLinear(type tp, float32 scales of `kind`) exactly at `opset`."""
    if runtime_version() is None:
        return False
    dt = _dtype(dtype_name)
    v = _all_values(dt)
    cols = max((v.size + 1) // 2, 1)
    x = np.resize(v, 2 * cols).reshape(2, cols)
    if kind == "tensor":
        scale, attrs, per = np.float32(0.75), {}, np.full((2, cols), np.float32(0.75))
    elif kind == "axis":
        scale = np.asarray([0.75, 2.0 ** -3], np.float32)
        attrs, per = {"axis": 0}, np.repeat(scale[:, None], cols, axis=1)
    else:
        block = 3
        nb = -(-cols // block)
        scale = (np.arange(2 * nb, dtype=np.float32).reshape(2, nb) % 5 + 1) * np.float32(0.375)
        attrs, per = {"axis": 1, "block_size": block}, np.repeat(scale, block, axis=1)[:, :cols]
    node = helper.make_node("DequantizeLinear", ["x", "s"], ["y"], **attrs)
    inits = [numpy_helper.from_array(x, "x"), numpy_helper.from_array(np.asarray(scale, np.float32), "s")]
    got = _session_output(_model(node, inits, x.shape, opset))
    with np.errstate(invalid="ignore", over="ignore"):
        want = x.astype(np.float32) * per.astype(np.float32)
    return got is not None and same_values(np.asarray(got), want)


@functools.lru_cache(maxsize=None)
def runs_cast(tp: int, dtype_name: str, opset: int) -> bool:
    """onnxruntime runs Cast(type tp -> float32) exactly (every code of the type) at `opset`."""
    if runtime_version() is None:
        return False
    x = _all_values(_dtype(dtype_name))
    got = _session_output(_model(helper.make_node("Cast", ["x"], ["y"], to=TP.FLOAT),
                                 [numpy_helper.from_array(x, "x")], x.shape, opset))
    return got is not None and same_values(np.asarray(got), x.astype(np.float32))


def _dtype(name: str):
    import ml_dtypes
    return np.dtype(getattr(ml_dtypes, name, None) or getattr(np, name))


def probe_record(version: str | None, probes: dict) -> dict:
    """The manifest's record of the runtime questions asked: {question: answer}."""
    return {"onnxruntime": version, "native": dict(sorted(probes.items()))}


def run_model(path, feeds: dict | None = None) -> dict:
    """{output name: numpy array} of an exported model.onnx executed by onnxruntime's CPU provider, with
    `feeds` {input name: array} for a graph with inputs (a forward graph)."""
    from ._deps import require
    ort = require("onnxruntime", "running an onnx export")
    session = ort.InferenceSession(str(path), _quiet(ort), providers=["CPUExecutionProvider"])
    return {o.name: v for o, v in zip(session.get_outputs(), session.run(None, feeds or {}))}


def run_weights_graph(folder, manifest: dict) -> dict:
    """{tensor name: decoded values} of a weights export's model.onnx run by onnxruntime; a forward-graph
    export (input -> output) is refused in one line pointing to `run_forward`."""
    if (manifest.get("onnx") or {}).get("graph") == "forward":
        raise ValueError(f"{folder}: model.onnx is a forward graph (input -> output), not the decoded weights; "
                         "run it with lowbit.export.run_forward(dir, x) (its codes read back without a runtime)")
    return run_model(Path(folder) / manifest["file"])
