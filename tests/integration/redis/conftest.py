"""Fixtures of the Redis suite (SPEC §7): every test gets its own real
redis-server (never a system one) with AOF fsync on every write, and
tablecart servers started with --store redis://127.0.0.1:PORT.

The parent conftest's start_server / server fixtures are overridden here, so
suites written for the SQLite store (test_cart_api.py, test_store.py) run
unchanged on Redis (test_redis_cart_api.py, test_redis_store.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "live"))  # live_support

from live_support import Clients  # noqa: E402
from redis_support import RedisServer, RedisServerFactory  # noqa: E402


@pytest.fixture
def redis(tmp_path):
    r = RedisServer(tmp_path)
    yield r
    if r.proc.poll() is None:
        r.resume()  # a test that failed while it was paused
        r.kill9()


@pytest.fixture
def start_server(tmp_path, redis):
    """start_server(*flags, menu=MENU_FILE, env=None, prefix='/api', redis=None):
    a tablecart on the test's Redis (or on `redis`)."""
    f = RedisServerFactory(tmp_path, redis)
    yield f
    f.finish()


@pytest.fixture
def server(start_server):
    return start_server()


@pytest.fixture
def two(start_server):
    """Two instances on one Redis (the second without --menu: it is in Redis)."""
    a = start_server()
    b = start_server(menu=None)
    return a, b


@pytest.fixture
def clients(start_server):
    c = Clients()
    yield c
    c.close_all()
