"""The durability suite (../test_store.py) on the Redis store: an answered
change survives kill -9 of tablecart and restarts, SIGTERM exits 0 with
nothing lost, the menu stays in the store. Restarts reuse the test's Redis."""

from test_store import *  # noqa: F401,F403 -- collected again here, on Redis

# One server per SQLite file is SQLite's rule: many instances share Redis
# (test_redis_instances.py), so that test is not collected here.
del test_a_second_server_on_the_same_database_refuses_to_start  # noqa: F821
