"""A Redis that wants a password (docs/redis.md, "Authentication"): requirepass and an ACL user
(also one allowed only the commands the doc lists),
the password from --redis-password-file or TABLECART_REDIS_PASSWORD, on every connection
(start-up, commands, subscription, menu import, reconnects), never in logs, in
/proc/PID/cmdline or in /proc/PID/environ; a wrong one is a clear start-up error."""

import re

import pytest
import requests

from live_support import SSEStream, diner_stream, next_presence, seats
from redis_support import RedisServer, RedisServerFactory, wait_status
from support import IO_TIMEOUT, MENU_FILE, REPO, SCALE, envelope, run_cli

PASSWORD = "pw-Zq8rT1-never-shown"
APP_PASSWORD = "app-pw-Xk3m9-never-shown"
ADMIN = "admin-pw-Lr5s2"
RECOVER = 10 * SCALE


@pytest.fixture
def locked(tmp_path):
    r = RedisServer(tmp_path, extra=["--requirepass", PASSWORD], auth=(PASSWORD,))
    yield r
    r.kill9()


@pytest.fixture
def acl(tmp_path):
    """The default user has its own password; tablecart logs in as user app."""
    r = RedisServer(tmp_path, extra=["--requirepass", ADMIN,
                                     "--user", "app", "on", ">" + APP_PASSWORD, "~*", "&*",
                                     "+@all"], auth=(ADMIN,))
    yield r
    r.kill9()


def documented_acl_commands():
    """The commands docs/redis.md ("Authentication") says an ACL user for
    tablecart needs."""
    text = (REPO / "docs" / "redis.md").read_text(encoding="utf-8")
    m = re.search(r"An ACL user for tablecart needs, on keys `tablecart:\*` and channels\s+"
                  r"`tablecart:\*`: `([a-z\s]+)`", text)
    assert m, "docs/redis.md no longer lists the ACL user's commands"
    return m.group(1).split()


@pytest.fixture
def acl_as_documented(tmp_path):
    """User app may run only what docs/redis.md lists, on tablecart's keys and channels."""
    r = RedisServer(tmp_path, extra=["--requirepass", ADMIN,
                                     "--user", "app", "on", ">" + APP_PASSWORD,
                                     "~tablecart:*", "&tablecart:*", "-@all"]
                    + ["+" + c for c in documented_acl_commands()], auth=(ADMIN,))
    yield r
    r.kill9()


def password_file(tmp_path, text, name="redis.pw"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    p.chmod(0o600)
    return p


def healthz(server):
    return requests.get(server.url("/healthz"), timeout=IO_TIMEOUT)


def assert_secret_hidden(server, secret):
    pid = server.proc.pid
    for what in ("cmdline", "environ"):
        with open("/proc/%d/%s" % (pid, what), "rb") as f:
            assert secret.encode() not in f.read(), what
    assert secret not in server.stderr()
    assert secret not in server.stdout_path.read_text(encoding="utf-8", errors="replace")


def a_change_reaches_a_stream(writer, reader, clients, table=123):
    s = clients(SSEStream(reader.port, table=table)).start()
    assert s.next_event().event == "connected"
    before = int(s.next_update().id)
    data = envelope(writer.add(table, 1001, 1))
    assert data["version"] == before + 1
    assert s.next_update().id == str(before + 1)


def test_requirepass_from_a_file(tmp_path, locked, clients):
    f = RedisServerFactory(tmp_path, locked)
    pw = password_file(tmp_path, PASSWORD + "\n")
    try:
        a = f("--redis-password-file", str(pw))
        b = f("--redis-password-file", str(pw), menu=None)
        wait_status(lambda: healthz(b), 200, RECOVER, "healthz 200")
        # Commands on one instance, the subscription of the other.
        a_change_reaches_a_stream(a, b, clients)
        assert_secret_hidden(a, PASSWORD)
        # Redis restarts: both connections log in again, and the subscription works.
        locked.kill9()
        locked.start()
        for srv in (a, b):
            wait_status(lambda: healthz(srv), 200, RECOVER, "healthz 200 after the restart")
        a_change_reaches_a_stream(b, a, clients)
        assert b.cart(123)["version"] == 2
        for srv in (a, b):
            assert PASSWORD not in srv.stderr()
    finally:
        clients.close_all()  # streams first: a stopping server waits for open ones
        f.finish()
    # menu import logs in too.
    r = run_cli("menu", "import", MENU_FILE, "--store", locked.url, "--redis-password-file", pw)
    assert r.returncode == 0, r.stderr
    assert PASSWORD.encode() not in r.stderr + r.stdout


def test_requirepass_from_the_environment(tmp_path, locked, clients):
    f = RedisServerFactory(tmp_path, locked)
    try:
        s = f(env={"TABLECART_REDIS_PASSWORD": PASSWORD})
        a_change_reaches_a_stream(s, s, clients)
        assert_secret_hidden(s, PASSWORD)  # wiped from /proc/PID/environ too
    finally:
        clients.close_all()  # streams first: a stopping server waits for open ones
        f.finish()


def test_acl_user(tmp_path, acl, clients):
    f = RedisServerFactory(tmp_path, acl)
    pw = password_file(tmp_path, APP_PASSWORD)
    url = "redis://app@127.0.0.1:%d" % acl.port
    try:
        a = f("--redis-password-file", str(pw), url=url)
        b = f("--redis-password-file", str(pw), url=url, menu=None)
        wait_status(lambda: healthz(a), 200, RECOVER, "healthz 200")
        wait_status(lambda: healthz(b), 200, RECOVER, "healthz 200")
        a_change_reaches_a_stream(b, a, clients)
        # Every connection of both instances (commands and subscription) is user app's.
        lines = [ln for ln in acl.command("CLIENT", "LIST").splitlines() if "cmd=client" not in ln]
        users = sorted(field.split("=", 1)[1] for ln in lines for field in ln.split()
                       if field.startswith("user="))
        subscribers = [ln for ln in lines if " sub=0 " not in ln]
        assert users == ["app"] * 4, lines
        assert len(subscribers) == 2, lines
        assert "store: redis://app@127.0.0.1:%d" % acl.port in a.stderr()
        assert_secret_hidden(a, APP_PASSWORD)
    finally:
        clients.close_all()  # streams first: a stopping server waits for open ones
        f.finish()


def test_wrong_or_missing_password_is_a_clear_start_error(tmp_path, locked, acl):
    env = {"TABLECART_AUTH": "none"}
    serve = ("serve", "--listen", "127.0.0.1:0", "--menu", MENU_FILE)
    wrong = password_file(tmp_path, "not-the-password", "wrong.pw")
    r = run_cli(*serve, "--store", locked.url, "--redis-password-file", wrong, env=env)
    assert r.returncode == 1, r.stderr
    err = r.stderr.decode()
    assert "tablecart: store: %s: AUTH: WRONGPASS" % locked.url in err, err
    assert "not-the-password" not in err

    r = run_cli(*serve, "--store", locked.url, env=env)
    assert r.returncode == 1, r.stderr
    assert "NOAUTH Authentication required" in r.stderr.decode(), r.stderr

    app = "redis://app@127.0.0.1:%d" % acl.port
    r = run_cli(*serve, "--store", app, "--redis-password-file", wrong, env=env)
    assert r.returncode == 1 and b"AUTH: WRONGPASS" in r.stderr, r.stderr
    # A user with no password is a bad setup, refused before anything is contacted: 2, so
    # that systemd's RestartPreventExitStatus=2 stops (it was 1, restarted every 2 s).
    r = run_cli(*serve, "--store", app, env=env)
    assert r.returncode == 2, r.stderr
    assert "redis user app needs a password" in r.stderr.decode(), r.stderr
    r = run_cli("menu", "import", MENU_FILE, "--store", app, env=env)
    assert r.returncode == 2, r.stderr
    assert "redis user app needs a password" in r.stderr.decode(), r.stderr


def test_bad_password_setups_are_usage_errors(tmp_path, locked):
    env = {"TABLECART_AUTH": "none"}
    url = "redis://app:%s@127.0.0.1:%d" % (PASSWORD, locked.port)
    for args, extra_env in (
            (("--store", url), {}),
            ((), {"TABLECART_STORE": url}),
            (("--store", "redis://:%s@127.0.0.1:%d" % (PASSWORD, locked.port)), {})):
        r = run_cli("serve", "--listen", "127.0.0.1:0", *args, env=dict(env, **extra_env))
        assert r.returncode == 2, r.stderr
        err = r.stderr.decode()
        assert "a password in the URL is refused" in err and "--redis-password-file" in err, err
        assert PASSWORD not in err
    r = run_cli("menu", "import", MENU_FILE, "--store", url)
    assert r.returncode == 2 and PASSWORD.encode() not in r.stderr, r.stderr
    for f, why in ((tmp_path / "missing.pw", "cannot open"),
                   (password_file(tmp_path, "\n", "empty.pw"), "is empty"),
                   (password_file(tmp_path, "a\nb\n", "two.pw"), "one line"),
                   (password_file(tmp_path, "p" * 512, "long.pw"), "at most 511 bytes"),
                   ("/dev/zero", "at most 511 bytes")):    # read no further, not to the end
        r = run_cli("serve", "--listen", "127.0.0.1:0", "--store", locked.url,
                    "--redis-password-file", f, env=env)
        assert r.returncode == 2, r.stderr
        assert why in r.stderr.decode(), r.stderr


def test_a_host_name_is_resolved(tmp_path, redis, clients):
    """localhost: looked up off the loop, at start and at every reconnect."""
    f = RedisServerFactory(tmp_path, redis)
    try:
        s = f(url="redis://localhost:%d" % redis.port)
        wait_status(lambda: healthz(s), 200, RECOVER, "healthz 200")
        a_change_reaches_a_stream(s, s, clients)
        redis.kill9()
        wait_status(lambda: healthz(s), 503, RECOVER, "healthz 503")
        redis.start()
        wait_status(lambda: healthz(s), 200, RECOVER, "healthz 200 after the restart")
        assert s.cart(123)["version"] == 1
        a_change_reaches_a_stream(s, s, clients)
    finally:
        clients.close_all()  # streams first: a stopping server waits for open ones
        f.finish()
    r = run_cli("serve", "--listen", "127.0.0.1:0", "--store", "redis://no-such-host.invalid:6379",
                env={"TABLECART_AUTH": "none"})
    assert r.returncode == 1
    assert "cannot resolve no-such-host.invalid" in r.stderr.decode(), r.stderr


def test_acl_user_with_only_the_documented_commands(tmp_path, acl_as_documented, clients):
    """Everything tablecart sends, Lua scripts' commands included, is in the documented list:
    menu import, a diner seated and named (the diners script), a keyed change and its replay
    (the cart script with its Idempotency-Key answers) reaching a stream."""
    r = acl_as_documented
    pw = password_file(tmp_path, APP_PASSWORD)
    url = "redis://app@127.0.0.1:%d" % r.port
    imp = run_cli("menu", "import", MENU_FILE, "--store", url, "--redis-password-file", pw)
    assert imp.returncode == 0, imp.stderr
    f = RedisServerFactory(tmp_path, r)
    try:
        a = f("--redis-password-file", str(pw), url=url, menu=None)
        s, p = diner_stream(a, clients, 101)
        assert seats(p) == [(101, 1, "1号")]
        named = requests.put(a.api("/store/order/table/123/name"), json={"name": "张三"},
                             headers={"X-User-Id": "101"}, timeout=IO_TIMEOUT)
        assert seats(envelope(named)) == [(101, 1, "张三")]
        assert seats(next_presence(s, lambda d: seats(d)[0][2] == "张三")) == [(101, 1, "张三")]
        keyed = {"X-User-Id": "101", "Idempotency-Key": "acl-1"}
        first = a.add(123, 1001, 2, headers=keyed)
        assert envelope(first)["version"] == 1
        assert s.next_update().id == "1"
        again = a.add(123, 1001, 2, headers=keyed)
        assert (again.status_code, again.content) == (200, first.content)
        assert a.cart(123)["version"] == 1
        assert "can't run this command" not in a.stderr()
    finally:
        clients.close_all()  # streams first: a stopping server waits for open ones
        f.finish()
