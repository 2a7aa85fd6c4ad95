"""pytest fixtures for the integration suite; the helpers live in support.py."""

import pytest

from support import ServerFactory


@pytest.fixture
def start_server(tmp_path):
    """Factory: start_server(*flags, db=None, menu=MENU_FILE, env=None, prefix='/api')."""
    f = ServerFactory(tmp_path)
    yield f
    f.finish()


@pytest.fixture
def server(start_server):
    """A fresh server with the test menu on an empty database."""
    return start_server()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One server for a whole module, for tests that must not change state."""
    f = ServerFactory(tmp_path_factory.mktemp("shared"))
    s = f()
    yield s
    f.finish()


