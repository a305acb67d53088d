"""The ``device`` fixture: every contract test runs once per driver family, against that family's real simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.devices import FAMILIES, ContractDevice, Need


@pytest.fixture(params=sorted(FAMILIES))
def device(request: pytest.FixtureRequest, tmp_path: Path, require_service: Need) -> Iterator[ContractDevice]:
    """One device of one family; its simulators are stopped (and checked to exit cleanly) afterwards."""
    under_test = FAMILIES[request.param](tmp_path, require_service)
    try:
        yield under_test
    finally:
        under_test.stop()
