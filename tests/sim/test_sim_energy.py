"""Energy: published entries used verbatim, derived rules through their anchors, energy = sum(count x
energy per action), per-layer and per-component breakdowns that agree, and missing actions that raise."""
import math

import pytest
import yaml

import lowbit.sim as sim
from lowbit.sim import Elementwise, Gemm, Workload, energy_per_update, load_energy_table
from lowbit.sim.energy import ENERGY_DIR


def _step(fmt_kind):
    layers = [sim.linear("fc1", 64, 256, 128), sim.conv("c1", 2, 8, 16, (12, 12), 3, padding=1)]
    f = {"fp32": (sim.StepFormats.uniform("fp32"), "sgd"),
         "bf16": (sim.StepFormats.uniform("bf16", master="fp32"), "adamw"),
         "fp8": (sim.StepFormats(weight="fp8_e4m3fn", activation="fp8_e4m3fn", grad_output="fp8_e5m2",
                                 master="fp32"), "momentum"),
         "lns": (sim.StepFormats(weight="lns8", activation="lns8", grad_output="lns8", acc="int32",
                                 grad_weight="lns8"), "lns_madam")}[fmt_kind]
    return sim.training_step(layers, f[0], optimizer=f[1], sr=fmt_kind == "bf16", kahan=fmt_kind == "fp8")


@pytest.mark.parametrize("arch,kind", [("sa32_fp32", "fp32"), ("sa32_bf16", "bf16"), ("sa32_fp8", "fp8"),
                                       ("lns_madam_pe", "lns"), ("sa32_mxfp8", "fp8")])
def test_energy_is_sum_of_count_times_action_and_breakdowns_agree(arch, kind):
    r = energy_per_update(_step(kind), arch)
    assert r.pj_per_step > 0 and not r.notes
    by_action = sum(a["count"] * a["pj_each"] for a in r.actions.values())
    assert math.isclose(by_action, r.pj_per_step, rel_tol=1e-12)
    assert math.isclose(sum(r.breakdown["component"].values()), r.pj_per_step, rel_tol=1e-12)
    assert math.isclose(sum(sum(v.values()) for v in r.breakdown["layer"].values()), r.pj_per_step, rel_tol=1e-12)
    assert set(r.breakdown["layer"]) == {"fc1", "c1"}
    assert r.pj_per_weight_update == r.pj_per_step / (256 * 128 + 16 * 8 * 9)
    assert all(a["status"] in sim.energy.STATUSES for a in r.actions.values())


def test_published_entries_are_used_verbatim():
    r = energy_per_update(Workload((Gemm("g", 64, 64, 64),)), "sa32_fp32")
    assert r.actions["mul(fp32xfp32)"]["pj_each"] == 3.7 and r.actions["mul(fp32xfp32)"]["status"] == "published"
    assert r.actions["add(fp32)"]["pj_each"] == 0.9
    assert r.breakdown["component"]["mac"] == pytest.approx(64 ** 3 * 4.6)     # Horowitz's derived fp32 MAC
    T7 = load_energy_table("tpuv4i7")
    assert T7.mul("bf16", "bf16").pj == 0.21 and T7.mul("bf16", "bf16").status == "published_unverified"


def test_rules_pass_through_their_anchors_and_are_monotone():
    T = load_energy_table("horowitz45")
    for kib, pj in ((8, 10), (32, 20), (1024, 100)):
        assert T.sram_bit(kib).pj * 64 == pytest.approx(pj)
    assert T._power("mul.fp16", "mul.fp32", 121, 576, 576, "x").pj == pytest.approx(3.7)
    assert T.int_add(8).pj == 0.03 and T.int_add(16).status == "derived"
    muls = [T.mul(f, f).pj for f in ("fp4_e2m1fn", "fp8_e5m2", "fp8_e4m3fn", "bf16", "fp16", "fp32")]
    assert muls == sorted(muls)
    adds = [T.add(f).pj for f in ("fp8_e5m2", "fp8_e4m3fn", "bf16", "fp16", "fp32")]
    assert adds == sorted(adds)
    assert T.mul("int8", "ternary").pj == T.int_add(8).pj          # sign select = an add
    assert T.mul("lns8", "lns8").pj == T.int_add(7).pj             # exponent-code add


def test_device_pulses_priced_from_the_item_or_a_table_entry_never_zero(tmp_path):
    w = Workload((Elementwise("pulses", 1000, "device_pulse", "", pj_each=0.25),), name="d")
    assert energy_per_update(w, "sa32_fp32").breakdown["component"]["device_pulse"] == 250.0
    bare = Workload((Elementwise("pulses", 1000, "device_pulse", ""),), name="d")
    with pytest.raises(ValueError, match="no entry 'device_pulse'"):
        energy_per_update(bare, "sa32_fp32")
    d = yaml.safe_load((ENERGY_DIR / "horowitz45.yaml").read_text())
    d["entries"]["device_pulse"] = {"pj": 2.0, "unit": "pulse", "status": "placeholder", "source": "test"}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(d))
    r = energy_per_update(bare, "sa32_fp32", energy=str(tmp_path / "t.yaml"))
    assert r.breakdown["component"]["device_pulse"] == 2000.0
    assert math.isnan(r.pj_per_weight_update)


def test_missing_action_raises_naming_it(tmp_path):
    d = yaml.safe_load((ENERGY_DIR / "horowitz45.yaml").read_text())
    del d["entries"]["add.fp16"]          # the anchor every derived float add needs
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(d))
    with pytest.raises(ValueError, match="no entry 'add.fp16'"):
        energy_per_update(Workload((Elementwise("upd", 10, "add", "bf16"),)), "sa32_bf16",
                          energy=str(tmp_path / "t.yaml"))
    del d["entries"]["dram64"]
    (tmp_path / "t2.yaml").write_text(yaml.safe_dump(d))
    with pytest.raises(ValueError, match="no entry 'dram64'"):
        energy_per_update(Workload((Gemm("g", 8, 8, 8),)), "sa32_fp32", energy=str(tmp_path / "t2.yaml"))


@pytest.mark.parametrize("entry,words", [
    ({"pj": 1, "status": "guessed", "source": "x"}, ["status='guessed'", "placeholder"]),
    ({"pj": -1, "status": "published", "source": "x"}, ["-1"]),
    ({"pj": 1, "value": 2, "status": "published", "source": "x"}, ["exactly one of pj"]),
    ({"pj": 1, "status": "published"}, ["missing key 'source'"]),
])
def test_bad_energy_table(tmp_path, entry, words):
    d = yaml.safe_load((ENERGY_DIR / "horowitz45.yaml").read_text())
    d["entries"]["add.int8"] = entry
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(d))
    with pytest.raises(ValueError) as ei:
        load_energy_table(str(tmp_path / "bad.yaml"))
    for w in words:
        assert w in str(ei.value)


def test_wider_gemm_than_datapath_is_priced_at_its_own_formats_with_a_note():
    w = Workload((Gemm("wide", 32, 32, 32, "fp32", "fp32", "fp32"),))
    r = energy_per_update(w, "sa32_fp8")
    assert r.notes and "does not fit datapath" in r.notes[0]
    assert "mul(fp32xfp32)" in r.actions
    narrow = energy_per_update(Workload((Gemm("n", 32, 32, 32, "fp8_e5m2", "fp8_e5m2", "fp32"),)), "sa32_fp8")
    assert not narrow.notes and "mul(fp8_e4m3fnxfp8_e4m3fn)" in narrow.actions   # the datapath's multiplier


def test_lns_pe_pays_code_adds_bucket_adds_and_one_conversion_per_output():
    w = Workload((Gemm("g", 64, 48, 256, "lns8", "lns8", "int32", out_format="lns8"),))
    r = energy_per_update(w, "lns_madam_pe")
    assert r.actions["lns_conversion"]["count"] == 64 * 48
    assert r.actions["lns_mul(lns8xlns8)"]["count"] == 64 * 48 * 256
    assert r.actions["bucket_add(int32)"]["pj_each"] == 0.1


def test_mixed_family_multiply_uses_effective_significands():
    T = load_energy_table("horowitz45")
    # fp32 (24-bit significand) x int8 (8 bits): the float rule at P = 192, between fp16 (121) and fp32 (576)
    assert T.mul("fp32", "int8").pj == pytest.approx(1.1 * (192 / 121) ** (math.log(3.7 / 1.1) / math.log(576 / 121)))
    assert T.mul("fp32", "int8").status == "derived"
    assert T.mul("bf16", "int4").pj < T.mul("bf16", "int8").pj < T.mul("bf16", "bf16").pj * 2
