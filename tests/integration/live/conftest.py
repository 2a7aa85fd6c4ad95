"""Fixtures of the live suite (SSE and WebSocket); the clients are in
live_support.py, the server fixtures (start_server, server) come from the
parent conftest.py."""

import pytest

from live_support import Clients


@pytest.fixture
def clients(start_server):
    """clients(c) registers c (anything with close()); all are closed at the
    end of the test, before the servers (start_server is set up first, so it
    is torn down last)."""
    c = Clients()
    yield c
    c.close_all()
