"""What a unit claims to implement (`Contract`) and how it is clocked (`Timing`), for `check_unit` and
`lowbit verify` (docs/hw.md sections 3-5).

Contract (float operations fp_mul and fp_add; the other operations have a fixed contract):
- `rounding`: the rounding modes the unit implements (`lowbit.numerics.rounding` names) or "all".
  Default: round to nearest even only.
- `overflow`: "saturate", "ieee" or "all" (both). Default: the format's default (`Format.default_overflow`).
- `subnormals`: "ieee" (gradual underflow), "ftz" (tiny results flushed to a zero of their sign), "daz"
  (subnormal operands read as zeros) or "ftz_daz"; `tininess` "before" or "after" rounding (IEEE 754-2019
  section 7.5; only with ftz, default "after"). Golden: `lowbit.numerics.arith.mul/add(subnormals=...)`.
- `nan`: "exact" (the canonical NaN code is expected) or "any" (any NaN code matches an expected NaN).
Ports the contract does not use are optional: mode_i only matters for more than one rounding mode, sat_i
for both overflow policies, rand_i for stochastic rounding; absent ones are simply not driven.

Timing (sequential units): `clock` port, `latency` in clocks from an input to its output (0: the output
is sampled before the edge that takes the input in), optional synchronous `reset` (held at
`reset_active` for two clocks before the first vector), optional `valid_in` (1 with every vector, 0 while
the pipeline drains) and `valid_out` (outputs are matched in order of valid_out; `latency` is then the
longest wait allowed after the last vector, default 1000 clocks).
"""
from __future__ import annotations

from dataclasses import dataclass

from .harness import check_identifier

__all__ = ["Contract", "Timing", "parse_rounding_list", "parse_overflow_list", "ROUNDING_MODES",
           "OVERFLOWS", "NAN_POLICIES"]

ROUNDING_MODES = ("nearest_even", "nearest_away", "toward_zero", "up", "down", "stochastic")
OVERFLOWS = ("saturate", "ieee")
NAN_POLICIES = ("exact", "any")
DEFAULT_VALID_WAIT = 1000


def parse_rounding_list(text: str) -> tuple[str, ...]:
    """"nearest_even,toward_zero" or "all" -> a tuple of mode names (ValueError naming a bad one)."""
    if text == "all":
        return ROUNDING_MODES
    modes = tuple(m.strip() for m in str(text).split(","))
    for m in modes:
        if m not in ROUNDING_MODES:
            raise ValueError(f"--rounding {m!r} unknown; allowed: {', '.join(ROUNDING_MODES)} (comma-separated), "
                             "or all")
    if len(set(modes)) != len(modes):
        raise ValueError(f"--rounding {text!r} names a mode twice")
    return modes


def parse_overflow_list(text: str) -> tuple[str, ...]:
    if text == "all":
        return OVERFLOWS
    if text not in OVERFLOWS:
        raise ValueError(f"--overflow {text!r} unknown; allowed: saturate, ieee, all")
    return (text,)


@dataclass(frozen=True)
class Contract:
    """The unit's declared behaviour; None fields take the operation's default."""
    rounding: tuple | None = None
    overflow: tuple | None = None
    subnormals: str = "ieee"
    tininess: str | None = None
    nan: str = "exact"

    def __post_init__(self):
        if self.rounding is not None:
            object.__setattr__(self, "rounding", parse_rounding_list(self.rounding) if isinstance(self.rounding, str)
                               else tuple(parse_rounding_list(",".join(self.rounding))))
        if self.overflow is not None:
            ovf = self.overflow
            object.__setattr__(self, "overflow", parse_overflow_list(ovf) if isinstance(ovf, str) else
                               tuple(o for x in ovf for o in parse_overflow_list(x)))
        from lowbit.numerics.arith import SUBNORMALS, TININESS
        if self.subnormals not in SUBNORMALS:
            raise ValueError(f"--subnormals {self.subnormals!r} unknown; allowed: {', '.join(SUBNORMALS)}")
        if self.tininess is not None:
            if self.tininess not in TININESS:
                raise ValueError(f"--tininess {self.tininess!r} unknown; allowed: {', '.join(TININESS)}")
            if self.subnormals not in ("ftz", "ftz_daz"):
                raise ValueError(f"--tininess {self.tininess} applies to flushing results (--subnormals ftz or "
                                 f"ftz_daz), not to --subnormals {self.subnormals}")
        if self.nan not in NAN_POLICIES:
            raise ValueError(f"--nan {self.nan!r} unknown; allowed: {', '.join(NAN_POLICIES)}")

    @classmethod
    def full_sweep(cls) -> "Contract":
        """Every rounding mode and both overflow policies (lowbit's reference float units)."""
        return cls(rounding="all", overflow="all")

    @property
    def tininess_or_default(self) -> str:
        return self.tininess or "after"

    def is_default(self) -> bool:
        return self == Contract(nan=self.nan)

    def describe(self, rounding, overflow) -> str:
        txt = f"rounding {','.join(rounding)}; overflow {','.join(overflow)}; subnormals {self.subnormals}"
        if self.subnormals in ("ftz", "ftz_daz"):
            txt += f" (tininess {self.tininess_or_default} rounding)"
        return txt + f"; NaN codes {self.nan}"


@dataclass(frozen=True)
class Timing:
    clock: str | None = None
    latency: int | None = None
    reset: str | None = None
    reset_active: int = 1
    valid_in: str | None = None
    valid_out: str | None = None

    def __post_init__(self):
        for key in ("clock", "reset", "valid_in", "valid_out"):
            v = getattr(self, key)
            if v is not None:
                check_identifier(v, f"--{key.replace('_', '-')}")
        if self.latency is not None and (isinstance(self.latency, bool) or not isinstance(self.latency, int)
                                         or self.latency < 0):
            raise ValueError(f"--latency must be a non-negative integer (clocks), got {self.latency!r}")
        if self.reset_active not in (0, 1):
            raise ValueError(f"--reset-active must be 0 or 1, got {self.reset_active!r}")
        if self.clock is None:
            for key in ("latency", "reset", "valid_in", "valid_out"):
                if getattr(self, key) is not None:
                    raise ValueError(f"--{key.replace('_', '-')} needs --clock NAME (a sequential unit)")
        elif self.latency is None and self.valid_out is None:
            raise ValueError("--clock needs --latency N (clocks from inputs to output) or --valid-out NAME")
        names = [n for n in (self.clock, self.reset, self.valid_in, self.valid_out) if n]
        if len(set(names)) != len(names):
            raise ValueError(f"--clock/--reset/--valid-in/--valid-out name one port twice: {names}")

    @property
    def sequential(self) -> bool:
        return self.clock is not None

    @property
    def max_wait(self) -> int:
        """Clocks after the last vector the harness keeps clocking."""
        if self.valid_out is None:
            return int(self.latency or 0)
        return DEFAULT_VALID_WAIT if self.latency is None else int(self.latency)
