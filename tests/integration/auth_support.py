"""HS256 tokens made by the tests themselves (hmac + base64url, no JWT library),
and a `--auth jwt` server, for test_auth.py (SPEC §6)."""

import base64
import hashlib
import hmac
import json
import sys
import time

from support import HERE

# The live suite's SSE and WebSocket clients.
if str(HERE / "live") not in sys.path:
    sys.path.insert(0, str(HERE / "live"))

SECRET = "tablecart-integration-secret-0123456789"  # 39 bytes
OTHER_SECRET = "another-secret-of-enough-length-0123456789"

_DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(claims, secret=SECRET, alg="HS256"):
    """A JWT with these claims; alg "none" gives an unsigned one."""
    head = b64url(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = head + "." + body
    if alg == "none":
        return signing_input + "."
    mac = hmac.new(secret.encode(), signing_input.encode(), _DIGESTS[alg]).digest()
    return signing_input + "." + b64url(mac)


def decode(token):
    """(header, claims) of a token, unverified."""
    parts = token.split(".")
    assert len(parts) == 3, token
    return json.loads(unb64url(parts[0])), json.loads(unb64url(parts[1]))


def hs256_valid(token, secret=SECRET):
    head, body, sig = token.split(".")
    mac = hmac.new(secret.encode(), (head + "." + body).encode(), hashlib.sha256).digest()
    return hmac.compare_digest(b64url(mac), sig)


def token(user=100, phone=None, table=None, store=None, ttl=600, exp=None, **extra):
    claims = {"userId": user, "exp": exp if exp is not None else int(time.time()) + ttl}
    if phone is not None:
        claims["phone"] = phone
    if table is not None:
        claims["tableId"] = table
    if store is not None:
        claims["storeId"] = store
    claims.update(extra)
    return sign(claims)


def bearer(tok, **more):
    h = {"Authorization": "Bearer " + tok}
    h.update(more)
    return h


def jwt_server(start_server, *flags, secret=SECRET):
    """A `serve --auth jwt` with the secret in TABLECART_JWT_SECRET."""
    return start_server("--auth", "jwt", *flags, env={"TABLECART_JWT_SECRET": secret})
