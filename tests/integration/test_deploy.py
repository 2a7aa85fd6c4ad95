"""Deployment as shipped (docs/operations.md): `make install` lays out what
deploy/tablecart.service expects, `systemd-analyze verify` accepts the unit as
installed, the binary starts with the unit's own command line (jwt, an explicit
menu and web folder, the state folder as working directory), and the nginx
site deploy/nginx.conf, installed beside Debian's default site, serves the
diners' page, SSE and WebSocket over TLS with a self-signed certificate."""

import asyncio
import json
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import requests
import websockets

from nginx_support import (SERVER_NAME, install_site, make_cert, nginx_test, running_site,
                           stock_layout)
from support import (BIN, IO_TIMEOUT, MENU_FILE, REPO, SCALE, RawConn, envelope, free_port,
                     http_request, wait_until)

SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
SECRET = "s" * 40


def unit_settings(text):
    """The [Service] lines of a unit as (key, value) pairs, continuations joined."""
    text = re.sub(r"\\\n\s*", " ", text)
    section, out = None, []
    for ln in text.splitlines():
        ln = ln.strip()
        if not ln or ln.startswith("#"):
            continue
        if ln.startswith("["):
            section = ln
            continue
        if section == "[Service]":
            k, _, v = ln.partition("=")
            out.append((k, v))
    return out


def make_install(dest, *args):
    """`make install` of the binary under test (the file as built: make builds
    nothing here) into dest."""
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "install",
                           "INSTALL_BIN=%s" % Path(BIN).resolve(), "DESTDIR=%s" % dest]
                          + list(args), capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`make install DESTDIR=...` with the default PREFIX, once for the module."""
    dest = tmp_path_factory.mktemp("destdir")
    p = make_install(dest)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    return dest


def verify_unit(dest, unit_dir):
    """systemd-analyze verify on the unit as installed under dest (the root
    also gets the distribution's targets the unit refers to)."""
    shutil.copytree("/usr/lib/systemd/system", dest / "usr/lib/systemd/system",
                    dirs_exist_ok=True, symlinks=True)
    assert (dest / unit_dir / "tablecart.service").is_file()
    p = subprocess.run([SYSTEMD_ANALYZE, "verify", "--root=%s" % dest, "tablecart.service"],
                       capture_output=True, timeout=60)
    # verify exits 0 on a mere warning (an unknown key): no output at all is the bar
    assert p.returncode == 0 and p.stdout == b"" and p.stderr == b"", p.stderr.decode()
    p = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", "--root=%s" % dest,
                        "tablecart.service"], capture_output=True, timeout=60)
    m = re.search(r"Overall exposure level for tablecart\.service: ([0-9.]+)", p.stdout.decode())
    assert m and float(m.group(1)) <= 2.0, p.stdout.decode()[-2000:]


def start_installed(cmd, cwd, env):
    """Starts an installed binary's serve command line (listening on 127.0.0.1:0) in cwd;
    returns the process and its base URL."""
    proc = subprocess.Popen(cmd, cwd=str(cwd), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    m = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)\n", line)
    if not m:
        proc.kill()
        out, err = proc.communicate(timeout=10 * SCALE)
        pytest.fail("no listening line: %r %s" % (line, err.decode()))
    return proc, "http://127.0.0.1:%s" % m.group(1)


def test_make_install_lays_out_what_the_unit_expects(installed):
    unit = (installed / "usr/local/lib/systemd/system/tablecart.service").read_text()
    settings = unit_settings(unit)
    keys = dict(settings)
    exec_start = shlex.split(keys["ExecStart"])
    assert exec_start[:2] == ["/usr/local/bin/tablecart", "serve"]
    assert (installed / "usr/local/bin/tablecart").stat().st_mode & 0o111
    args = dict(zip(exec_start[2::2], exec_start[3::2]))
    assert args["--auth"] == "jwt"
    assert args["--jwt-secret-file"] == "${CREDENTIALS_DIRECTORY}/jwt-secret"
    assert keys["LoadCredential"] == "jwt-secret:/etc/tablecart/jwt-secret"
    assert args["--menu"] == "/etc/tablecart/menu.json"  # never the demo unless asked
    assert args["--web"] == "/usr/local/share/tablecart/web"
    assert (installed / "usr/local/share/tablecart/web/index.html").is_file()
    assert args["--store"] == "sqlite:/var/lib/tablecart/tablecart.db"
    assert keys["StateDirectory"] == "tablecart"
    assert keys["WorkingDirectory"] == "/var/lib/tablecart"
    assert args["--listen"] == "127.0.0.1:8080"
    for k, v in [("DynamicUser", "yes"), ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                 ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("Restart", "on-failure"),
                 ("KillSignal", "SIGTERM")]:
        assert keys[k] == v, (k, keys.get(k))
    assert int(keys["LimitNOFILE"]) >= 20000
    # the shutdown grace (5 s) fits in the stop timeout
    assert int(keys["TimeoutStopSec"]) > 5
    assert (installed / "usr/local/share/tablecart/nginx-site.conf").read_bytes() == \
        (REPO / "deploy/nginx.conf").read_bytes()
    verify_unit(installed, "usr/local/lib/systemd/system")


def test_make_install_with_another_prefix_rewrites_the_unit(tmp_path):
    dest = tmp_path / "dest"
    p = make_install(dest, "PREFIX=/opt/tablecart")
    assert p.returncode == 0, p.stderr.decode()
    unit = (dest / "opt/tablecart/lib/systemd/system/tablecart.service").read_text()
    assert not [ln for ln in unit.splitlines() if "/usr/local" in ln and not ln.startswith("#")]
    assert "ExecStart=/opt/tablecart/bin/tablecart serve" in unit
    assert "--web /opt/tablecart/share/tablecart/web" in unit
    # systemd reads units from /usr/lib/systemd/system: link the unit there for verify
    (dest / "etc/systemd/system").mkdir(parents=True)
    (dest / "etc/systemd/system/tablecart.service").symlink_to(
        "../../../opt/tablecart/lib/systemd/system/tablecart.service")
    verify_unit(dest, "opt/tablecart/lib/systemd/system")


def test_installed_binary_runs_with_the_units_command_line(installed, tmp_path):
    """What systemd would run, with its paths mapped into tmp_path: it starts,
    serves the installed page, wants tokens, and imports the given menu, not
    the demo."""
    unit = (installed / "usr/local/lib/systemd/system/tablecart.service").read_text()
    cmd = shlex.split(dict(unit_settings(unit))["ExecStart"])
    state, etc, creds = tmp_path / "state", tmp_path / "etc", tmp_path / "creds"
    for d in (state, etc, creds):
        d.mkdir()
    shutil.copy(MENU_FILE, etc / "menu.json")
    (creds / "jwt-secret").write_text(SECRET + "\n")
    mapped = []
    for a in cmd:
        a = a.replace("${CREDENTIALS_DIRECTORY}", str(creds))
        a = a.replace("/var/lib/tablecart", str(state)).replace("/etc/tablecart", str(etc))
        a = a.replace("/usr/local/", "%s/usr/local/" % installed)
        mapped.append("127.0.0.1:0" if a == "127.0.0.1:8080" else a)
    env = {"PATH": "/usr/bin:/bin"}
    proc, base = start_installed(mapped, state, env)
    try:
        page = requests.get(base + "/?table=123", timeout=IO_TIMEOUT)
        assert page.status_code == 200 and "<title>扫码点餐</title>" in page.text
        assert requests.get(base + "/api/store/order/cart/123", timeout=IO_TIMEOUT).status_code \
            == 401
        tok = subprocess.run([mapped[0], "token", "--user", "100", "--jwt-secret-file",
                              str(creds / "jwt-secret")], capture_output=True, env=env, timeout=10)
        assert tok.returncode == 0, tok.stderr
        auth = {"Authorization": "Bearer " + tok.stdout.decode().strip()}
        menu = json.loads(MENU_FILE.read_text())
        first = menu["stores"][0]["tables"][0]["tableId"]
        r = requests.get(base + "/api/store/order/menu/%d" % first, headers=auth,
                         timeout=IO_TIMEOUT)
        assert r.status_code == 200, r.text
        # the demo's table 201 is not in the test menu: the demo was not imported
        assert 201 not in [t["tableId"] for s in menu["stores"] for t in s["tables"]]
        assert requests.get(base + "/api/store/order/menu/201", headers=auth,
                            timeout=IO_TIMEOUT).status_code == 404
        assert (state / "tablecart.db").is_file()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10 * SCALE)
    assert proc.returncode == 0, err.decode()
    assert "--auth none" not in err.decode()
    assert "demo menu" not in err.decode()


def test_installed_binary_finds_its_installed_page_and_demo_menu(installed, tmp_path):
    """Started by hand, without --web or --menu, in an empty folder: the installed binary
    serves PREFIX/share/tablecart/web and seeds the empty store with
    PREFIX/share/tablecart/data/demo-menu.json (it looked only beside itself and up to three
    folders above: 'no web/ folder' and 'no demo menu found: serving no tables')."""
    env = {"PATH": "/usr/bin:/bin"}
    proc, base = start_installed([str(installed / "usr/local/bin/tablecart"), "serve",
                                  "--listen", "127.0.0.1:0", "--store", "sqlite:t.db"],
                                 tmp_path, env)
    try:
        page = requests.get(base + "/?table=123", timeout=IO_TIMEOUT)
        assert page.status_code == 200
        assert page.content == (installed / "usr/local/share/tablecart/web/index.html").read_bytes()
        r = requests.get(base + "/api/store/order/menu/123", timeout=IO_TIMEOUT)
        assert r.status_code == 200 and r.json()["data"]["table"]["tableNumber"] == "A01", r.text
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10 * SCALE)
    assert proc.returncode == 0, err.decode()
    assert "no demo menu found" not in err.decode() and "no web/ folder" not in err.decode()


# ---------------------------------------------------------------------------
# nginx over TLS
# ---------------------------------------------------------------------------


class TLS:
    """Connections to nginx's TLS port as clients of https://cart.example.com."""

    def __init__(self, port, cert):
        self.port = port
        self.ctx = ssl.create_default_context(cafile=str(cert))

    def conn(self, source="127.0.0.1"):
        """A RawConn over TLS (SNI and the certificate checked for SERVER_NAME), from the
        address source."""
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=IO_TIMEOUT,
                                       source_address=(source, 0))
        c = RawConn.__new__(RawConn)
        c.sock = self.ctx.wrap_socket(raw, server_hostname=SERVER_NAME)
        c.buf = b""
        return c

    def request(self, method, path, body=None, source="127.0.0.1"):
        c = self.conn(source)
        try:
            data = json.dumps(body).encode() if body is not None else b""
            headers = {"Connection": "close"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            c.send(http_request(method, path, headers, data, host=SERVER_NAME))
            return c.read_response()
        finally:
            c.close()


@pytest.fixture
def proxied(start_server):
    """A server that believes X-Forwarded-For from nginx, as the unit runs it."""
    return start_server("--trusted-proxy", "127.0.0.1")


@pytest.fixture
def tls_site(proxied, tmp_path):
    """The shipped site, TLS on, beside the default site, in front of `proxied`."""
    server = proxied
    cert = make_cert(tmp_path)

    def layout(d):
        http_port, https_port = free_port(), free_port()
        root = stock_layout(d, http_port)
        install_site(root, [server.port], http_port, https_port=https_port, cert=cert)
        out = nginx_test(root)
        assert "syntax is ok" in out and "test is successful" in out, out
        return root, (https_port, http_port), (http_port, TLS(https_port, cert[0]))

    with running_site(tmp_path / "site", layout) as site:
        yield site


def test_http_redirects_to_https_and_the_default_site_stays(tls_site):
    http_port, _ = tls_site
    c = RawConn(http_port)
    try:
        c.send(http_request("GET", "/?table=123", host=SERVER_NAME))
        r = c.read_response()
        assert r.status == 301
        assert r.header("Location") == "https://%s/?table=123" % SERVER_NAME
        # another name still reaches Debian's default site, untouched
        c.send(http_request("GET", "/", host="other.example"))
        r = c.read_response()
        assert r.status != 301 and r.header("Location") is None
    finally:
        c.close()


def test_diners_page_and_api_over_tls(tls_site):
    _, tls = tls_site
    r = tls.request("GET", "/?table=123")
    assert r.status == 200 and "<title>扫码点餐</title>" in r.body.decode()
    assert tls.request("GET", "/app.js").status == 200
    r = tls.request("POST", "/api/store/order/cart/add",
                    {"tableId": 123, "cuisineId": 1001, "quantity": 2})
    assert r.status == 200 and r.json()["data"]["totalQuantity"] == 2


def test_metrics_only_for_the_machine_itself(tls_site):
    """The site lets only the machine read /metrics (docs/operations.md), under every spelling
    tablecart routes to it (found in review: `location = /metrics` let `/metrics/` through)."""
    _, tls = tls_site
    assert tls.request("GET", "/metrics").status == 200
    for path in ("/metrics", "/metrics/", "/metrics/?a=1", "/%6detrics/"):
        assert tls.request("GET", path, source="127.0.0.2").status == 403, path
    assert tls.request("GET", "/healthz", source="127.0.0.2").status == 200


def _read_until(conn, needle, deadline):
    while needle not in conn.buf:
        if time.monotonic() > deadline:
            raise AssertionError("no %r within the deadline; got %r" % (needle, conn.buf[-300:]))
        conn._fill()


def test_sse_over_tls_streams_each_change(tls_site):
    _, tls = tls_site
    c = tls.conn()
    try:
        c.send(http_request("GET", "/api/store/order/sse/124", {"Accept": "text/event-stream"},
                            host=SERVER_NAME))
        deadline = time.monotonic() + IO_TIMEOUT
        _read_until(c, b"\r\n\r\n", deadline)
        head = c.buf.split(b"\r\n\r\n", 1)[0].decode()
        assert head.startswith("HTTP/1.1 200") and "text/event-stream" in head, head
        _read_until(c, b"id:0\n", deadline)
        for version in (1, 2):
            r = tls.request("POST", "/api/store/order/cart/add",
                            {"tableId": 124, "cuisineId": 1001, "quantity": 1})
            assert r.status == 200
            # each change arrives through nginx before the next is made: nothing buffered
            _read_until(c, b"id:%d\n" % version, time.monotonic() + IO_TIMEOUT)
    finally:
        c.close()


def test_wss_both_ways(tls_site, proxied):
    _, tls = tls_site
    server = proxied

    async def recv(ws):
        # the next message of the seed's kinds: presence (beyond the seed) is skipped
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), IO_TIMEOUT))
            if m["type"] != "presence":
                return m

    async def run():
        url = "wss://%s:%d/ws/cart/124" % (SERVER_NAME, tls.port)
        async with websockets.connect(url, ssl=tls.ctx, host="127.0.0.1", port=tls.port,
                                      server_hostname=SERVER_NAME, open_timeout=IO_TIMEOUT,
                                      ping_interval=None) as ws:
            assert (await recv(ws))["type"] == "connected"
            assert (await recv(ws))["type"] == "cart_update"
            await ws.send(json.dumps({"type": "add_item",
                                      "data": {"cuisineId": 1001, "quantity": 3}}))
            mine = await recv(ws)
            assert (mine["type"], mine["data"]["totalQuantity"]) == ("add_item_success", 3)
            # a change made elsewhere is pushed through the proxy
            envelope(server.add(124, 1001, 1))
            pushed = await recv(ws)
            assert (pushed["type"], pushed["data"]["totalQuantity"]) == ("cart_update", 4)

    asyncio.run(run())


def test_forwarded_for_reaches_the_server_from_every_location(tls_site, proxied):
    """X-Forwarded-For passes through the API, SSE and WebSocket locations:
    tablecart (--trusted-proxy 127.0.0.1) logs the client it names."""
    _, tls = tls_site
    client = "203.0.113.9"
    xff = {"X-Forwarded-For": client, "Connection": "close"}
    for path, extra in [("/api/store/order/cart/123", {}),
                        ("/api/store/order/sse/123", {}),
                        ("/ws/cart/123", {"Upgrade": "websocket", "Connection": "Upgrade",
                                          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                          "Sec-WebSocket-Version": "13"})]:
        c = tls.conn()
        try:
            c.send(http_request("GET", path, dict(xff, **extra), host=SERVER_NAME))
            _read_until(c, b"\r\n\r\n", time.monotonic() + IO_TIMEOUT)
            assert c.buf.split(b" ", 2)[1] in (b"200", b"101"), c.buf[:200]
        finally:
            c.close()
        wait_until(lambda: "access %s GET %s " % (client, path) in proxied.stderr(), IO_TIMEOUT,
                   "the access log line of %s from %s" % (path, client))
