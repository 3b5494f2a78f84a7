"""lowbit.export: quantized tensors and models out to the forms hardware takes, losslessly.

Tensor level: `encode_tensor`/`decode_tensor` (codes + scales of any lowbit format), `pack_bits`/
`pack_trits` (documented bit and byte order), `format_spec`/`format_from_spec` (a format as JSON), and
`export_tensors(tensors, to, target)` / `load_tensors(dir)` / `load_values(dir)`: atomic export
directories with a versioned manifest and a sha256 of every file. Targets: packed, safetensors, memh, onnx.
Model level: `export_model(model, to, target)` (the quantized weights of a lowbit.nn model, as its
forward quantizes them; with target onnx and graph="forward", the whole eval forward pass as one ONNX
graph, run by `run_forward(dir, x)`) and `load_exported(dir)` (the model rebuilt, outputs equal bit for bit).
Devices: `export_devices(model_or_tiles, to)` / `load_devices(dir)`: per device of every analog array the
target weight, conductance, level and pulse count from reset.
See docs/export.md.
"""
from .codec import EncodedTensor, decode_tensor, encode_tensor, same_values
from .packing import pack_bits, pack_trits, unpack_bits, unpack_trits
from .spec import format_from_spec, format_spec
from .store import SCHEMA, VERSION, read_manifest
from .api import TARGETS, export_tensors, load_tensors, load_values
from .model import export_model, load_exported, quantized_weights, run_forward
from .devices import export_devices, load_devices, programming_map

__all__ = ["EncodedTensor", "encode_tensor", "decode_tensor", "same_values", "pack_bits", "unpack_bits",
           "pack_trits", "unpack_trits", "format_spec", "format_from_spec", "SCHEMA", "VERSION",
           "read_manifest", "TARGETS", "export_tensors", "load_tensors", "load_values", "export_model",
           "load_exported", "quantized_weights", "run_forward", "export_devices", "load_devices", "programming_map"]
