"""Device parameters: one frozen value per synaptic device model, with IBM aihwkit's parameter names.

The names and meanings follow aihwkit's `PulsedDevice` family (docs/references.md section 9; aihwkit
`simulator/configs/devices.py`): dw_min, dw_min_dtod, dw_min_std, up_down, up_down_dtod, w_max, w_min,
w_max_dtod, w_min_dtod, enforce_consistency, corrupt_devices_prob/range, write_noise_std, reset*,
and per model: gamma_up/gamma_down(+_dtod), mean_bound_reference, mult_noise (linear step / soft bounds);
A_up, A_down, gamma_up, gamma_down, a, b, dw_min_std_add, dw_min_std_slope (exponential step); pow_gamma,
pow_gamma_dtod, pow_up_down, pow_up_down_dtod (power step); piecewise_up/down (piecewise step).
So an aihwkit preset is brought over by copying its fields (defaults per kind are aihwkit's).

lowbit additions, named after their sources: `levels` (finite number of programmable states between the
device's bounds), `stuck_at_min_prob`/`stuck_at_max_prob` (stuck-off/on faults), the NeuroSim discrete
pulse-count model (Chen, Peng, Yu, "NeuroSim", IEEE TCAD 2018: max_num_level_ltp/ltd, param_a_ltp/ltd in
pulses, sigma_ctoc in units of the conductance range), and the write-energy figures
(g_min, g_max [S], v_write [V], t_pulse [s]) for NeuroSim's energy per pulse V_w^2 G t_pw.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

__all__ = ["DeviceParams", "KINDS", "make_device"]

KINDS = ("constant", "linear", "softbounds", "exp", "pow", "piecewise", "neurosim")

# aihwkit's defaults that differ by device class (the rest are PulsedDevice's, the dataclass defaults).
_KIND_DEFAULTS = {
    "constant": {},
    "linear": dict(gamma_up=0.0, gamma_down=0.0, mean_bound_reference=True, mult_noise=True),
    "softbounds": dict(gamma_up=1.0, gamma_down=1.0, gamma_up_dtod=0.0, gamma_down_dtod=0.0,
                       mean_bound_reference=False, mult_noise=True),
    "exp": dict(A_up=0.00081, A_down=0.36833, gamma_up=12.44625, gamma_down=12.78785, a=0.244, b=0.2425,
                gamma_up_dtod=0.0, gamma_down_dtod=0.0),
    "pow": dict(pow_gamma=1.0, pow_gamma_dtod=0.1, pow_up_down=0.0, pow_up_down_dtod=0.0),
    "piecewise": {},
    "neurosim": dict(dw_min_dtod=0.0, dw_min_std=0.0, up_down=0.0, up_down_dtod=0.0, w_max=1.0, w_min=-1.0,
                     w_max_dtod=0.0, w_min_dtod=0.0),
}


@dataclass(frozen=True)
class DeviceParams:
    """One device model. Weight units are aihwkit's (a device weight in [w_min, w_max], 0 inside);
    conductance G = g_min + (w - w_min) / (w_max - w_min) * (g_max - g_min)."""

    name: str = "custom"
    kind: str = "constant"
    # --- PulsedDevice (aihwkit defaults) ---
    dw_min: float = 0.001
    dw_min_dtod: float = 0.3
    dw_min_std: float = 0.3
    up_down: float = 0.0
    up_down_dtod: float = 0.01
    w_max: float = 0.6
    w_min: float = -0.6
    w_max_dtod: float = 0.3
    w_min_dtod: float = 0.3
    enforce_consistency: bool = True
    corrupt_devices_prob: float = 0.0
    corrupt_devices_range: float = 0.1   # aihwkit 1.2 Python default (its C++ default is FLT_MAX)
    write_noise_std: float = 0.0
    reset: float = 0.0
    reset_dtod: float = 0.0
    reset_std: float = 0.01
    # --- linear step / soft bounds ---
    gamma_up: float = 0.0
    gamma_down: float = 0.0
    gamma_up_dtod: float = 0.05
    gamma_down_dtod: float = 0.05
    mean_bound_reference: bool = True
    mult_noise: bool = True
    # --- exponential step (gamma_up/gamma_down are its exponents, as in aihwkit) ---
    A_up: float = 0.00081
    A_down: float = 0.36833
    a: float = 0.244
    b: float = 0.2425
    dw_min_std_add: float = 0.0
    dw_min_std_slope: float = 0.0
    # --- power step ---
    pow_gamma: float = 1.0
    pow_gamma_dtod: float = 0.1
    pow_up_down: float = 0.0
    pow_up_down_dtod: float = 0.0
    # --- piecewise step (relative step factors at nodes equally spaced in [b_min, b_max]) ---
    piecewise_up: tuple = (1.0,)
    piecewise_down: tuple = (1.0,)
    # --- NeuroSim discrete pulse-count model ---
    max_num_level_ltp: int = 100
    max_num_level_ltd: int = 100
    param_a_ltp: float = 50.0      # pulses; > 0
    param_a_ltd: float = -50.0     # pulses; < 0 (depression curve), NeuroSim's sign convention
    param_a_dtod: float = 0.0      # relative device-to-device spread of A
    sigma_ctoc: float = 0.0        # per-pulse noise, fraction of (w_max - w_min)
    # --- lowbit: finite states and faults ---
    levels: int | None = None
    stuck_at_min_prob: float = 0.0
    stuck_at_max_prob: float = 0.0
    # --- energy (NeuroSim: E = V_w^2 G t_pw per pulse) ---
    g_min: float = 1e-6
    g_max: float = 1e-5
    v_write: float = 1.0
    t_pulse: float = 1e-7
    source: str = ""
    notes: str = ""

    def __post_init__(self):
        _validate(self)

    # ---- derived figures (never typed in twice) ----
    @property
    def nominal_states(self) -> float:
        """(w_max - w_min) / dw_min: the number of nominal steps across the range."""
        return (self.w_max - self.w_min) / self.dw_min

    def conductance(self, w):
        """Conductance [S] of device weight(s) w (NumPy-broadcasting)."""
        return self.g_min + (w - self.w_min) / (self.w_max - self.w_min) * (self.g_max - self.g_min)

    def pulse_energy_j(self, w):
        """NeuroSim's write energy of one pulse at device weight w: V_w^2 * G(w) * t_pw [J]."""
        return self.v_write ** 2 * self.conductance(w) * self.t_pulse

    @property
    def pulse_energy_on_pj(self) -> float:
        """Energy of one pulse at G_on = g_max, in pJ (the figure device papers quote)."""
        return self.v_write ** 2 * self.g_max * self.t_pulse * 1e12

    def replace(self, **changes) -> "DeviceParams":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["piecewise_up"] = list(self.piecewise_up)
        d["piecewise_down"] = list(self.piecewise_down)
        return d


def make_device(kind: str, **params) -> DeviceParams:
    """A DeviceParams of `kind` with aihwkit's class defaults for that kind, overridden by `params`."""
    if kind not in KINDS:
        raise ValueError(f"device kind={kind!r} is unknown; allowed: {', '.join(KINDS)}")
    allowed = {f.name for f in dataclasses.fields(DeviceParams)} - {"kind"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"device parameter(s) {', '.join(map(repr, unknown))} unknown; allowed: "
                         f"{', '.join(sorted(allowed))}")
    merged = dict(_KIND_DEFAULTS[kind])
    merged.update(params)
    for key in ("piecewise_up", "piecewise_down"):
        if key in merged:
            merged[key] = tuple(float(v) for v in merged[key])
    return DeviceParams(kind=kind, **merged)


def _num(p, key, lo=None, lo_open=False, hi=None):
    v = getattr(p, key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"device {p.name!r}: {key}={v!r} must be a finite number")
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise ValueError(f"device {p.name!r}: {key}={v!r} must be {'>' if lo_open else '>='} {lo}")
    if hi is not None and v > hi:
        raise ValueError(f"device {p.name!r}: {key}={v!r} must be <= {hi}")


def _validate(p: DeviceParams) -> None:
    if p.kind not in KINDS:
        raise ValueError(f"device {p.name!r}: kind={p.kind!r} is unknown; allowed: {', '.join(KINDS)}")
    _num(p, "dw_min", 0.0, lo_open=True)   # a zero or negative step size can never move a device
    for key in ("dw_min_dtod", "dw_min_std", "up_down_dtod", "w_max_dtod", "w_min_dtod", "write_noise_std",
                "reset_dtod", "reset_std", "gamma_up_dtod", "gamma_down_dtod", "dw_min_std_add",
                "dw_min_std_slope", "pow_gamma_dtod", "pow_up_down_dtod", "param_a_dtod", "sigma_ctoc"):
        _num(p, key, 0.0)
    for key in ("up_down", "w_max", "w_min", "reset", "gamma_up", "gamma_down", "A_up", "A_down", "a", "b",
                "pow_gamma", "pow_up_down"):
        _num(p, key)
    if p.w_min >= p.w_max:
        raise ValueError(f"device {p.name!r}: w_min={p.w_min!r} >= w_max={p.w_max!r}; the range must be non-empty")
    if p.w_min > 0 or p.w_max < 0:
        raise ValueError(f"device {p.name!r}: [w_min, w_max] = [{p.w_min}, {p.w_max}] must contain 0 (aihwkit's rule)")
    for key in ("corrupt_devices_prob", "stuck_at_min_prob", "stuck_at_max_prob"):
        _num(p, key, 0.0, hi=1.0)
    if p.corrupt_devices_prob + p.stuck_at_min_prob + p.stuck_at_max_prob > 1.0:
        raise ValueError(f"device {p.name!r}: corrupt/stuck probabilities add up to more than 1")
    _num(p, "corrupt_devices_range", 0.0)
    _num(p, "g_min", 0.0)
    _num(p, "g_max", 0.0, lo_open=True)
    if p.g_min >= p.g_max:
        raise ValueError(f"device {p.name!r}: g_min={p.g_min!r} >= g_max={p.g_max!r}; Gmin must be below Gmax")
    _num(p, "v_write", 0.0)
    _num(p, "t_pulse", 0.0)
    if p.levels is not None and (isinstance(p.levels, bool) or not isinstance(p.levels, int) or p.levels < 2):
        raise ValueError(f"device {p.name!r}: levels={p.levels!r} must be an integer >= 2 (or None: continuous)")
    for key in ("piecewise_up", "piecewise_down"):
        vec = getattr(p, key)
        if not isinstance(vec, tuple) or len(vec) < 1 or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 for v in vec):
            raise ValueError(f"device {p.name!r}: {key}={vec!r} must be a non-empty tuple of step factors >= 0")
    if len(p.piecewise_up) != len(p.piecewise_down):
        raise ValueError(f"device {p.name!r}: piecewise_up and piecewise_down need the same number of nodes")
    if p.kind == "neurosim":
        for key in ("max_num_level_ltp", "max_num_level_ltd"):
            v = getattr(p, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"device {p.name!r}: {key}={v!r} must be an integer >= 1 (>= 2 levels)")
        _num(p, "param_a_ltp", 0.0, lo_open=True)
        _num(p, "param_a_ltd")
        if p.param_a_ltd >= 0:
            raise ValueError(f"device {p.name!r}: param_a_ltd={p.param_a_ltd!r} must be < 0 (NeuroSim's LTD sign)")
