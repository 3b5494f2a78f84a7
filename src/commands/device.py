"""`lowbit device PRESET`: the pulse response of a device preset (N pulses up, then N down).

Writes a plot (PNG, matplotlib Agg) and the data (CSV with one row per pulse, JSON with the device
parameters and the mean/std trajectory), each atomically (temp file in the same folder + os.replace).
`lowbit device --list` lists the presets with their kind, nominal states and energy per pulse.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from lowbit.numerics._io import atomic_write_bytes

# Documented limit (docs/reliability.md): pulses x devices per direction. 10^6 pulses of 10 devices took
# 163 s, 2 GB of memory and 700 MB of CSV; at 10^6 (10^5 x 10) it still took 490 MB and wrote 70 MB; at
# the limit the CSV is about 10 MB.
MAX_PULSES_X_DEVICES = 200_000


def response_data(preset: str, pulses: int, devices: int, seed: int) -> dict:
    from lowbit.numerics.devices import get_device, pulse_response
    p = get_device(preset)
    traj = pulse_response(p, pulses, n_devices=devices, seed=seed)
    mean_free = pulse_response(p, pulses, n_devices=1, seed=seed, w0=p.w_min, noise=False)[:, 0]
    return {"preset": p.name, "params": p.to_dict(), "pulses": pulses, "devices": devices, "seed": seed,
            "pulse_index": list(range(2 * pulses + 1)),
            "direction": ["start"] + ["up"] * pulses + ["down"] * pulses,
            "mean": traj.mean(axis=1).tolist(), "std": traj.std(axis=1).tolist(),
            "nominal_noise_free": mean_free.tolist(), "traces": traj}


def _csv(d: dict) -> bytes:
    buf = io.StringIO()
    ntr = d["traces"].shape[1]
    buf.write("pulse,direction,mean,std,noise_free," + ",".join(f"device{i}" for i in range(ntr)) + "\n")
    for i in d["pulse_index"]:
        row = [str(i), d["direction"][i], repr(d["mean"][i]), repr(d["std"][i]), repr(d["nominal_noise_free"][i])]
        row += [repr(float(v)) for v in d["traces"][i]]
        buf.write(",".join(row) + "\n")
    return buf.getvalue().encode()


def _png(d: dict, shown: int) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x = np.arange(2 * d["pulses"] + 1)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for i in range(min(shown, d["traces"].shape[1])):
        ax.plot(x, d["traces"][:, i], lw=0.6, alpha=0.5)
    ax.plot(x, d["mean"], "k", lw=2, label="mean over devices")
    ax.plot(x, d["nominal_noise_free"], "r--", lw=1.2, label="nominal device, noise-free")
    ax.axvline(d["pulses"], color="grey", ls=":")
    ax.set_xlabel(f"pulse number ({d['pulses']} up, then {d['pulses']} down)")
    ax.set_ylabel("device weight")
    ax.set_title(f"{d['preset']} ({d['params']['kind']}): {d['devices']} devices, seed {d['seed']}")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def run(args) -> int:
    from lowbit.numerics.devices import get_device, list_devices
    if args.list or not args.preset:
        print(f"{'preset':<11} {'kind':<10} {'states':>7} {'pJ/pulse@Gon':>13}  source")
        for n in list_devices():
            p = get_device(n)
            print(f"{n:<11} {p.kind:<10} {p.nominal_states:>7.0f} {p.pulse_energy_on_pj:>13.3g}  {p.source[:70]}")
        return 0
    if args.pulses < 0:
        raise ValueError(f"--pulses {args.pulses}: must be >= 1 (or 0: the preset's nominal number of states)")
    if args.devices < 1:
        raise ValueError(f"--devices {args.devices}: must be >= 1")
    p = get_device(args.preset)
    pulses = args.pulses or int(min(max(round(p.nominal_states), 10), 5000))
    if pulses * args.devices > MAX_PULSES_X_DEVICES:
        raise ValueError(f"--pulses {pulses} x --devices {args.devices} = {pulses * args.devices} device pulses "
                         f"each way; the limit is {MAX_PULSES_X_DEVICES} (the CSV holds every pulse of every "
                         f"device: about 10 MB at the limit); use lowbit.numerics.devices.pulse_response "
                         f"for longer runs")
    d = response_data(args.preset, pulses, args.devices, args.seed)
    out = Path(args.out)
    stem = out / f"device_{d['preset']}"
    atomic_write_bytes(stem.with_suffix(".csv"), _csv(d))
    meta = {k: v for k, v in d.items() if k != "traces"}
    atomic_write_bytes(stem.with_suffix(".json"), json.dumps(meta, indent=1).encode())
    atomic_write_bytes(stem.with_suffix(".png"), _png(d, args.devices))
    m = d["mean"]
    print(f"{d['preset']}: {pulses} up then {pulses} down, {args.devices} devices (seed {args.seed}); "
          f"mean weight {m[0]:.4f} -> {m[pulses]:.4f} -> {m[-1]:.4f}")
    for suf in (".png", ".csv", ".json"):
        print(f"wrote {stem.with_suffix(suf)}")
    return 0


def register(sub):
    p = sub.add_parser("device", help="plot a synaptic device preset's pulse response (N up, then N down)")
    p.add_argument("preset", nargs="?", help="device preset name (see --list)")
    p.add_argument("--list", action="store_true", help="list the device presets")
    p.add_argument("--pulses", type=int, default=0, help="N (default: the nominal number of states, <= 5000); "
                   f"N x devices <= {MAX_PULSES_X_DEVICES}")
    p.add_argument("--devices", type=int, default=10, help="devices drawn with device-to-device variation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results", help="output folder (default: results/)")
    p.set_defaults(func=run)
