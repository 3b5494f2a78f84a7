"""The registry of named device models; presets are YAML files in configs/devices/ (one device each).

A preset file is flat: `name`, `kind`, `source` (the paper the figures come from), `notes`, and any
DeviceParams field (aihwkit's names). It is loaded and validated once into a frozen DeviceParams.
"""
from __future__ import annotations

from pathlib import Path

from lowbit.numerics._io import load_yaml

from .params import DeviceParams, make_device
from .._resources import config_dir

__all__ = ["get_device", "list_devices", "register_device", "load_device", "PRESET_DIR"]

PRESET_DIR = config_dir("devices")
_DEVICES: dict[str, DeviceParams] = {}
_loaded = False


def load_device(path) -> DeviceParams:
    """Read one device YAML file into a DeviceParams (errors name the file and the key)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"device preset file {str(path)!r} does not exist")
    data = dict(load_yaml(path, what="device preset"))
    kind = data.pop("kind", None)
    if "name" not in data:
        data["name"] = path.stem
    try:
        return make_device(kind, **data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def register_device(params: DeviceParams, replace: bool = False) -> DeviceParams:
    if not isinstance(params, DeviceParams):
        raise ValueError(f"register_device needs a DeviceParams, got {type(params).__name__}")
    _ensure_loaded()
    if params.name in _DEVICES and not replace and _DEVICES[params.name] != params:
        raise ValueError(f"device name {params.name!r} is already registered (pass replace=True)")
    _DEVICES[params.name] = params
    return params


def _ensure_loaded():
    global _loaded
    if _loaded:
        return
    _loaded = True
    if PRESET_DIR.is_dir():
        for f in sorted(PRESET_DIR.glob("*.yaml")):
            p = load_device(f)
            _DEVICES.setdefault(p.name, p)


def list_devices() -> list[str]:
    _ensure_loaded()
    return sorted(_DEVICES)


def get_device(name) -> DeviceParams:
    """The registered device `name` (a DeviceParams passes through); unknown names raise ValueError."""
    if isinstance(name, DeviceParams):
        return name
    _ensure_loaded()
    if not isinstance(name, str) or name not in _DEVICES:
        raise ValueError(f"unknown device preset {name!r}; known: {', '.join(sorted(_DEVICES)) or '(none)'}")
    return _DEVICES[name]
