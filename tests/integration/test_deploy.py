"""Deployment as shipped (docs/operations.md): `make install` lays out what
deploy/tablecart.service expects, `systemd-analyze verify` accepts the unit as
installed, the binary starts with the unit's own command line (jwt, an explicit
menu and web folder, the state folder as working directory), and the nginx
site deploy/nginx.conf, installed beside Debian's default site, serves the
diners' page, SSE and WebSocket over TLS with a self-signed certificate."""

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests
import websockets

from nginx_support import (SERVER_NAME, install_site, make_cert, nginx_test, running_site,
                           stock_layout)
from support import (ASAN, BIN, HERE, IO_TIMEOUT, MENU_FILE, REPO, SCALE, START_TIMEOUT,
                     STOP_TIMEOUT, UNIT_FILTER, RawConn, check_sanitizers, envelope, free_port,
                     http_request, wait_until)
from unit_filter import DYNAMIC_ID, syscall_numbers, unit_settings

sys.path.insert(0, str(HERE / "live"))  # live_support
from live_support import SSEStream, WSClient  # noqa: E402

SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
SECRET = "s" * 40
UNIT = "usr/local/lib/systemd/system/tablecart.service"  # as installed, under DESTDIR


def make_install(dest, *args):
    """`make install` of the binary under test (the file as built: make builds
    nothing here) into dest."""
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "install",
                           "INSTALL_BIN=%s" % Path(BIN).resolve(), "DESTDIR=%s" % dest]
                          + list(args), capture_output=True, timeout=120)


@contextlib.contextmanager
def open_folder(prefix):
    """A scratch folder any user may enter, removed afterwards (pytest's are their owner's
    alone): the unit's service user (DynamicUser=) reaches the binary, the page and the menu in
    it, as it does under /usr/local and /etc."""
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        os.chmod(d, 0o755)
        yield Path(d)


@pytest.fixture(scope="module")
def installed():
    """`make install DESTDIR=...` with the default PREFIX, once for the module."""
    with open_folder("tablecart-destdir-") as dest:
        p = make_install(dest)
        assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
        yield dest


@pytest.fixture
def open_tmp():
    """A scratch folder of the test's own that the service user may enter (open_folder)."""
    with open_folder("tablecart-unit-") as d:
        yield d


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


def start_installed(cmd, cwd, env, stderr=None):
    """Starts an installed binary's serve command line (listening on 127.0.0.1:0) in cwd,
    its stderr to a pipe or to the file stderr; returns the process and its base URL."""
    err_file = open(stderr, "wb") if stderr else None
    try:
        proc = subprocess.Popen(cmd, cwd=str(cwd), env=env, stdout=subprocess.PIPE,
                                stderr=err_file or subprocess.PIPE, stdin=subprocess.DEVNULL)
    finally:
        if err_file:
            err_file.close()
    line = proc.stdout.readline().decode()
    m = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)\n", line)
    if not m:
        proc.kill()
        out, err = proc.communicate(timeout=10 * SCALE)
        err = Path(stderr).read_bytes() if stderr else err
        pytest.fail("no listening line (exit %s): %r %s" % (proc.returncode, line, err.decode()))
    return proc, "http://127.0.0.1:%s" % m.group(1)


def unit_command(installed, root, owner=None):
    """The installed unit's ExecStart as systemd would run it, its paths mapped into root: the
    state folder (also the working directory), /etc/tablecart with the test menu and the
    credentials folder with the secret, with the modes the unit and docs/operations.md give
    them; owner: the service user's id, which systemd makes the owner of the state folder and
    of the credentials. Returns the command line (listening on 127.0.0.1:0), the state folder
    and the secret's file."""
    unit = (installed / UNIT).read_text()
    cmd = shlex.split(dict(unit_settings(unit))["ExecStart"])
    state, etc, creds = root / "state", root / "etc", root / "creds"
    for d in (state, etc, creds):
        d.mkdir()
    shutil.copy(MENU_FILE, etc / "menu.json")
    (creds / "jwt-secret").write_text(SECRET + "\n")
    for path, mode in [(state, 0o700), (etc, 0o755), (etc / "menu.json", 0o644),
                       (creds / "jwt-secret", 0o400), (creds, 0o500)]:
        os.chmod(path, mode)
    if owner is not None:
        for path in (state, creds, creds / "jwt-secret"):
            os.chown(path, owner, owner)
    mapped = []
    for a in cmd:
        a = a.replace("${CREDENTIALS_DIRECTORY}", str(creds))
        a = a.replace("/var/lib/tablecart", str(state)).replace("/etc/tablecart", str(etc))
        a = a.replace("/usr/local/", "%s/usr/local/" % installed)
        mapped.append("127.0.0.1:0" if a == "127.0.0.1:8080" else a)
    return mapped, state, creds / "jwt-secret"


def issue_token(binary, secret, env):
    """A token for user 100 from the installed binary's `token` command."""
    tok = subprocess.run([binary, "token", "--user", "100", "--jwt-secret-file", str(secret)],
                         capture_output=True, env=env, timeout=10 * SCALE)
    assert tok.returncode == 0, tok.stderr
    return tok.stdout.decode().strip()


def test_make_install_lays_out_what_the_unit_expects(installed):
    unit = (installed / UNIT).read_text()
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
    mapped, state, secret = unit_command(installed, tmp_path)
    env = {"PATH": "/usr/bin:/bin"}
    proc, base = start_installed(mapped, state, env)
    try:
        page = requests.get(base + "/?table=123", timeout=IO_TIMEOUT)
        assert page.status_code == 200 and "<title>扫码点餐</title>" in page.text
        assert requests.get(base + "/api/store/order/cart/123", timeout=IO_TIMEOUT).status_code \
            == 401
        auth = {"Authorization": "Bearer " + issue_token(mapped[0], secret, env)}
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


# ---------------------------------------------------------------------------
# the unit's system-call filter
# ---------------------------------------------------------------------------

x86_64_only = pytest.mark.skipif(os.uname().machine != "x86_64",
                                 reason="unit_filter.py takes the system call numbers of x86-64")

# LeakSanitizer's check at exit stops the threads with ptrace from a process it clones; ptrace
# (@debug) is not in the unit's list, so that process is killed (SIGSYS) and the server spins
# waiting for it. The leak check runs in every other test of the ASan lane.
FILTER_ENV = dict({"PATH": "/usr/bin:/bin"},
                  **({"ASAN_OPTIONS": "detect_leaks=0"} if ASAN else {}))


def under_unit_filter(installed, unit_file, root):
    """The installed binary's command line from the unit (unit_command, into root), run by
    unit_filter.py with unit_file, as the unit's service user when run as root. Returns the
    command line, the state folder and the secret's file."""
    owner = DYNAMIC_ID if os.geteuid() == 0 else None
    cmd, state, secret = unit_command(installed, root, owner)
    return list(UNIT_FILTER) + [str(unit_file)] + cmd, state, secret


def how_it_ended(proc, root):
    """What a server that ended said: its exit status, for SIGSYS the kernel's record of the
    call the filter killed (when dmesg may be read), and the end of its stderr."""
    why = ""
    if proc.returncode == -signal.SIGSYS:
        dmesg = shutil.which("dmesg")
        p = subprocess.run([dmesg], capture_output=True, timeout=10) if dmesg else None
        audit = [ln for ln in (p.stdout if p else b"").decode(errors="replace").splitlines()
                 if "type=1326" in ln and " pid=%d " % proc.pid in ln]
        m = re.search(r" syscall=(\d+) ", audit[-1]) if audit else None
        names = {n: name for name, n in syscall_numbers().items()}
        why = " (SIGSYS: a call the filter forbids%s)" % (
            ": %s, the kernel's audit record: %s" % (names.get(int(m.group(1))), audit[-1])
            if m else "")
    return "the server ended with %s%s; stderr:\n%s" % (
        proc.returncode, why, (root / "stderr").read_text(errors="replace")[-3000:])


def wal_index(state):
    """From the SQLite store's -shm (the WAL index, native byte order): (mxFrame, the frames
    in the WAL; nBackfill, those a checkpoint has copied into the database file)."""
    raw = (state / "tablecart.db-shm").read_bytes()[:100]
    return struct.unpack_from("=I", raw, 16)[0], struct.unpack_from("=I", raw, 96)[0]


def wal_restarts(state):
    """The -wal header's checkpoint sequence number (big-endian): one more each time the WAL
    starts over, which a write does only after a checkpoint copied every frame."""
    return struct.unpack_from(">I", (state / "tablecart.db-wal").read_bytes(), 12)[0]


@x86_64_only
def test_installed_binary_serves_under_the_units_system_call_filter(installed, open_tmp):
    """The installed binary with the unit's command line, under the seccomp filter systemd
    builds from the installed unit's lines (unit_filter.py: SystemCallFilter=,
    SystemCallArchitectures=, MemoryDenyWriteExecute=, RestrictAddressFamilies= and the rest,
    as the service user of DynamicUser=), does what the service does in production and makes
    no call the filter kills: the page and a static file (openat2 answers EPERM there, so
    static.c's fallback serves them), a REST change with a token and a GET, an SSE stream and
    a WebSocket that each receive changes, a WebSocket command, /metrics from the machine, a
    checkpoint of the SQLite WAL (every frame copied, and the WAL starts over), every thread
    moved onto one core (--share-core: sched_setaffinity, which the unit adds back), and its
    sends through io_uring; then SIGTERM, and it exits 0 (killed by the filter: SIGSYS, -31)."""
    cmd, state, secret = under_unit_filter(installed, installed / UNIT, open_tmp)
    # Debug lines: src/core/cores.c says when it has moved the threads (below).
    proc, base = start_installed(cmd, state, dict(FILTER_ENV, TABLECART_LOG_LEVEL="debug"),
                                 stderr=open_tmp / "stderr")
    port = int(base.rsplit(":", 1)[1])
    web = installed / "usr/local/share/tablecart/web"
    clients, ended = [], None

    def alive(step):
        assert proc.poll() is None, "%s: %s" % (step, how_it_ended(proc, open_tmp))

    def wait(cond, timeout, what):
        def check():
            alive(what)
            return cond()
        return wait_until(check, timeout, what)

    try:
        # --io-uring on (the default): io_uring_setup passed, sends go through io_uring_enter
        wait(lambda: "sends: batched per loop turn" in (open_tmp / "stderr").read_text(),
             START_TIMEOUT, "the io_uring start-up line")
        if os.geteuid() == 0:
            assert os.stat("/proc/%d" % proc.pid).st_uid == DYNAMIC_ID  # the service user
        alive("start")
        for path, file in [("/?table=123", "index.html"), ("/app.js", "app.js")]:
            r = requests.get(base + path, timeout=IO_TIMEOUT)
            assert r.status_code == 200 and r.content == (web / file).read_bytes(), path
        alive("the page")
        tok = issue_token(str(installed / "usr/local/bin/tablecart"), secret, FILTER_ENV)
        auth = {"Authorization": "Bearer " + tok}
        sse = SSEStream(port, 123, query="?token=" + tok).start()
        clients.append(sse)
        assert sse.next_event().event == "connected" and sse.next_event().id == "0"
        alive("an SSE stream")
        posted = envelope(requests.post(base + "/api/store/order/cart/add", headers=auth,
                                        json={"tableId": 123, "cuisineId": 1001, "quantity": 2},
                                        timeout=IO_TIMEOUT))
        assert (posted["version"], posted["totalQuantity"]) == (1, 2)
        got = envelope(requests.get(base + "/api/store/order/cart/123", headers=auth,
                                    timeout=IO_TIMEOUT))
        assert got == posted
        ev = sse.next_update()
        assert ev.id == "1" and ev.json() == posted
        alive("a REST change and a GET")
        ws = WSClient(port, 123, query="?token=" + tok)
        clients.append(ws)
        assert ws.recv()["type"] == "connected"
        m = ws.recv()
        assert (m["type"], m["data"]) == ("cart_update", posted)
        ws.send({"type": "add_item", "data": {"cuisineId": 1001, "quantity": 3}})
        m = ws.recv()
        assert (m["type"], m["data"]["version"], m["data"]["totalQuantity"]) == \
            ("add_item_success", 2, 5)
        assert sse.next_update().json() == m["data"]
        posted = envelope(requests.post(base + "/api/store/order/cart/add", headers=auth,
                                        json={"tableId": 123, "cuisineId": 1002, "quantity": 1},
                                        timeout=IO_TIMEOUT))
        m = ws.recv()
        assert (m["type"], m["data"]) == ("cart_update", posted) and posted["version"] == 3
        assert sse.next_update().json() == posted
        alive("a WebSocket")
        r = requests.get(base + "/metrics", timeout=IO_TIMEOUT)
        assert r.status_code == 200, r.text
        lines = r.text.splitlines()
        for kind in ("sse", "ws"):
            assert 'tablecart_connections{kind="%s"} 1' % kind in lines, r.text
        alive("/metrics")
        # The checkpointer (src/store/sqlite_ckpt.c) copies what was committed within a
        # second: fsync and pwrite of the database file, locks on the WAL index.
        wait(lambda: (lambda mx, back: mx > 0 and back == mx)(*wal_index(state)), 5 * SCALE,
             "a checkpoint that copies every frame of the WAL")
        restarts = wal_restarts(state)
        envelope(requests.post(base + "/api/store/order/cart/add", headers=auth,
                               json={"tableId": 124, "cuisineId": 1001, "quantity": 1},
                               timeout=IO_TIMEOUT))
        assert wal_restarts(state) == restarts + 1
        alive("a WAL checkpoint")
        if len(os.sched_getaffinity(0)) >= 2:
            # The server shares a core after two calm looks (0.5 s) and spreads again, held
            # off for 5 s or more, when other processes crowd that core (another test's, on
            # this machine); so the proof is its own line after a move that succeeded, which
            # a move the filter killed never writes.
            wait(lambda: "cores: every thread on cpu" in (open_tmp / "stderr").read_text(),
                 IO_TIMEOUT, "every thread moved onto one core")
        alive("--share-core")
    except Exception:
        if proc.poll() is None:
            raise
        ended = how_it_ended(proc, open_tmp)  # says more than the client's error
    finally:
        for c in clients:
            c.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if ended:
        pytest.fail(ended, pytrace=False)
    assert proc.returncode == 0, how_it_ended(proc, open_tmp)
    check_sanitizers((open_tmp / "stderr").read_text(errors="replace"))


@x86_64_only
def test_unit_filter_kills_a_server_making_a_call_the_unit_forbids(installed, open_tmp):
    """The launcher enforces: with the unit's lines and io_uring (@aio) taken away, the server
    is killed by SIGSYS at its io_uring_setup, before it listens."""
    unit = (installed / UNIT).read_text().replace(
        "CapabilityBoundingSet=", "SystemCallFilter=~@aio\nCapabilityBoundingSet=")
    (open_tmp / "no-aio.service").write_text(unit)
    cmd, state, _ = under_unit_filter(installed, open_tmp / "no-aio.service", open_tmp)
    p = subprocess.run(cmd, cwd=str(state), env=FILTER_ENV, capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=START_TIMEOUT)
    assert p.returncode == -signal.SIGSYS, p.stderr.decode()[-2000:]
    assert p.stdout == b"" and b"sends: batched" not in p.stderr


# Under the filter: what each call the unit's lines answer with an errno gives (x86-64
# numbers), printed as JSON; then fchown (in @chown, which ~@privileged takes away).
PROBE = r"""
import ctypes, errno, json, mmap, os, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_long]
FAILED = ctypes.c_void_p(-1).value
def said(r):
    return "ok" if r != FAILED and r != -1 else errno.errorcode[ctypes.get_errno()]
def call(nr, *args):
    return said(libc.syscall(ctypes.c_long(nr), *args))
def sock(family, kind):
    try:
        socket.socket(family, kind).close()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
def mm(prot):
    return said(libc.mmap(None, 4096, prot, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0))
R, W, X = mmap.PROT_READ, mmap.PROT_WRITE, mmap.PROT_EXEC
page = ctypes.c_void_p(libc.mmap(None, 4096, R, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0))
print(json.dumps({
    "openat2": call(437, ctypes.c_int(-100), ctypes.c_char_p(b"."), None, ctypes.c_size_t(0)),
    "clone3": call(435, None, ctypes.c_size_t(0)),
    "socket AF_INET6": sock(socket.AF_INET6, socket.SOCK_STREAM),
    "socket AF_NETLINK": sock(socket.AF_NETLINK, socket.SOCK_RAW),
    "mmap rw": mm(R | W), "mmap rx": mm(R | X), "mmap wx": mm(W | X),
    "mprotect r": said(libc.mprotect(page, 4096, R)),
    "mprotect rx": said(libc.mprotect(page, 4096, R | X)),
    "personality query": call(135, ctypes.c_ulong(0xFFFFFFFF)),
    "personality PER_LINUX": call(135, ctypes.c_ulong(0)),
    "unshare CLONE_NEWUSER": call(272, ctypes.c_ulong(0x10000000)),
    "setns": call(308, ctypes.c_int(-1), ctypes.c_int(0)),
}), flush=True)
os.fchown(0, os.getuid(), os.getgid())
"""


@x86_64_only
def test_unit_filter_answers_each_call_as_systemd_does(installed, open_tmp):
    """unit_filter.py with the installed unit answers as systemd 252 would: openat2 EPERM
    (RestrictSUIDSGID=), clone3 ENOSYS and namespaces EPERM (RestrictNamespaces=), a family
    other than AF_UNIX, AF_INET or AF_INET6 EAFNOSUPPORT (RestrictAddressFamilies=), memory
    writable and executable, or made executable, EPERM (MemoryDenyWriteExecute=), a
    personality other than PER_LINUX, the query too, EPERM (LockPersonality=); the rest goes
    through; and a call outside the allow list (fchown) kills the process with SIGSYS."""
    p = subprocess.run(list(UNIT_FILTER) + [str(installed / UNIT), "/usr/bin/python3", "-c",
                                            PROBE],
                       cwd=str(open_tmp), capture_output=True, stdin=subprocess.DEVNULL,
                       timeout=30 * SCALE)
    assert p.returncode == -signal.SIGSYS, p.stderr.decode()
    assert json.loads(p.stdout) == {
        "openat2": "EPERM", "clone3": "ENOSYS",
        "socket AF_INET6": "ok", "socket AF_NETLINK": "EAFNOSUPPORT",
        "mmap rw": "ok", "mmap rx": "ok", "mmap wx": "EPERM",
        "mprotect r": "ok", "mprotect rx": "EPERM",
        "personality query": "EPERM", "personality PER_LINUX": "ok",
        "unshare CLONE_NEWUSER": "EPERM", "setns": "EPERM"}


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
