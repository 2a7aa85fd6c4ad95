"""Helpers for the integration suite: start the real tablecart binary and talk to it.

The binary comes from $TABLECART_BIN (the Makefile sets it); $TABLECART_ASAN=1
means it is the ASan+UBSan build, which is slower: every deadline is scaled by
SCALE. Nothing here sleeps to wait for something: waits poll a condition with
a deadline or block on a socket with a timeout.
"""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
MENU_FILE = HERE / "menu.json"
# A launcher (ServerFactory(launcher=...)): the server without openat2(2), as on Linux before 5.6.
NO_OPENAT2 = ("/usr/bin/python3", str(HERE / "no_openat2.py"))
# A launcher for UNITFILE PROGRAM [ARG...]: the program under the seccomp filter (and the user)
# the unit's [Service] lines ask of systemd (unit_filter.py).
UNIT_FILTER = ("/usr/bin/python3", str(HERE / "unit_filter.py"))

BIN = os.environ.get("TABLECART_BIN") or str(REPO / "build" / "tablecart")
ASAN = os.environ.get("TABLECART_ASAN", "") not in ("", "0")
SCALE = 5 if ASAN else 1

START_TIMEOUT = 10 * SCALE  # seconds for "listening on" to appear
STOP_TIMEOUT = 10 * SCALE  # seconds for a SIGTERM'd server to exit
IO_TIMEOUT = 5 * SCALE  # socket / request timeout

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer",
                     "ERROR: UndefinedBehaviorSanitizer")

OK_MESSAGE = "操作成功"

# ---------------------------------------------------------------------------
# the test menu (tests/integration/menu.json), loaded once for expected values
# ---------------------------------------------------------------------------

MENU = json.loads(MENU_FILE.read_text(encoding="utf-8"), parse_float=Decimal)
DISHES = {}  # cuisineId -> dict (with storeId and available filled in)
TABLES = {}  # tableId -> dict(tableId, tableNumber, storeId)
for _st in MENU["stores"]:
    for _t in _st["tables"]:
        TABLES[_t["tableId"]] = {"tableId": _t["tableId"], "tableNumber": _t["tableNumber"],
                                 "storeId": _st["storeId"]}
    for _c in _st["cuisines"]:
        DISHES[_c["cuisineId"]] = {
            "cuisineId": _c["cuisineId"],
            "storeId": _st["storeId"],
            "cuisineName": _c["cuisineName"],
            "cuisineType": _c["cuisineType"],
            "cuisineImage": _c.get("cuisineImage"),
            "unitPrice": Decimal(_c["unitPrice"]).quantize(Decimal("0.01")),
            "available": _c.get("available", True),
        }

CART_KEYS = ["tableId", "tableNumber", "storeId", "items", "totalAmount", "totalQuantity",
             "version", "updatedAt"]
ITEM_KEYS = ["cuisineId", "cuisineName", "cuisineType", "cuisineImage", "unitPrice", "quantity",
             "subtotalAmount", "addUserId", "addUserPhone", "remark"]
MENU_DISH_KEYS = ["cuisineId", "storeId", "cuisineName", "cuisineType", "cuisineImage",
                  "unitPrice", "available"]
ENVELOPE_KEYS = ["code", "success", "message", "data"]

# Every answer's Date header (RFC 9110 §6.6.1), an IMF-fixdate.
HTTP_DATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
                       r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                       r"\d\d:\d\d:\d\d GMT")


def strip_date(head):
    """head (the bytes of an answer's head) without its one Date line, which
    must be right after Server and an IMF-fixdate of the last ten seconds."""
    from email.utils import parsedate_to_datetime
    m = re.search(rb"\r\nServer: tablecart\r\nDate: ([^\r]*)\r\n", head)
    assert m and HTTP_DATE.fullmatch(m.group(1).decode()), head
    assert abs(time.time() - parsedate_to_datetime(m.group(1).decode()).timestamp()) < 10, head
    assert head.count(b"\r\nDate: ") == 1, head
    return head[:m.start(1) - len(b"Date: ")] + head[m.end():]

MONEY_FIELDS = ("unitPrice", "subtotalAmount", "totalAmount")


def cents(d):
    return Decimal(d).quantize(Decimal("0.01"))


def expected_item(cid, qty, user=None, phone=None, remark=None, shares=None, remark_user="same"):
    """A cart line as the server writes it; shares default to all the first
    adder's, remarkUserId to whoever added when there is a remark."""
    d = DISHES[cid]
    if remark_user == "same":
        remark_user = user if remark else None
    return {
        "cuisineId": cid,
        "cuisineName": d["cuisineName"],
        "cuisineType": d["cuisineType"],
        "cuisineImage": d["cuisineImage"],
        "unitPrice": d["unitPrice"],
        "quantity": qty,
        "subtotalAmount": cents(d["unitPrice"] * qty),
        "addUserId": user,
        "addUserPhone": phone,
        "remark": remark,
        "shares": shares if shares is not None else [{"userId": user, "quantity": qty}],
        "remarkUserId": remark_user,
    }


def parse_json(raw):
    """Parses JSON text with money kept exact (Decimal)."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    return json.loads(raw, parse_float=Decimal)


def assert_money_two_decimals(raw):
    """Every money field in the raw body is a number with exactly two decimals."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    for name in MONEY_FIELDS:
        for m in re.finditer(r'"%s"\s*:\s*([^,}\]]*)' % name, raw):
            assert re.fullmatch(r"-?(0|[1-9][0-9]*)\.[0-9]{2}", m.group(1)), \
                "money field %s printed as %r in %s" % (name, m.group(1), raw[:300])


def assert_cart_shape(data, raw=None):
    """Key names and order of a cart DTO (SPEC §1), totals consistent."""
    assert list(data.keys())[:len(CART_KEYS)] == CART_KEYS, list(data.keys())
    for it in data["items"]:
        assert list(it.keys())[:len(ITEM_KEYS)] == ITEM_KEYS, list(it.keys())
        assert it["subtotalAmount"] == cents(it["unitPrice"] * it["quantity"])
    assert data["totalAmount"] == cents(sum((i["subtotalAmount"] for i in data["items"]), Decimal(0)))
    assert data["totalQuantity"] == sum(i["quantity"] for i in data["items"])
    if raw is not None:
        assert_money_two_decimals(raw)


def cart_view(data):
    """The parts of a cart a test predicts exactly (everything but updatedAt)."""
    return {k: v for k, v in data.items() if k != "updatedAt"}


def expected_cart(table, items, version):
    t = TABLES[table]
    return {
        "tableId": table,
        "tableNumber": t["tableNumber"],
        "storeId": t["storeId"],
        "items": items,
        "totalAmount": cents(sum((i["subtotalAmount"] for i in items), Decimal(0))),
        "totalQuantity": sum(i["quantity"] for i in items),
        "version": version,
    }


# ---------------------------------------------------------------------------
# responses
# ---------------------------------------------------------------------------


def envelope(resp, status=200):
    """Checks the envelope of a requests.Response and returns data (exact money)."""
    assert resp.status_code == status, "expected %d, got %d: %s" % (status, resp.status_code,
                                                                     resp.text[:500])
    ct = resp.headers.get("Content-Type", "")
    assert ct.lower().startswith("application/json"), ct
    body = parse_json(resp.content)
    assert list(body.keys()) == ENVELOPE_KEYS, list(body.keys())
    assert body["code"] == status
    if status == 200:
        assert body["success"] is True
        assert body["message"] == OK_MESSAGE
    else:
        assert body["success"] is False
        assert body["data"] is None
        assert isinstance(body["message"], str) and body["message"].strip(), body
        assert body["message"] != OK_MESSAGE
    return body["data"]


def raw_envelope(resp, status):
    """The envelope of a RawResponse with this status, as a dict (exact money)."""
    assert resp.status == status, resp
    assert (resp.header("content-type") or "").lower().startswith("application/json")
    body = parse_json(resp.body)
    assert body["code"] == status
    assert body["success"] is (status == 200)
    if status != 200:
        assert body["data"] is None and body["message"]
    return body


def error(resp, status, *words):
    """Asserts an error envelope with this status whose message names every word."""
    assert resp.status_code == status, "expected %d, got %d: %s" % (status, resp.status_code,
                                                                     resp.text[:500])
    envelope(resp, status)
    msg = resp.json()["message"]
    for w in words:
        assert w.lower() in msg.lower(), "message %r does not name %r" % (msg, w)
    return msg


# ---------------------------------------------------------------------------
# raw HTTP over a socket
# ---------------------------------------------------------------------------


class RawResponse:
    def __init__(self, version, status, reason, headers, body):
        self.version = version
        self.status = status
        self.reason = reason
        self.header_list = headers
        self.headers = {}
        for k, v in headers:
            self.headers.setdefault(k.lower(), v)
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return parse_json(self.body)

    def __repr__(self):
        return "RawResponse(%d %s, %r)" % (self.status, self.reason, self.body[:200])


class Closed(Exception):
    pass


class RawConn:
    """A plain TCP connection with an HTTP/1.x response reader that keeps any
    extra bytes for the next response (pipelining)."""

    def __init__(self, port, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise Closed("connection closed with %d buffered bytes" % len(self.buf))
        self.buf += chunk

    def read_response(self, head_only=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"(HTTP/1\.[01]) (\d{3})(?: (.*))?$", lines[0])
        assert m, "bad status line %r" % lines[0]
        headers = []
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers.append((k.strip(), v.strip()))
        resp = RawResponse(m.group(1), int(m.group(2)), m.group(3) or "", headers, b"")
        status = resp.status
        if head_only or status in (204, 304) or 100 <= status < 200:
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        cl = resp.header("content-length")
        if "chunked" in te:
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._fill()
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    break
            resp.body = body
        elif cl is not None:
            n = int(cl)
            while len(self.buf) < n:
                self._fill()
            resp.body, self.buf = self.buf[:n], self.buf[n:]
        else:  # delimited by close
            while True:
                try:
                    self._fill()
                except Closed:
                    break
            resp.body, self.buf = self.buf, b""
        return resp

    def wait_closed(self, timeout=IO_TIMEOUT):
        """Blocks until the peer closes (recv returns b'' or a reset). Returns
        the bytes that arrived first. Fails on timeout."""
        self.sock.settimeout(timeout)
        got = self.buf
        self.buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return got
            except socket.timeout:
                raise AssertionError("connection still open after %.1fs (got %r)" % (timeout, got[:200]))
            if not chunk:
                return got
            got += chunk


# The Accept-Language the helpers send unless told otherwise: the English
# (developer) texts most tests check. Pass Accept-Language yourself (or
# lang=None to the stream clients) to see what a diner sees.
DEV_LANG = "en"


def http_request(method, path, headers=None, body=b"", version="HTTP/1.1", host="127.0.0.1"):
    """Builds the bytes of one request."""
    hs = [("Host", host), ("Accept-Language", DEV_LANG)]
    if headers:
        hs += list(headers.items()) if isinstance(headers, dict) else list(headers)
    if body and not any(k.lower() == "content-length" for k, _ in hs):
        hs.append(("Content-Length", str(len(body))))
    head = "%s %s %s\r\n" % (method, path, version) + "".join("%s: %s\r\n" % kv for kv in hs) + "\r\n"
    return head.encode("utf-8") + body


# ---------------------------------------------------------------------------
# the server process
# ---------------------------------------------------------------------------


def race_keyed_adds(servers, key="k-race", user="7"):
    """The same keyed add (one of dish 1001 to table 123) sent at once, on its own connection, to
    each of servers (a server may repeat): the (status, body) of every answer."""
    results = []
    go = threading.Event()

    def send(srv):
        sess = requests.Session()
        go.wait(IO_TIMEOUT)
        r = sess.post(srv.api("/store/order/cart/add"), timeout=IO_TIMEOUT,
                      json={"tableId": 123, "cuisineId": 1001, "quantity": 1},
                      headers={"Idempotency-Key": key, "X-User-Id": user})
        results.append((r.status_code, r.content))
        sess.close()

    threads = [threading.Thread(target=send, args=(srv,)) for srv in servers]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(IO_TIMEOUT * 2)
    return results


def free_port():
    """A TCP port free on 127.0.0.1 right now (another process may take it before use)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout, what="condition", interval=0.02):
    """Polls cond() until it returns a true value (which is returned)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def cpus_of(pid):
    """{tid: frozenset of the CPUs that thread may run on}, for every thread of pid."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            out[int(tid)] = frozenset(os.sched_getaffinity(int(tid)))
        except ProcessLookupError:
            pass  # a thread that just ended
    return out


def shared_cpu(pid):
    """The one CPU every thread of pid is on (--share-core, src/core/cores.c), or None."""
    sets = set(cpus_of(pid).values())
    if len(sets) == 1:
        (only,) = sets
        if len(only) == 1:
            return next(iter(only))
    return None


def check_sanitizers(text):
    for marker in SANITIZER_MARKERS:
        assert marker not in text, "sanitizer report in server stderr:\n" + text[-6000:]


class Server:
    """One running `tablecart serve`."""

    def __init__(self, workdir, db, args, env, prefix, binary=None, cwd=None, launcher=()):
        self.workdir = workdir
        self.db = db
        self.args = args
        self.prefix = prefix
        self.stdout_path = workdir / ("stdout.%d" % id(self))
        self.stderr_path = workdir / ("stderr.%d" % id(self))
        cmd = list(launcher) + [binary or BIN, "serve", "--listen", "127.0.0.1:0",
                                "--store", "sqlite:%s" % db] + list(args)
        self.cmd = cmd
        full_env = dict(os.environ)
        full_env.setdefault("TABLECART_AUTH", "none")
        # Many tests send bursts of hundreds of changes to one table as one user on purpose
        # (pipelining, conflation, the 100-line limit); the change limit has tests of its own
        # (test_hostile_fairness.py), which set it.
        full_env.setdefault("TABLECART_RATE_CHANGES", "0")
        full_env.update(env or {})
        for k in [k for k, v in full_env.items() if v is None]:
            del full_env[k]  # env={"NAME": None}: not set at all
        self.env = full_env
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         env=full_env, cwd=str(cwd or workdir))
        self.stopped = False
        self.port = None
        first = self._wait_first_line()
        m = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)", first)
        assert m, "unexpected first stdout line %r" % first
        self.port = int(m.group(1))
        assert self.port > 0
        self.base = "http://127.0.0.1:%d" % self.port
        self.session = requests.Session()
        # Most tests check the developer (English) texts; tests of the diners'
        # Chinese texts send no Accept-Language (test_texts.py).
        self.session.headers["Accept-Language"] = DEV_LANG

    def _wait_first_line(self):
        def first_line():
            data = self.stdout_path.read_bytes()
            if b"\n" in data:
                return data.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r") or "<empty>"
            if self.proc.poll() is not None:
                raise AssertionError("server exited with %s before listening; stderr:\n%s"
                                     % (self.proc.returncode, self.stderr()))
            return None
        return wait_until(first_line, START_TIMEOUT, "the 'listening on' line")

    def stderr(self):
        try:
            return self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    # -- URLs and requests -------------------------------------------------
    def url(self, path):
        return self.base + path

    def api(self, path):
        return self.base + self.prefix + path

    def request(self, method, path, **kw):
        kw.setdefault("timeout", IO_TIMEOUT)
        return self.session.request(method, self.api(path), **kw)

    def get_cart(self, table=123, **kw):
        return self.request("GET", "/store/order/cart/%s" % table, **kw)

    def cart(self, table=123):
        """The current cart's data (asserts 200)."""
        r = self.get_cart(table)
        return envelope(r)

    def cart_raw(self, table=123):
        r = self.get_cart(table)
        assert r.status_code == 200, r.text
        return r.content

    def add(self, table=123, cuisine=1001, quantity=1, headers=None, params=None, **extra):
        body = {"tableId": table, "cuisineId": cuisine, "quantity": quantity}
        body.update(extra)
        return self.request("POST", "/store/order/cart/add", json=body, headers=headers,
                            params=params)

    def update(self, table=123, cuisine=1001, quantity=1, headers=None):
        return self.request("PUT", "/store/order/cart/update",
                            json={"tableId": table, "cuisineId": cuisine, "quantity": quantity},
                            headers=headers)

    def remove(self, table=123, cuisine=1001, headers=None):
        return self.request("DELETE", "/store/order/cart/remove",
                            params={"tableId": table, "cuisineId": cuisine}, headers=headers)

    def clear(self, table=123, headers=None):
        return self.request("DELETE", "/store/order/cart/clear", params={"tableId": table},
                            headers=headers)

    def raw(self, timeout=IO_TIMEOUT):
        return RawConn(self.port, timeout)

    def alive(self):
        return self.proc.poll() is None

    # -- stopping ----------------------------------------------------------
    def stop(self):
        """SIGTERM, wait, and return (exit code, stderr)."""
        if self.stopped:
            return self.proc.returncode, self.stderr()
        self.stopped = True
        self.session.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("server did not exit within %ss of SIGTERM; stderr:\n%s"
                                 % (STOP_TIMEOUT, self.stderr()[-4000:]))
        return self.proc.returncode, self.stderr()

    def stop_and_check(self):
        rc, err = self.stop()
        check_sanitizers(err)
        assert rc == 0, "server exited %s after SIGTERM; stderr:\n%s" % (rc, err[-4000:])

    def kill9(self):
        self.stopped = True
        self.session.close()
        self.proc.kill()
        self.proc.wait()
        check_sanitizers(self.stderr())


class ServerFactory:
    def __init__(self, tmp_path, launcher=()):
        """launcher: a command the server is started by (NO_OPENAT2: under a seccomp filter)."""
        self.tmp = tmp_path
        self.launcher = launcher
        self.servers = []

    def __call__(self, *args, db=None, menu=MENU_FILE, env=None, prefix="/api", binary=None,
                 cwd=None):
        """Starts a server. args: extra flags. db: a path (default a fresh
        <tmp>/t.db; pass an earlier server's .db to restart on it). menu: a
        file for --menu, or None for no --menu. binary: another copy of the
        binary; cwd: its working directory (default the test's tmp folder)."""
        # A fresh database per server: one server holds its SQLite file.
        n = len(self.servers)
        db = Path(db) if db else self.tmp / ("t.db" if n == 0 else "t%d.db" % (n + 1))
        full = []
        if menu is not None:
            full += ["--menu", str(menu)]
        full += list(args)
        s = Server(self.tmp, db, full, env, prefix, binary=binary, cwd=cwd, launcher=self.launcher)
        self.servers.append(s)
        return s

    def finish(self):
        failures = []
        for s in self.servers:
            if s.stopped and s.proc.returncode is not None and s.proc.returncode != 0 \
                    and s.proc.returncode != -signal.SIGKILL:
                failures.append("server %s exited %s:\n%s" % (s.cmd, s.proc.returncode,
                                                               s.stderr()[-3000:]))
                continue
            if s.stopped:
                check_sanitizers(s.stderr())
                continue
            if not s.alive():
                failures.append("server %s died during the test with %s:\n%s"
                                % (s.cmd, s.proc.returncode, s.stderr()[-3000:]))
                continue
            try:
                s.stop_and_check()
            except AssertionError as e:
                failures.append(str(e))
        if failures:
            pytest.fail("\n\n".join(failures), pytrace=False)


def run_cli(*args, env=None, timeout=None, cwd=None):
    """Runs the binary to completion (not serve)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([BIN] + [str(a) for a in args], capture_output=True, env=full_env,
                          timeout=timeout or 20 * SCALE, cwd=cwd, stdin=subprocess.DEVNULL)
