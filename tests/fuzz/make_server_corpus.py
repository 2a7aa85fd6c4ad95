#!/usr/bin/python3
"""Writes the seed corpus of fuzz_server (tests/fuzz/corpus/server/): a request per route
and method, WebSocket handshakes followed by masked frames, pipelined requests, and the
hostile cases of tests/integration. Each seed is <mode byte><split byte><bytes sent>
(see fuzz_server.c). Run again after changing it; the seeds are committed."""

import base64
import hashlib
import hmac
import json
import os
import struct
from pathlib import Path

OUT = Path(__file__).resolve().parent / "corpus" / "server"
SECRET = b"fuzz-secret-0123456789abcdef0123456789"  # fuzz_server.c's
NONE, JWT, HALF, ABRUPT = 0, 1, 2, 4
NOSPLIT = None  # a byte the seed does not contain: one write

API = "/api/store/order"
ROUTES = [API + "/cart/123", API + "/cart/add", API + "/cart/update", API + "/cart/remove",
          API + "/cart/clear", API + "/menu/123", API + "/sse/123", "/ws/cart/123", "/healthz",
          "/metrics", "/", "/app.js", "/no-such-file", API + "/cart/999"]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]
BODIES = {
    "add": b'{"tableId":123,"cuisineId":1001,"quantity":2,"remark":"no peanuts"}',
    "update": b'{"tableId":123,"cuisineId":1001,"quantity":3}',
    "remove": b'{"tableId":123,"cuisineId":1001}',
    "clear": b'{"tableId":123}',
}


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(claims):
    head = b64url(b'{"alg":"HS256","typ":"JWT"}')
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(SECRET, (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64url(mac)


TOKEN = token({"userId": 100, "phone": "13800138000", "exp": 4102444800})


def req(method, path, headers=(), body=b"", version="HTTP/1.1"):
    hs = [("Host", "127.0.0.1")] + list(headers)
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in hs):
        hs.append(("Content-Length", str(len(body))))
    head = "%s %s %s\r\n" % (method, path, version) + "".join("%s: %s\r\n" % h for h in hs)
    return (head + "\r\n").encode() + body


def frame(opcode, payload, fin=True, mask=b"\x11\x22\x33\x44"):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


WS_HEAD = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
           ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]


def ws(path="/ws/cart/123", headers=(), frames=b""):
    return req("GET", path, WS_HEAD + list(headers)) + frames


def msg(obj):
    return frame(1, json.dumps(obj, separators=(",", ":")).encode())


seeds = {}


def seed(name, data, mode=NONE, split=NOSPLIT):
    if split is NOSPLIT:
        split = next(b for b in range(256) if bytes([b]) not in data)
    seeds[name] = bytes([mode, split]) + data


for path in ROUTES:
    for m in METHODS:
        name = "%s-%s" % (m.lower(), path.strip("/").replace("/", "_") or "root")
        key = path.rsplit("/", 1)[1]
        body = BODIES.get(key, b"") if m in ("POST", "PUT", "DELETE") else b""
        hs = [("Content-Type", "application/json")] if body else []
        if m == "OPTIONS":
            hs = [("Origin", "http://example.com"), ("Access-Control-Request-Method", "POST")]
        seed(name, req(m, path, hs, body))

# The use-after-free of HEAD on the SSE route, then a request on the same connection.
seed("head-sse-then-get", req("HEAD", API + "/sse/123") + req("GET", "/healthz"))
seed("head-sse-close", req("HEAD", API + "/sse/123", [("Connection", "close")]))
seed("head-sse-abrupt", req("HEAD", API + "/sse/123"), mode=ABRUPT)
seed("sse-last-event-id", req("GET", API + "/sse/123", [("Last-Event-ID", "0"),
                                                        ("Accept", "text/event-stream")]))
seed("sse-1.0", req("GET", API + "/sse/123", version="HTTP/1.0"), mode=HALF)

# Identity, idempotency, conditional requests.
add = BODIES["add"]
seed("add-identity", req("POST", API + "/cart/add", [("Content-Type", "application/json"),
                                                      ("X-User-Id", "100"),
                                                      ("X-User-Phone", "13800138000"),
                                                      ("Idempotency-Key", "k1")], add))
seed("add-idem-twice", 2 * req("POST", API + "/cart/add", [("Content-Type", "application/json"),
                                                            ("Idempotency-Key", "k2")], add))
seed("update-if-match", req("PUT", API + "/cart/update", [("Content-Type", "application/json"),
                                                          ("If-Match", '"v1"')],
                            BODIES["update"]))
seed("get-if-none-match", req("GET", API + "/cart/123", [("If-None-Match", '"v0"')]))
seed("remove-query", req("DELETE", API + "/cart/remove?tableId=123&cuisineId=1001"))
seed("clear-query", req("DELETE", API + "/cart/clear?tableId=123&userId=7&phone=%2B86"))

# Pipelined: add, read, SSE subscription last (it takes the connection over).
seed("pipelined", req("POST", API + "/cart/add", [("Content-Type", "application/json")], add)
     + req("GET", API + "/cart/123") + req("GET", "/metrics") + req("GET", API + "/sse/123"))
seed("pipelined-split", req("GET", "/healthz") + req("GET", API + "/menu/123")
     + req("GET", API + "/cart/124"), split=ord("\n"))

# Chunked bodies, with and without trailers.
chunked = [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
seed("chunked-add", req("POST", API + "/cart/add", chunked,
                        b"%x\r\n%s\r\n0\r\n\r\n" % (len(add), add)))
seed("chunked-trailer", req("POST", API + "/cart/add", chunked,
                            b"%x\r\n%s\r\n0\r\nX-User-Id: 777\r\n\r\n" % (len(add), add)))

# WebSocket: handshake, then masked frames (a command of each kind, ping, close).
cmds = (msg({"type": "add_item", "data": {"cuisineId": 1001, "quantity": 1, "remark": "x"}})
        + msg({"type": "update_quantity", "data": {"cuisineId": 1001, "quantity": 4}})
        + msg({"type": "remove_item", "data": {"cuisineId": 1001}})
        + msg({"type": "clear_cart", "data": {}}))
seed("ws-commands", ws(frames=cmds))
seed("ws-commands-split", ws(frames=cmds), split=0x81)
# Commands with an idempotencyKey: one applied, its retry replayed, a bad key.
seed("ws-idem-commands", ws(frames=msg({"type": "add_item", "idempotencyKey": "k1",
                                        "data": {"cuisineId": 1001, "quantity": 1}})
                         + msg({"type": "add_item", "idempotencyKey": "k1",
                                "data": {"cuisineId": 1001, "quantity": 1}})
                         + msg({"type": "clear_cart", "idempotencyKey": ""})))
seed("ws-ping-close", ws(frames=frame(9, b"hi") + frame(8, struct.pack("!H", 1000) + b"bye")))
seed("ws-fragments", ws(frames=frame(1, b'{"type":"add_', fin=False)
                        + frame(0, b'item","data":{"cuisineId":1002,"quantity":1}}')))
seed("ws-bad-json", ws(frames=frame(1, b"{not json") + frame(2, b"\x00\x01")))
seed("ws-half-close", ws(frames=msg({"type": "add_item",
                                     "data": {"cuisineId": 1001, "quantity": 1}})), mode=HALF)
seed("ws-abrupt", ws(frames=msg({"type": "clear_cart", "data": {}})), mode=ABRUPT)
seed("ws-no-key", req("GET", "/ws/cart/123", WS_HEAD[:2]))
seed("ws-head", req("HEAD", "/ws/cart/123", WS_HEAD))

# --auth jwt: a good token by header and by query, a bad one.
seed("jwt-cart", req("GET", API + "/cart/123", [("Authorization", "Bearer " + TOKEN)]), mode=JWT)
seed("jwt-sse-query", req("GET", API + "/sse/123?token=" + TOKEN), mode=JWT)
seed("jwt-ws-query", ws("/ws/cart/123?token=" + TOKEN, frames=cmds), mode=JWT)
seed("jwt-add", req("POST", API + "/cart/add", [("Content-Type", "application/json"),
                                                ("Authorization", "Bearer " + TOKEN)], add),
     mode=JWT)
seed("jwt-bad", req("GET", API + "/cart/123", [("Authorization", "Bearer a.b.c")]), mode=JWT)

# Hostile heads.
seed("version-9.9", req("GET", "/healthz", version="HTTP/9.9"))
seed("query-bad-escape", req("GET", API + "/cart/123?tableId=%zz"))
seed("dup-key", req("POST", API + "/cart/add", [("Content-Type", "application/json")],
                    b'{"tableId":123,"tableId":124,"cuisineId":1001,"quantity":1}'))
seed("partial-head", b"GET /healthz HTTP/1.1\r\nHost: x\r\n", mode=HALF)
seed("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")

OUT.mkdir(parents=True, exist_ok=True)
for old in OUT.iterdir():
    old.unlink()
for name, data in sorted(seeds.items()):
    (OUT / name).write_bytes(data)
print("%d seeds in %s" % (len(seeds), os.path.relpath(OUT)))
