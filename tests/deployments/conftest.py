from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import PrefectServer

if TYPE_CHECKING:
    from tests.harness.webhooks import Receiver


@pytest.fixture
def receiver(prefect_server: PrefectServer, tmp_path: Path) -> Iterator[Receiver]:
    """The webhook receiver on 127.0.0.1, sending events to the session's Prefect server."""
    # Imported here, not at the top: pytest loads this file before tests/conftest.py has set
    # PREFECT_API_URL (when only this folder is run), and importing Prefect reads it once.
    from tests.harness.webhooks import run_receiver

    yield from run_receiver(prefect_server.api_url, tmp_path)
