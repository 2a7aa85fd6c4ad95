"""Clients for the live suite (SPEC §4 SSE, §5 WebSocket): a strict raw-socket
SSE reader (chunked and close-delimited), a raw WebSocket client that can also
break the protocol on purpose, a blocking wrapper around python3-websockets,
/metrics and VmRSS readers, presence readers, and a menu with many tables.

Nothing here sleeps to wait for something: every wait blocks on a socket with
a deadline or polls a condition with one (support.wait_until).
"""

import asyncio
import base64
import hashlib
import json
import os
import re
import socket
import struct
import threading
import time

import requests
import websockets

from support import DEV_LANG, IO_TIMEOUT, parse_json, wait_until

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SSE_CT = "text/event-stream;charset=UTF-8"
WS_ENVELOPE_KEYS = ["type", "message", "data", "timestamp"]


class NothingYet(AssertionError):
    """No event, frame or message arrived before the deadline (the stream is
    still open: a poller may simply try again)."""


class Closed(Exception):
    """The peer closed the connection."""


def now_ms():
    return int(time.time() * 1000)


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


def recv_some(sock, deadline):
    """Bytes from sock before deadline (monotonic): socket.timeout when none
    came, Closed on EOF or reset."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout("deadline")
    sock.settimeout(left)
    try:
        chunk = sock.recv(65536)
    except ConnectionResetError:
        chunk = b""
    if not chunk:
        raise Closed("closed")
    return chunk


# ---------------------------------------------------------------------------
# raw HTTP head
# ---------------------------------------------------------------------------


def read_head(sock, buf, deadline):
    """Reads an HTTP response head. Returns (status_line, [(k, v)], rest)."""
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise AssertionError("no response head within the deadline (got %r)" % buf[:300])
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise Closed("closed before the end of the head: %r" % buf[:300])
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers.append((k.strip(), v.strip()))
    return lines[0], headers, rest


def header_map(headers):
    out = {}
    for k, v in headers:
        out.setdefault(k.lower(), v)
    return out


def connect(port, rcvbuf=None, timeout=IO_TIMEOUT):
    """A TCP connection to the server; rcvbuf (bytes) is set before connecting
    so the window stays small."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


# ---------------------------------------------------------------------------
# SSE
# ---------------------------------------------------------------------------


class Event:
    """One SSE event as the stream spelled it (lines) and as a browser reads it."""

    def __init__(self, lines, at):
        self.lines = lines  # the raw field lines, without the blank line
        self.at = at  # time.monotonic() when it was complete
        self.event = None
        self.id = None
        self.retry = None
        data = []
        self.fields = []
        for ln in lines:
            if ln.startswith(":"):
                continue
            name, sep, value = ln.partition(":")
            if sep and value.startswith(" "):
                value = value[1:]
            self.fields.append(name)
            if name == "event":
                self.event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                self.id = value
            elif name == "retry":
                self.retry = value
        self.data_lines = data
        self.data = "\n".join(data) if data else None

    def json(self):
        return parse_json(self.data)

    def __repr__(self):
        return "Event(%r)" % (self.lines,)


class SSEStream:
    """GET /api/store/order/sse/{table} over a raw socket, read strictly.

    HTTP/1.1: the body must be well-formed chunked encoding (every chunk size
    checked) ending with 0\\r\\n\\r\\n and then the close. HTTP/1.0: the body is
    plain and ends with the close."""

    def __init__(self, port, table=123, headers=None, version="HTTP/1.1", path=None,
                 rcvbuf=None, timeout=IO_TIMEOUT, query="", keep=True, lang=DEV_LANG):
        self.keep = keep  # False: neither the raw bytes nor old events are kept
        self.port = port
        self.path = path or "/api/store/order/sse/%s%s" % (table, query)
        self.version = version
        self.sock = connect(port, rcvbuf=rcvbuf, timeout=timeout)
        self.timeout = timeout
        hs = [("Host", "127.0.0.1:%d" % port), ("Accept", "text/event-stream")]
        if lang:
            hs.append(("Accept-Language", lang))
        if headers:
            hs += list(headers.items()) if isinstance(headers, dict) else list(headers)
        req = "GET %s %s\r\n" % (self.path, version) + "".join("%s: %s\r\n" % kv for kv in hs) + "\r\n"
        self.opened_at = time.monotonic()
        self.sock.sendall(req.encode("utf-8"))
        self.raw = bytearray()  # body bytes before de-chunking (chunked) or as is
        self.text = b""  # decoded body not yet split into lines
        self.pending_lines = []
        self.events = []  # every event read so far
        self.chunk_sizes = []
        self.terminated = False  # saw 0\r\n\r\n
        self.eof = False
        self._wire = b""  # bytes after the head not yet de-chunked
        self.status_line = None
        self.headers = None

    # -- head ---------------------------------------------------------------
    def read_head(self):
        line, headers, rest = read_head(self.sock, b"", time.monotonic() + self.timeout)
        self.status_line = line
        self.header_list = headers
        self.headers = header_map(headers)
        m = re.match(r"HTTP/1\.[01] (\d{3})", line)
        assert m, "bad status line %r" % line
        self.status = int(m.group(1))
        self._wire = rest
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        return self.status

    def read_error_body(self):
        """For a non-200 answer: the Content-Length body, parsed as JSON."""
        n = int(self.headers["content-length"])
        buf = self._wire
        deadline = time.monotonic() + self.timeout
        while len(buf) < n:
            buf += self._recv(deadline)
        return buf[:n]

    # -- body ----------------------------------------------------------------
    def _recv(self, deadline):
        return recv_some(self.sock, deadline)

    def _dechunk(self):
        """Moves complete chunks from _wire to text."""
        while not self.terminated:
            if b"\r\n" not in self._wire:
                return
            size_line, rest = self._wire.split(b"\r\n", 1)
            assert re.fullmatch(rb"[0-9a-fA-F]+", size_line), "bad chunk size line %r" % size_line[:80]
            size = int(size_line, 16)
            if size == 0:
                if len(rest) < 2:
                    return
                assert rest[:2] == b"\r\n", "last chunk not followed by CRLF: %r" % rest[:20]
                assert rest[2:] == b"", "bytes after the last chunk: %r" % rest[2:80]
                self.terminated = True
                self._wire = b""
                return
            if len(rest) < size + 2:
                return
            assert rest[size:size + 2] == b"\r\n", "chunk of %d not followed by CRLF: %r" % (
                size, rest[size:size + 10])
            self.chunk_sizes.append(size)
            self.text += rest[:size]
            self._wire = rest[size + 2:]

    def _feed(self, data):
        if self.keep:
            self.raw += data
        else:
            self.raw = self.raw[-64:] + data
        if self.chunked:
            assert not self.terminated, "bytes after the last chunk: %r" % data[:80]
            self._wire += data
            self._dechunk()
        else:
            self.text += data

    def _split_lines(self):
        """Complete lines out of text (line ends: \\r\\n, \\n, \\r)."""
        while True:
            m = re.search(rb"\r\n|\n|\r", self.text)
            if not m:
                return
            if m.group(0) == b"\r" and m.end() == len(self.text):
                return  # might be the first half of \r\n
            line = self.text[:m.start()]
            self.text = self.text[m.end():]
            self.pending_lines.append(line.decode("utf-8"))

    def _take_event(self):
        while True:
            if "" in self.pending_lines:
                i = self.pending_lines.index("")
                lines, self.pending_lines = self.pending_lines[:i], self.pending_lines[i + 1:]
                if not lines:
                    continue
                ev = Event(lines, time.monotonic())
                if self.keep or len(self.events) < 2:
                    self.events.append(ev)
                return ev
            return None

    def start(self):
        """Reads the head and asserts a 200 stream. Returns self."""
        st = self.status if self.status_line is not None else self.read_head()
        assert st == 200, "SSE answered %s: %r" % (self.status_line, self._wire[:300])
        early, self._wire = self._wire, b""  # body bytes that came with the head
        self._feed(early)
        return self

    def next_event(self, timeout=IO_TIMEOUT, skip_heartbeats=False, skip_presence=True):
        """The next complete event; fails on timeout or end of stream. presence
        events (beyond the seed) are skipped unless asked for."""
        deadline = time.monotonic() + timeout
        while True:
            self._split_lines()
            ev = self._take_event()
            if ev is not None:
                if skip_heartbeats and ev.event == "heartbeat":
                    continue
                if skip_presence and ev.event == "presence":
                    continue
                return ev
            if self.terminated or self.eof:
                raise Closed("stream ended; events so far: %r" % self.events[-3:])
            try:
                self._feed(self._recv(deadline))
            except socket.timeout:
                raise NothingYet("no SSE event within %.1fs on %s (have %r, partial %r)"
                                     % (timeout, self.path, self.events[-3:], self.text[:200]))
            except Closed:
                self.eof = True

    def next_update(self, timeout=IO_TIMEOUT):
        """The next event that is not a heartbeat; asserts it is a cart_update."""
        ev = self.next_event(timeout, skip_heartbeats=True)
        assert ev.event == "cart_update", "expected cart_update, got %r" % ev
        return ev

    def read_to_end(self, timeout=IO_TIMEOUT, skip_presence=True):
        """Reads until the server closes. Returns the events read on the way
        (presence, beyond the seed, left out unless asked for). A chunked
        stream must have ended with the last chunk."""
        deadline = time.monotonic() + timeout
        got = []
        while not self.eof:
            try:
                self._feed(self._recv(deadline))
            except socket.timeout:
                raise AssertionError("stream %s still open after %.1fs (last events %r)"
                                     % (self.path, timeout, (self.events + got)[-3:]))
            except Closed:
                self.eof = True
                self.close()  # as a client does on EOF
            self._split_lines()
            while True:
                ev = self._take_event()
                if ev is None:
                    break
                if not (skip_presence and ev.event == "presence"):
                    got.append(ev)
        self.ended_at = time.monotonic()
        if self.chunked:
            assert self.terminated, "chunked stream closed without 0\\r\\n\\r\\n; tail %r" % self.raw[-60:]
        assert self.text == b"" and not self.pending_lines, \
            "stream ended inside an event: %r %r" % (self.text[:200], self.pending_lines)
        return got

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raw_get(port, path, headers=None, version="HTTP/1.1", timeout=IO_TIMEOUT):
    """One request on a fresh connection; returns (status, headers dict, body bytes)."""
    s = connect(port, timeout=timeout)
    try:
        hs = [("Host", "127.0.0.1:%d" % port), ("Accept-Language", DEV_LANG)]
        if headers:
            hs += list(headers.items()) if isinstance(headers, dict) else list(headers)
        req = "GET %s %s\r\n" % (path, version) + "".join("%s: %s\r\n" % kv for kv in hs) + "\r\n"
        s.sendall(req.encode("utf-8"))
        deadline = time.monotonic() + timeout
        line, hl, rest = read_head(s, b"", deadline)
        h = header_map(hl)
        status = int(line.split()[1])
        n = int(h.get("content-length", "0"))
        while len(rest) < n:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            c = s.recv(65536)
            if not c:
                break
            rest += c
        return status, h, rest[:n]
    finally:
        s.close()


# ---------------------------------------------------------------------------
# WebSocket over a raw socket
# ---------------------------------------------------------------------------

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def build_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, mask_key=None, length_override=None):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    n = len(payload) if length_override is None else length_override
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = mask_key if mask_key is not None else os.urandom(4)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return head + key + payload
    return head + payload


def ws_handshake_request(port, path, key=None, version="13", extra=None, omit=(), http="1.1"):
    hs = [("Host", "127.0.0.1:%d" % port), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
          ("Sec-WebSocket-Key", key if key is not None else base64.b64encode(os.urandom(16)).decode()),
          ("Sec-WebSocket-Version", version), ("Accept-Language", DEV_LANG)]
    hs = [kv for kv in hs if kv[0] not in omit]
    if extra:
        hs += list(extra.items()) if isinstance(extra, dict) else list(extra)
    return ("GET %s HTTP/%s\r\n" % (path, http) + "".join("%s: %s\r\n" % kv for kv in hs) + "\r\n").encode()


class Frame:
    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode, self.masked, self.payload = fin, rsv, opcode, masked, payload

    @property
    def close_code(self):
        assert self.opcode == OP_CLOSE
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    def __repr__(self):
        return "Frame(op=%d fin=%d len=%d %r)" % (self.opcode, self.fin, len(self.payload), self.payload[:80])


class RawWS:
    """A WebSocket client on a plain socket: every byte is ours to choose."""

    skip_presence = True  # presence messages (beyond the seed) are skipped

    def __init__(self, port, table=123, path=None, rcvbuf=None, timeout=IO_TIMEOUT, query="",
                 skip_presence=True):
        self.port = port
        self.skip_presence = skip_presence
        self.path = path or "/ws/cart/%s%s" % (table, query)
        self.sock = connect(port, rcvbuf=rcvbuf, timeout=timeout)
        self.timeout = timeout
        self.buf = b""
        self.eof = False
        self.frames = []  # every frame read
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(ws_handshake_request(port, self.path, self.key))
        line, hl, self.buf = read_head(self.sock, b"", time.monotonic() + timeout)
        self.status_line = line
        self.headers = header_map(hl)
        assert line.startswith("HTTP/1.1 101"), "handshake refused: %s %r" % (line, self.buf[:300])
        assert self.headers.get("upgrade", "").lower() == "websocket", self.headers
        assert "upgrade" in self.headers.get("connection", "").lower(), self.headers
        assert self.headers.get("sec-websocket-accept") == ws_accept(self.key), self.headers

    def send(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", **kw):
        self.sock.sendall(build_frame(opcode, payload, **kw))

    def send_text(self, text):
        if not isinstance(text, (str, bytes)):
            text = json.dumps(text, ensure_ascii=False)
        self.send_frame(OP_TEXT, text)

    def _fill(self, deadline):
        try:
            chunk = recv_some(self.sock, deadline)
        except Closed:
            self.eof = True
            raise
        self.buf += chunk

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)

    def recv_frame(self, timeout=IO_TIMEOUT):
        """The next frame from the server; asserts it is unmasked with RSV 0.
        A presence message (one text frame) is skipped unless asked for."""
        deadline = time.monotonic() + timeout
        while True:
            f = self._frame(deadline)
            if not (self.skip_presence and f.opcode == OP_TEXT and f.fin
                    and f.payload.startswith(b'{"type":"presence"')):
                return f

    def _frame(self, deadline):
        try:
            self._need(2, deadline)
            b0, b1 = self.buf[0], self.buf[1]
            n = b1 & 0x7F
            hl = 2
            if n == 126:
                self._need(4, deadline)
                n = struct.unpack("!H", self.buf[2:4])[0]
                hl = 4
            elif n == 127:
                self._need(10, deadline)
                n = struct.unpack("!Q", self.buf[2:10])[0]
                hl = 10
            masked = bool(b1 & 0x80)
            if masked:
                hl += 4
            self._need(hl + n, deadline)
        except socket.timeout:
            raise NothingYet("no WebSocket frame within the deadline on %s (buffered %r)"
                                 % (self.path, self.buf[:100]))
        payload = self.buf[hl:hl + n]
        self.buf = self.buf[hl + n:]
        f = Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, masked, payload)
        assert not masked, "server frame is masked: %r" % f
        assert f.rsv == 0, "server frame has RSV bits: %r" % f
        self.frames.append(f)
        return f

    def recv_message(self, timeout=IO_TIMEOUT, answer_pings=True):
        """The next data message (text assembled from fragments) or a close
        frame. Pings are answered (and skipped); pongs skipped."""
        deadline = time.monotonic() + timeout
        parts = []
        op = None
        while True:
            f = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if f.opcode == OP_PING:
                if answer_pings:
                    self.send_frame(OP_PONG, f.payload)
                continue
            if f.opcode == OP_PONG:
                continue
            if f.opcode == OP_CLOSE:
                return f
            if op is None:
                assert f.opcode in (OP_TEXT, OP_BINARY), "unexpected first frame %r" % f
                op = f.opcode
            else:
                assert f.opcode == OP_CONT, "expected continuation, got %r" % f
            parts.append(f.payload)
            if f.fin:
                assert op == OP_TEXT, "server sent a binary message"
                return b"".join(parts).decode("utf-8")

    def recv_json(self, timeout=IO_TIMEOUT):
        m = self.recv_message(timeout)
        assert isinstance(m, str), "expected a text message, got %r" % m
        self.last_raw = m
        return parse_json(m)

    def expect_close(self, code, timeout=IO_TIMEOUT, reply=True):
        """Reads until a close frame arrives; asserts its code, answers it,
        then waits for the server to close TCP. Data messages on the way are
        returned."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            try:
                m = self.recv_message(max(0.01, deadline - time.monotonic()))
            except Closed:
                raise AssertionError("connection closed without a close frame (expected %d); "
                                     "messages before: %r" % (code, seen))
            if isinstance(m, Frame):
                break
            seen.append(m)
        assert m.close_code == code, "close code %r, expected %d (payload %r)" % (
            m.close_code, code, m.payload)
        self.close_reason = m.payload[2:]
        if reply:
            try:
                self.send_frame(OP_CLOSE, m.payload[:2])
            except OSError:
                pass
        self.wait_eof(max(0.1, deadline - time.monotonic()))
        return seen

    def wait_eof(self, timeout=IO_TIMEOUT):
        """Blocks until the server closes TCP; returns frames that came first."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            try:
                got.append(self.recv_frame(max(0.01, deadline - time.monotonic())))
            except Closed:
                self.close()  # as a client does on EOF
                return got
            except NothingYet as e:
                raise AssertionError("connection still open %.1fs after close: %s" % (timeout, e))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------
# python3-websockets, used from blocking tests through a loop thread
# ---------------------------------------------------------------------------

_loop = None
_loop_lock = threading.Lock()


def bg_loop():
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            t = threading.Thread(target=_loop.run_forever, name="ws-loop", daemon=True)
            t.start()
        return _loop


def run_async(coro, timeout=IO_TIMEOUT):
    return asyncio.run_coroutine_threadsafe(coro, bg_loop()).result(timeout)


class WSClient:
    """A python3-websockets client with blocking calls."""

    def __init__(self, port, table=123, query="", path=None, timeout=IO_TIMEOUT, lang=DEV_LANG,
                 **kw):
        self.timeout = timeout
        if lang:
            kw.setdefault("extra_headers", {"Accept-Language": lang})
        self.url = "ws://127.0.0.1:%d%s" % (port, path or "/ws/cart/%s%s" % (table, query))
        kw.setdefault("ping_interval", None)
        kw.setdefault("max_size", 1 << 24)
        kw.setdefault("close_timeout", timeout)
        async def open_():
            return await websockets.connect(self.url, open_timeout=timeout, **kw)

        self.ws = run_async(open_(), timeout + 1)
        self.messages = []

    def recv_raw(self, timeout=None):
        timeout = timeout or self.timeout

        async def one():
            return await asyncio.wait_for(self.ws.recv(), timeout)

        try:
            m = run_async(one(), timeout + 1)
        except asyncio.TimeoutError:
            raise NothingYet("no WebSocket message within %.1fs on %s (earlier: %r)"
                                 % (timeout, self.url, self.messages[-3:]))
        assert isinstance(m, str), "binary message from the server: %r" % m[:100]
        self.messages.append(m)
        return m

    def recv(self, timeout=None, skip_presence=True):
        """The next message, parsed (money as Decimal); checks the envelope keys.
        presence messages (beyond the seed) are skipped unless asked for."""
        m = parse_json(self.recv_raw(timeout))
        while skip_presence and m.get("type") == "presence":
            m = parse_json(self.recv_raw(timeout))
        assert list(m.keys()) == WS_ENVELOPE_KEYS, "envelope keys %r" % list(m.keys())
        assert isinstance(m["timestamp"], int) and not isinstance(m["timestamp"], bool), m
        return m

    def send(self, obj):
        text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
        run_async(self.ws.send(text), self.timeout)

    def close(self, code=1000, reason=""):
        run_async(self.ws.close(code, reason), self.timeout * 2)

    @property
    def close_code(self):
        return self.ws.close_code

    def wait_closed(self, timeout=None):
        run_async(self.ws.wait_closed(), timeout or self.timeout)


# ---------------------------------------------------------------------------
# the server process from outside
# ---------------------------------------------------------------------------


def metrics(server):
    r = requests.get(server.url("/metrics"), timeout=IO_TIMEOUT)
    assert r.status_code == 200, r.text[:300]
    out = {}
    for ln in r.text.splitlines():
        if ln.startswith("#") or not ln.strip():
            continue
        name, _, value = ln.rpartition(" ")
        out[name] = float(value)
    return out


def conn_gauge(server, kind):
    """tablecart_connections of kind; "all": the sum of every kind."""
    m = metrics(server)
    if kind == "all":
        return sum(int(m['tablecart_connections{kind="%s"}' % k]) for k in ("http", "sse", "ws"))
    return int(m['tablecart_connections{kind="%s"}' % kind])


def wait_gauge(server, kind, value, timeout=IO_TIMEOUT):
    wait_until(lambda: conn_gauge(server, kind) == value, timeout,
               "tablecart_connections{kind=%r} == %d (now %d)" % (kind, value, conn_gauge(server, kind)))


def streams_open(server):
    """SSE and WebSocket streams the server has open."""
    return conn_gauge(server, "sse") + conn_gauge(server, "ws")


# ---------------------------------------------------------------------------
# presence (docs/api.md, "Presence")
# ---------------------------------------------------------------------------


def wait_out(seconds, what):
    """Lets seconds pass: for a behaviour that is about time itself (a gap
    with nobody at a table), once what it counts from has been seen."""
    until = time.monotonic() + seconds
    wait_until(lambda: time.monotonic() >= until, seconds + 5, what)


def next_presence(stream, pred):
    """The next presence object of an SSE stream for which pred is true."""
    while True:
        ev = stream.next_event(skip_heartbeats=True, skip_presence=False)
        if ev.event == "presence" and pred(ev.json()):
            return ev.json()


def seats(p):
    """A presence object's diners as (userId, seat, name), in its order."""
    return [(d["userId"], d["seat"], d["name"]) for d in p["diners"]]


def diner_stream(server, clients, user, table=123):
    """An SSE stream of user at table (closed with clients), once its presence
    shows them seated: (stream, that presence)."""
    s = clients(SSEStream(server.port, table, query="?userId=%d" % user))
    s.start()
    p = next_presence(s, lambda d: any(x["userId"] == user for x in d["diners"]))
    return s, p


def status_bytes(pid, field):
    """A size field of /proc/PID/status (VmRSS, VmData...), in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith(field + ":"):
                return int(ln.split()[1]) * 1024
    raise AssertionError("no %s for pid %d" % (field, pid))


def rss_bytes(pid):
    return status_bytes(pid, "VmRSS")


def many_tables_menu(path, n_tables, first_id=3001):
    """Writes a menu with one store, n_tables tables (ids first_id...) and a
    few dishes. Returns the table ids."""
    ids = list(range(first_id, first_id + n_tables))
    menu = {"stores": [{
        "storeId": 7, "name": "Many Tables",
        "tables": [{"tableId": t, "tableNumber": "T%04d" % (t - first_id + 1)} for t in ids],
        "cuisines": [
            {"cuisineId": 7001, "cuisineName": "饺子", "cuisineType": 1,
             "cuisineImage": "https://example.com/7001.jpg", "unitPrice": 12.50},
            {"cuisineId": 7002, "cuisineName": "米饭", "cuisineType": 1,
             "cuisineImage": "https://example.com/7002.jpg", "unitPrice": 2.00},
        ]}]}
    path.write_text(json.dumps(menu, ensure_ascii=False), encoding="utf-8")
    return ids


def raise_nofile(need):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def sigterm(server):
    """Sends SIGTERM once (the factory will not send another)."""
    import signal
    server.stopped = True
    server.session.close()
    server.proc.send_signal(signal.SIGTERM)


def unread_by_server(port, sock):
    """Bytes sock sent to the server on 127.0.0.1:port that the server has not
    read yet (its socket's receive queue, /proc/net/tcp); None when the
    server's socket is not found. On loopback what sendall returned with is in
    that queue already, so 0 means the server's read took it all."""
    local = "0100007F:%04X" % port
    remote = "0100007F:%04X" % sock.getsockname()[1]
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if p[1] == local and p[2] == remote:
                return int(p[4].split(":")[1], 16)
    return None


def wait_exit_ok(server, timeout=None):
    """Waits for a SIGTERM'd server (STOP_TIMEOUT, or timeout seconds); asserts exit status 0
    and clean sanitizers."""
    from support import STOP_TIMEOUT, check_sanitizers
    import subprocess
    timeout = timeout or STOP_TIMEOUT
    try:
        rc = server.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
        raise AssertionError("server did not exit within %ss of SIGTERM:\n%s"
                             % (timeout, server.stderr()[-3000:]))
    check_sanitizers(server.stderr())
    assert rc == 0, "exit status %s after SIGTERM:\n%s" % (rc, server.stderr()[-3000:])
    return rc


# ---------------------------------------------------------------------------
# hostile WebSocket input (tests/integration/test_hostile_memory.py and
# bench/hostile_memory.py)
# ---------------------------------------------------------------------------

ZERO_KEY = b"\0\0\0\0"  # a valid mask key that leaves bytes as they are: fast to build


def ping_flood(n, first=0):
    """n masked pings in one byte string, the i-th carrying the 4-byte
    big-endian number first + i."""
    return b"".join(b"\x89\x84" + ZERO_KEY + struct.pack("!I", i) for i in range(first, first + n))


def one_byte_fragments(text, fin=False):
    """text (bytes) as one-byte fragments: a text frame, then continuations;
    the last one carries FIN when fin is set."""
    frames = {}

    def frag(op, i):
        last = fin and i == len(text) - 1
        k = (op, text[i], last)
        if k not in frames:
            frames[k] = bytes([(0x80 if last else 0) | op, 0x81]) + ZERO_KEY + text[i:i + 1]
        return frames[k]

    return frag(OP_TEXT, 0) + b"".join(frag(OP_CONT, i) for i in range(1, len(text)))


def frame_header(opcode, length, fin=True):
    """Only the header of a masked client frame declaring length bytes."""
    return build_frame(opcode, b"", fin=fin, mask_key=ZERO_KEY, length_override=length)


def vm_data_bytes(pid):
    """VmData: the heap as allocated (brk and private mappings), touched or not."""
    return status_bytes(pid, "VmData")
