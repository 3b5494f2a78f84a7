"""Reuse of Verilator's design-independent objects between build directories (run as a script by
build.py between `verilator` and `make`, so it imports nothing from lowbit).

`restore CACHE BUILD_DIR`: copy the runtime objects (verilated*.o/.d) and, when the generated top
header Vtop.h is byte-identical to a cached one, cocotb's main (verilator.o, which includes only Vtop.h),
into BUILD_DIR. Copies are newer than the freshly generated sources, so `make` skips them.
`save BUILD_DIR CACHE`: store those objects after a successful `make` (atomically, first writer wins).
"""
import hashlib
import os
import shutil
import sys
import tempfile

RUNTIME = ("verilated", "verilated_dpi", "verilated_threads", "verilated_timing", "verilated_vpi")


def _groups(build_dir, cache):
    top_h = os.path.join(build_dir, "Vtop.h")
    groups = [(cache, RUNTIME)]
    if os.path.isfile(top_h):
        with open(top_h, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        groups.append((os.path.join(cache, "main-" + digest), ("verilator",)))
    return groups


def _files(names):
    return [n + ext for n in names for ext in (".o", ".d")]


def restore(cache, build_dir):
    for folder, names in _groups(build_dir, cache):
        files = _files(names)
        if all(os.path.isfile(os.path.join(folder, f)) for f in files):
            for f in files:
                shutil.copy(os.path.join(folder, f), os.path.join(build_dir, f))


def save(build_dir, cache):
    for folder, names in _groups(build_dir, cache):
        files = _files(names)
        if not all(os.path.isfile(os.path.join(build_dir, f)) for f in files):
            continue
        os.makedirs(folder, exist_ok=True)
        for f in files:
            dest = os.path.join(folder, f)
            if os.path.exists(dest):
                continue
            fd, tmp = tempfile.mkstemp(dir=folder)
            os.close(fd)
            shutil.copy(os.path.join(build_dir, f), tmp)
            os.replace(tmp, dest)


if __name__ == "__main__":
    cmd, a, b = sys.argv[1:4]
    restore(a, b) if cmd == "restore" else save(a, b)
