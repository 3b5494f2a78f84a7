#!/usr/bin/env bash
# Install everything the tests need on a fresh machine (torch pinned to the CPU build through
# constraints.txt, the RTL simulators) and run the whole suite. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -c constraints.txt -e '.[test]'
if [ -f scripts/install_sims.sh ]; then
  bash scripts/install_sims.sh
fi
python -m pytest -q "$@"
