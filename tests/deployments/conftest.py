from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PrefectServer
from tests.harness.webhooks import Receiver, run_receiver


@pytest.fixture
def receiver(prefect_server: PrefectServer, tmp_path: Path) -> Iterator[Receiver]:
    """The webhook receiver on 127.0.0.1, sending events to the session's Prefect server."""
    yield from run_receiver(prefect_server.api_url, tmp_path)
