"""Learning rules that change an AnalogTile only by device pulses, counting pulses, writes and energy.

Convention (aihwkit, docs/references.md section 9): W <- W - lr d x^T, in device units dW = -lr d x^T / scale.
- scheme "stochastic": per sample, pulse trains of burst length BL; x_j fires with p = B|x_j|, d_i with
  p = A|d_i|, A B = lr / (dw_min BL) (update management: A/B balanced by max|x| / max|d|); a coincidence
  is one pulse, E[pulses] = lr |x_j d_i| / dw_min (Gokmen & Vlasov 2016).
- scheme "count": n = round(|dW| / dw_min) pulses from the digitally computed outer product, capped at BL
  (NeuroSim's n = round(dW / (w_max - w_min) P_max) with dw_min = (w_max - w_min) / P_max).
- cell "single" is the bidirectional rule (UP for dW > 0, DOWN for dW < 0); cell "pair" is the
  unidirectional rule of Lim et al., "Adaptive Learning Rule for Hardware-based Deep Neural Networks Using
  Electronic Synapse Devices" (Neural Comput. Appl. 2019): only potentiation, the sign of dW selects G+ or
  G-, and a pair whose devices are both high (max > refresh_upper and min > refresh_lower, as fractions of
  the device range) is reset and its difference rewritten by potentiation pulses (aihwkit OneSidedUnitCell).
  With unidirectional=False a pair is updated bidirectionally: G+ and G- each get n pulses for dW/2, in
  opposite directions (devices programmed around mid-range).
- MixedPrecision: a digital accumulator chi += dW; n = trunc(chi / dw_min) pulses, chi -= n dw_min
  (Nandakumar et al. 2018 / aihwkit MixedPrecisionCompound).
- TikiTaka: gradient pulses go to a fast array A (read relative to its symmetry point, as aihwkit's
  reference device does); every `transfer_every` updates one column of A is read and added into the slow
  array C by pulses, n = round(transfer_lr |A_col| / dw_min) (Gokmen & Haensch, Front. Neurosci. 2020).
Energy: each pulse costs V_w^2 G t_pw at the device's conductance before the update (NeuroSim).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lowbit.numerics import get_format
from lowbit.numerics.devices import as_rng, init_state, pulse, with_weights

from .tile import AnalogTile, symmetry_point

__all__ = ["UpdateRule", "UpdateStats", "PulsedSGD", "MixedPrecision", "TikiTaka", "SCHEMES"]

SCHEMES = ("stochastic", "count")


@dataclass
class UpdateStats:
    """Pulses, device writes (devices pulsed at least once per update), resets and energy."""
    pulses: int = 0
    writes: int = 0
    resets: int = 0
    energy_j: float = 0.0
    updates: int = 0
    pulses_by_array: dict = field(default_factory=dict)

    def add(self, other: "UpdateStats") -> "UpdateStats":
        self.pulses += other.pulses
        self.writes += other.writes
        self.resets += other.resets
        self.energy_j += other.energy_j
        self.updates += other.updates
        for k, v in other.pulses_by_array.items():
            self.pulses_by_array[k] = self.pulses_by_array.get(k, 0) + v
        return self


def _round_counts(v):
    return get_format("int32").quantize(np.asarray(v, dtype=np.float64), rounding="nearest_even",
                                        overflow="saturate").astype(np.int64)


def apply_pulses(state, n, direction, rng, stats: UpdateStats, array: str = "W"):
    """Pulse `state` and account pulses, writes and energy (priced before the update)."""
    n = np.asarray(n, dtype=np.int64)
    tot = int(n.sum())
    if tot == 0:
        return state
    stats.pulses += tot
    stats.writes += int((n > 0).sum())
    stats.energy_j += float(np.sum(n * state.params.pulse_energy_j(state.w)))
    stats.pulses_by_array[array] = stats.pulses_by_array.get(array, 0) + tot
    return pulse(state, n, direction, rng)


def _check(owner, bl, lr=None):
    if isinstance(bl, bool) or not isinstance(bl, int) or bl < 1:
        raise ValueError(f"{owner}: bl={bl!r} must be an integer >= 1 (burst length / max pulses per update)")
    if lr is not None and not (lr > 0 and np.isfinite(lr)):
        raise ValueError(f"{owner}: lr={lr!r} must be a finite number > 0")


class UpdateRule:
    """What AnalogLinear needs from a learning rule: the tile it trains (`make_tile`) and `update`, which
    turns one step's (x, d) into pulses. `unidirectional`: pair cells are only potentiated (with refresh)."""
    unidirectional: bool = True

    def make_tile(self, out_features, in_features, device, **kw) -> AnalogTile:
        return AnalogTile(out_features, in_features, device, **kw)

    def update(self, tile: AnalogTile, x, d, lr) -> UpdateStats:
        raise NotImplementedError


class PulsedSGD(UpdateRule):
    """SGD by pulses: bidirectional on a 'single' tile, unidirectional (potentiation only) on a 'pair' tile."""

    def __init__(self, scheme: str = "stochastic", bl: int = 31, update_management: bool = True,
                 refresh_upper: float = 0.75, refresh_lower: float = 0.25, unidirectional: bool = True,
                 seed: int = 0):
        if scheme not in SCHEMES:
            raise ValueError(f"scheme={scheme!r} is unknown; allowed: {', '.join(SCHEMES)}")
        _check("PulsedSGD", bl)
        if not 0 <= refresh_lower <= refresh_upper <= 1:
            raise ValueError(f"refresh thresholds need 0 <= refresh_lower={refresh_lower} <= "
                             f"refresh_upper={refresh_upper} <= 1")
        self.scheme, self.bl, self.um = scheme, bl, update_management
        self.refresh_upper, self.refresh_lower = refresh_upper, refresh_lower
        self.unidirectional = bool(unidirectional)
        self.rng = as_rng(seed)

    # ---- pulse counts ----
    def counts(self, tile: AnalogTile, x, d, lr):
        """Yield (n, sign) pulse counts and signs of dW for each pulse burst of this update."""
        dw_min = tile.params.dw_min
        lr_dev = lr / tile.scale
        if self.scheme == "count":
            dW = -lr_dev * (d.T @ x)
            yield np.minimum(_round_counts(np.abs(dW) / dw_min), self.bl), np.sign(dW)
            return
        for xb, db in zip(x, d):
            ab = lr_dev / (dw_min * self.bl)
            xm, dm = np.abs(xb).max(), np.abs(db).max()
            if xm == 0 or dm == 0:
                continue
            a = np.sqrt(ab * xm / dm) if self.um else np.sqrt(ab)
            px = np.minimum(ab / a * np.abs(xb), 1.0)
            pd = np.minimum(a * np.abs(db), 1.0)
            xbits = (self.rng.random((self.bl, xb.size)) < px).astype(np.int64)
            dbits = (self.rng.random((self.bl, db.size)) < pd).astype(np.int64)
            yield dbits.T @ xbits, -np.sign(np.outer(db, xb))

    def update(self, tile: AnalogTile, x, d, lr) -> UpdateStats:
        """Apply W <- W - lr d^T x (x: (batch, in[+1]) as the tile sees it, d: (batch, out)) by pulses."""
        _check("PulsedSGD", self.bl, lr)
        st = UpdateStats(updates=1)
        both = tile.cell == "pair" and not self.unidirectional
        for n, sgn in self.counts(tile, x, d, lr / 2 if both else lr):
            self._pulse(tile, n, sgn, st)
        if tile.cell == "pair" and self.unidirectional:
            self._refresh(tile, st)
        return st

    def _pulse(self, tile, n, sgn, st):
        n = np.where(sgn == 0, 0, n)
        direction = np.where(sgn >= 0, 1, -1)
        if tile.cell == "single":
            tile.plus = apply_pulses(tile.plus, n, direction, self.rng, st)
        elif not self.unidirectional:   # bidirectional pair: G+ and G- move in opposite directions
            tile.plus = apply_pulses(tile.plus, n, direction, self.rng, st, "G+")
            tile.minus = apply_pulses(tile.minus, n, -direction, self.rng, st, "G-")
        else:   # unidirectional: potentiate G+ for dW > 0, G- for dW < 0
            tile.plus = apply_pulses(tile.plus, np.where(sgn > 0, n, 0), 1, self.rng, st, "G+")
            tile.minus = apply_pulses(tile.minus, np.where(sgn < 0, n, 0), 1, self.rng, st, "G-")

    def _refresh(self, tile, st):
        p, m = tile.plus, tile.minus
        fp = (p.w - p.devices.b_min) / np.maximum(p.devices.b_max - p.devices.b_min, 1e-300)
        fm = (m.w - m.devices.b_min) / np.maximum(m.devices.b_max - m.devices.b_min, 1e-300)
        hit = (np.maximum(fp, fm) > self.refresh_upper) & (np.minimum(fp, fm) > self.refresh_lower)
        if not hit.any():
            return
        target = p.w - m.w
        st.resets += 2 * int(hit.sum())
        tile.plus = with_weights(p, np.where(hit, p.devices.b_min, p.w))
        tile.minus = with_weights(m, np.where(hit, m.devices.b_min, m.w))
        # Rewrite |target| on the device of its sign by single potentiation pulses (program and verify).
        half = 0.5 * tile.params.dw_min
        limit = int(4 * tile.params.nominal_states) + 10
        for _ in range(limit):
            cur = tile.plus.w - tile.minus.w
            need_p = hit & (target > 0) & (target - cur > half) & (tile.plus.w < tile.plus.devices.b_max)
            need_m = hit & (target < 0) & (cur - target > half) & (tile.minus.w < tile.minus.devices.b_max)
            if not (need_p.any() or need_m.any()):
                break
            tile.plus = apply_pulses(tile.plus, need_p.astype(np.int64), 1, self.rng, st, "refresh")
            tile.minus = apply_pulses(tile.minus, need_m.astype(np.int64), 1, self.rng, st, "refresh")


class MixedPrecision(PulsedSGD):
    """Digital accumulator chi (device units); pulses only where |chi| >= dw_min, the rest is kept."""

    def __init__(self, bl: int = 31, seed: int = 0, **kw):
        super().__init__("count", bl=bl, seed=seed, **kw)
        self.chi = None

    def update(self, tile, x, d, lr) -> UpdateStats:
        _check("MixedPrecision", self.bl, lr)
        st = UpdateStats(updates=1)
        if self.chi is None:
            self.chi = np.zeros(tile.shape)
        self.chi += -(lr / tile.scale) * (d.T @ x)
        dw_min = tile.params.dw_min
        n = np.minimum(np.trunc(np.abs(self.chi) / dw_min).astype(np.int64), self.bl)
        sgn = np.sign(self.chi)
        self.chi -= sgn * n * dw_min
        self._pulse(tile, n, sgn, st)
        if tile.cell == "pair" and self.unidirectional:
            self._refresh(tile, st)
        return st


class TikiTaka(PulsedSGD):
    """W = C + gamma (A - A_sym): gradient pulses into A, periodic column transfers of A into C."""

    def __init__(self, gamma: float = 1.0, transfer_every: int = 1, transfer_lr: float = 1.0,
                 scheme: str = "stochastic", bl: int = 31, seed: int = 0, **kw):
        super().__init__(scheme, bl=bl, seed=seed, **kw)
        if not gamma >= 0 or not transfer_lr > 0:
            raise ValueError(f"TikiTaka: gamma={gamma!r} must be >= 0 and transfer_lr={transfer_lr!r} > 0")
        if isinstance(transfer_every, bool) or not isinstance(transfer_every, int) or transfer_every < 1:
            raise ValueError(f"TikiTaka: transfer_every={transfer_every!r} must be an integer >= 1")
        self.gamma, self.every, self.tlr = float(gamma), transfer_every, float(transfer_lr)
        self.count, self.col = 0, 0

    def attach(self, tile: AnalogTile) -> None:
        """Give the tile its fast array A (same device model, its own devices) at A's symmetry point."""
        if tile.cell != "single":
            raise ValueError("TikiTaka works on 'single' tiles (A and C are bidirectional arrays)")
        fast = init_state(tile.params, tile.shape, self.rng)
        ref = symmetry_point(fast.devices)
        tile.fast, tile.fast_ref, tile.fast_gamma = with_weights(fast, ref), ref, self.gamma

    def update(self, tile, x, d, lr) -> UpdateStats:
        _check("TikiTaka", self.bl, lr)
        if getattr(tile, "fast", None) is None:
            self.attach(tile)
        st = UpdateStats(updates=1)
        # gradient pulses into A (device units of A; W = gamma A + C, so A moves by dW / gamma)
        g = max(self.gamma, 1e-12)
        for n, sgn in self.counts(tile, x, d, lr / g):
            tile.fast = apply_pulses(tile.fast, np.where(sgn == 0, 0, n), np.where(sgn >= 0, 1, -1), self.rng,
                                     st, "A")
        self.count += 1
        if self.count % self.every == 0:
            j = self.col % tile.shape[1]
            self.col += 1
            a_col = tile.fast.w_read[:, j] - tile.fast_ref[:, j]
            n = np.zeros(tile.shape, dtype=np.int64)
            n[:, j] = np.minimum(_round_counts(self.tlr * np.abs(a_col) / tile.params.dw_min), self.bl)
            direction = np.ones(tile.shape, dtype=np.int64)
            direction[:, j] = np.where(a_col >= 0, 1, -1)
            tile.plus = apply_pulses(tile.plus, n, direction, self.rng, st, "C")
        return st
