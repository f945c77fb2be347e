"""Fixtures that deploy the test stacks on the local cloud, once per module (a deploy costs seconds)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from cd4ml.localcloud import LocalCloud

STACKS = Path(__file__).parent / "stacks"
CORE = STACKS / "core" / "template.yaml"


@pytest.fixture(scope="module")
def core_cloud() -> Iterator[LocalCloud]:
    # Asynchronous retries are compressed further than the local default so that failure paths finish quickly.
    with LocalCloud.deployed(CORE, async_retry_delays_s=(0.1, 0.2)) as cloud:
        yield cloud


@pytest.fixture(scope="session")
def core_template() -> Path:
    return CORE
