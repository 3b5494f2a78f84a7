"""The `devices` target: programming maps of synaptic-device arrays (docs/references.md sections 8-9).

For every device array of every analog tile (lowbit.analog: AnalogTile `plus`/`minus` of single or pair
cells, Tiki-Taka's `fast` array; LogTile's integer log levels), per device:
- `weight`: the device weight to program (the array's state, without read noise);
- `conductance`: its conductance [S] (DeviceParams.conductance; LogTile: g_max b^(k - (L-1)));
- `level`: the conductance level index where the device has finite levels (`levels`, or a LogTile's
  level), else -1;
- `pulses`, `direction`: the number of identical pulses (+1 potentiation / -1 depression) that take the
  device from its reset state to the target along its own noise-free pulse response (the device model's
  `pulse(..., noise=False)`, with its drawn device-to-device parameters and clipping): the count whose
  weight is nearest the target; `reached` is that weight. A LogTile level k is L-1-k depression pulses
  from the reset level L-1 (one level per pulse, as MadamLog prices them).
Stored in `devices.safetensors` (keys `<tile>.<array>.<field>`), with the device preset parameters and
array shapes in the manifest (`devices`); `load_devices(dir)` reads them back verified.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lowbit.analog import AnalogLinear, AnalogTile, LogTile

from ._deps import require
from .store import read_manifest, write_directory

__all__ = ["export_devices", "load_devices", "programming_map", "MAX_PULSES"]

FILE = "devices.safetensors"
MAX_PULSES = 1 << 20


def _pulse_counts(state, target: np.ndarray, max_pulses: int):
    """(pulses, direction, reached): nearest noise-free pulse count from each device's reset state."""
    from lowbit.numerics.devices import pulse, with_weights
    dev = state.devices
    start = with_weights(state, dev.reset_bias)
    w0 = start.w
    direction = np.where(target >= w0, 1, -1)
    best_n = np.zeros(dev.shape, np.int64)
    best_err = np.abs(w0 - target)
    cur, prev = start, w0
    active = ~dev.stuck & (best_err > 0)
    for n in range(1, max_pulses + 1):
        if not active.any():
            break
        cur = pulse(cur, active.astype(np.int64), direction, noise=False)
        w = cur.w
        err = np.abs(w - target)
        better = active & (err < best_err)
        best_n = np.where(better, n, best_n)
        best_err = np.where(better, err, best_err)
        # a monotone response moves away once past the target; a device that stops moving is done
        active = active & ~((err > best_err) | (w == prev) | (direction * (w - target) >= 0))
        prev = w
    else:
        if active.any():
            raise ValueError(f"{int(active.sum())} devices need more than {max_pulses} pulses from reset")
    reached = pulse(start, best_n, direction, noise=False).w
    return best_n, np.where(best_n > 0, direction, 0), reached


def _arrays(tile):
    from lowbit.numerics.devices import DeviceState
    return {k: v for k, v in vars(tile).items() if isinstance(v, DeviceState)}


def programming_map(tiles: dict, max_pulses: int = MAX_PULSES) -> tuple[dict, dict]:
    """({key: array} of every field, {tile: description}) for {name: AnalogTile}."""
    arrays, info = {}, {}
    for tname, tile in tiles.items():
        params = tile.params
        entry = {"device": params.to_dict(), "cell": tile.cell, "arrays": {}}
        if isinstance(tile, LogTile):
            level = np.asarray(tile.level, np.int64)
            fields = {"level": level, "sign": np.asarray(tile.sign, np.int64),
                      "conductance": np.asarray(tile.conductance(), np.float64),
                      "weight": np.asarray(tile.device_weights(), np.float64),
                      "pulses": (tile.levels - 1) - level, "direction": np.where(level < tile.levels - 1, -1, 0)}
            entry.update(kind="log_levels", levels=int(tile.levels), base=float(tile.base))
            groups = {"levels": fields}
        else:
            groups = {}
            for aname, st in _arrays(tile).items():
                w = np.asarray(st.w, np.float64)
                n, d, reached = _pulse_counts(st, w, max_pulses)
                levels = params.levels
                span = st.devices.b_max - st.devices.b_min
                level = (np.rint((w - st.devices.b_min) / np.where(span > 0, span, 1) * (levels - 1)).astype(np.int64)
                         if levels is not None else np.full(w.shape, -1, np.int64))
                groups[aname] = {"weight": w, "conductance": np.asarray(params.conductance(w), np.float64),
                                 "level": level, "pulses": n, "direction": d, "reached": reached,
                                 "reset": np.broadcast_to(st.devices.reset_bias, w.shape).astype(np.float64),
                                 "stuck": st.devices.stuck.astype(np.int8)}
            entry.update(kind="pulsed", levels=params.levels)
        for aname, fields in groups.items():
            entry["arrays"][aname] = {"shape": list(next(iter(fields.values())).shape), "fields": sorted(fields)}
            for f, v in fields.items():
                arr = np.ascontiguousarray(v)
                arrays[f"{tname}.{aname}.{f}"] = arr.astype(np.int32) if arr.dtype.kind in "iu" else arr
        entry["scale"] = float(tile.scale)
        info[tname] = entry
    return arrays, info


def _tiles_of(obj) -> dict:
    if isinstance(obj, dict):
        bad = [k for k, t in obj.items() if not isinstance(t, AnalogTile)]
        if bad:
            raise ValueError(f"devices target: tiles[{bad[0]!r}] is a {type(obj[bad[0]]).__name__}, not a "
                             "lowbit.analog AnalogTile")
        return dict(obj)
    tiles = {name: m.tile for name, m in obj.named_modules() if isinstance(m, AnalogLinear)}
    if not tiles:
        raise ValueError("the model has no analog tiles (lowbit.analog AnalogLinear); the devices target "
                         "programs device arrays: use target 'packed', 'safetensors', 'memh' or 'onnx' "
                         "for quantized weights")
    return tiles


def export_devices(model_or_tiles, to, force: bool = False, max_pulses: int = MAX_PULSES) -> Path:
    """Write the programming map of every device array of a model (or {name: tile}) to directory `to`."""
    save_file = require("safetensors.numpy", "the devices target").save_file
    arrays, info = programming_map(_tiles_of(model_or_tiles), max_pulses)

    def body(folder: Path) -> dict:
        save_file(arrays, str(folder / FILE))
        return {"target": "devices", "tensors": {}, "devices": {"file": FILE, "tiles": info}}
    return write_directory(to, body, force=force)


def load_devices(folder) -> dict:
    """{tile: {array: {field: numpy array}}} of a verified devices export."""
    load_file = require("safetensors.numpy", "the devices target").load_file
    folder = Path(folder)
    m = read_manifest(folder)
    if m.get("target") != "devices":
        raise ValueError(f"{folder}: target {m.get('target')!r}, not a devices export")
    flat = load_file(str(folder / m["devices"]["file"]))
    out = {}
    for tname, t in m["devices"]["tiles"].items():
        for aname, a in t["arrays"].items():
            for f in a["fields"]:
                key = f"{tname}.{aname}.{f}"
                if key not in flat or list(flat[key].shape) != a["shape"]:
                    raise ValueError(f"{folder / m['devices']['file']}: {key} missing or not of shape {a['shape']}")
                out.setdefault(tname, {}).setdefault(aname, {})[f] = flat[key]
    return out
