"""The durability suite (../test_store.py) on the Redis store: an answered
change survives kill -9 of tablecart and restarts, SIGTERM exits 0 with
nothing lost, the menu stays in the store. Restarts reuse the test's Redis."""

from test_store import *  # noqa: F401,F403 -- collected again here, on Redis
# (One server per SQLite file is SQLite's rule, tested in test_store_sqlite.py.)
