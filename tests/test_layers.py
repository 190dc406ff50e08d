"""The test layers: subprocess tests are marked e2e, and an unmarked one cannot start train.py."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import SUBPROCESS_FIXTURES
from tests.helpers import ROOT


def test_an_unmarked_test_cannot_start_train_py() -> None:
    with pytest.raises(pytest.fail.Exception, match="is not marked e2e"):
        subprocess.run([sys.executable, str(ROOT / "train.py"), "--help"], check=False)


def test_every_test_reaching_train_py_through_a_fixture_is_marked_e2e(
    request: pytest.FixtureRequest,
) -> None:
    items = request.session.items
    through_fixtures = [i for i in items if SUBPROCESS_FIXTURES & set(i.fixturenames)]
    assert all(i.get_closest_marker("e2e") for i in through_fixtures)


def test_the_markers_are_registered(pytestconfig: pytest.Config) -> None:
    registered = " ".join(pytestconfig.getini("markers"))
    assert "e2e:" in registered and "slow:" in registered
