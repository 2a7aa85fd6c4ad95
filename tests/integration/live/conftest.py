"""Fixtures of the live suite (SSE and WebSocket); the clients are in
live_support.py, the server fixtures (start_server, server) come from the
parent conftest.py."""

import pytest


class Clients:
    """Remembers every client a test opens and closes them before the server
    is stopped, so that a shutdown never waits for a forgotten WebSocket."""

    def __init__(self):
        self.items = []

    def __call__(self, client):
        self.items.append(client)
        return client

    def close_all(self):
        for c in reversed(self.items):
            try:
                c.close()
            except Exception:  # a client the test closed or broke already
                pass
        self.items = []


@pytest.fixture
def clients(start_server):
    """clients(c) registers c (anything with close()); all are closed at the
    end of the test, before the servers (start_server is set up first, so it
    is torn down last)."""
    c = Clients()
    yield c
    c.close_all()
