"""pytest set-up for the RTL tests: every test that takes `sim` runs once per simulator (Icarus and
Verilator) and is skipped, with the reason and how to install, only when that simulator is absent."""
import pytest

from lowbit.verify import SIMULATORS, available_simulators

_AVAILABLE = available_simulators()


@pytest.fixture(params=SIMULATORS)
def sim(request):
    reason = _AVAILABLE[request.param]
    if reason:
        pytest.skip(f"{request.param} not available: {reason}")
    return request.param
