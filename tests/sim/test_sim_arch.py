"""Architecture presets and YAML validation: the preset names of the interface, their formats, and bad
input that names the key, the value and what is allowed."""
import pytest
import yaml

import lowbit.sim as sim
from lowbit.numerics import get_format

PRESETS = ["sa32_fp32", "sa32_bf16", "sa32_fp16", "sa32_fp8", "sa32_mxfp8", "sa32_mxfp4", "sa32_int8",
           "sa32_ternary", "lns_madam_pe"]


def test_every_interface_preset_loads():
    assert set(PRESETS) <= set(sim.list_arch_presets())
    for name in PRESETS:
        a = sim.load_arch(name)
        assert a.name == name and (a.rows, a.cols) == (32, 32) and a.dataflow in sim.arch.DATAFLOWS
        for f in (a.datapath.a_format, a.datapath.b_format, a.datapath.acc_format):
            get_format(f)
    assert sim.load_arch("lns_madam_pe").datapath.kind == "lns"
    assert sim.load_arch("sa32_mxfp8").operand_bits()[0] == 8.25


def test_load_by_path_passthrough_and_units(tmp_path):
    d = yaml.safe_load((sim.arch.ARCH_DIR / "sa32_bf16.yaml").read_text())
    d.update(name="mine", dram_gbps=25.6, clock_mhz=940)
    p = tmp_path / "mine.yaml"
    p.write_text(yaml.safe_dump(d))
    a = sim.load_arch(str(p))
    assert sim.load_arch(a) is a
    assert a.dram_bits_per_cycle == int(25.6e9 * 8 // 940e6)      # floor, in bits per clock
    assert a.buffers["a"].bits == 256 * 1024 * 8


def _bad(tmp_path, **change):
    d = yaml.safe_load((sim.arch.ARCH_DIR / "sa32_fp8.yaml").read_text())
    for key, v in change.items():
        if "." in key:
            outer, inner = key.split(".", 1)
            if "." in inner:
                mid, leaf = inner.split(".")
                d[outer][mid][leaf] = v
            else:
                d[outer][inner] = v
        elif v is None:
            del d[key]
        else:
            d[key] = v
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(ValueError) as ei:
        sim.load_arch(str(p))
    return str(ei.value)


@pytest.mark.parametrize("change,words", [
    ({"rows": 0}, ["rows=0"]),
    ({"cols": -3}, ["cols=-3"]),
    ({"dataflow": "rs"}, ["dataflow='rs'", "os, ws, is"]),
    ({"datapath.a_format": "fp7"}, ["a_format='fp7'"]),
    ({"datapath.kind": "analog"}, ["kind='analog'", "mac, lns"]),
    ({"datapath.gamma": 8}, ["gamma=8", "only meaningful"]),
    ({"buffers.a.kib": 0}, ["buffers.a", "kib=0"]),
    ({"buffers.c.colour": 1}, ["unknown key 'colour'"]),
    ({"dram_gbps": 0}, ["dram_gbps=0"]),
    ({"clock_mhz": None}, []),
    ({"dram_gbps": None}, ["missing key 'dram_gbps'"]),
    ({"turbo": True}, ["unknown key 'turbo'"]),
    ({"buffers": {"a": {"kib": 1}}}, ["exactly the keys a, b, c"]),
])
def test_bad_arch_yaml(tmp_path, change, words):
    if change == {"clock_mhz": None}:   # optional key: default 1000 MHz, no error
        d = yaml.safe_load((sim.arch.ARCH_DIR / "sa32_fp8.yaml").read_text())
        del d["clock_mhz"]
        (tmp_path / "ok.yaml").write_text(yaml.safe_dump(d))
        assert sim.load_arch(str(tmp_path / "ok.yaml")).clock_mhz == 1000
        return
    msg = _bad(tmp_path, **change)
    for w in words:
        assert w in msg


def test_lns_gamma_power_of_two_and_unknown_preset():
    with pytest.raises(ValueError, match="gamma=6 must be a power of two"):
        sim.Datapath("lns8", "lns8", "int24", kind="lns", gamma=6)
    with pytest.raises(ValueError, match="unknown arch preset 'sa64_fp9'.*sa32_fp32"):
        sim.load_arch("sa64_fp9")
    with pytest.raises(FileNotFoundError):
        sim.load_arch("missing/arch.yaml")
