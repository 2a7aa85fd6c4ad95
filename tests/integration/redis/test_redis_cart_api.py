"""The whole cart API suite (../test_cart_api.py: envelope, exact values,
versions, ETag, If-Match, Idempotency-Key, the menu endpoint) on the Redis
store: this folder's conftest gives `server` a Redis of the test's own."""

from test_cart_api import *  # noqa: F401,F403 -- collected again here, on Redis
