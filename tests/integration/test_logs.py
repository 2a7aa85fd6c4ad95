"""Logs an operator can use (docs/operations.md, "Logs"): one access line per
HTTP request (client, method, path, status, bytes, duration), a stream's once
at its start and never per event, --access-log off, SIGHUP handled (logs go to
stderr: nothing to reopen, the server keeps serving), and no token, secret or
?token= value in any line, whatever the level."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from auth_support import SECRET, token
from support import (BIN, IO_TIMEOUT, MENU_FILE, START_TIMEOUT, STOP_TIMEOUT, envelope, run_cli,
                     wait_until)

sys.path.insert(0, str(Path(__file__).resolve().parent / "live"))  # live_support
from live_support import RawWS, SSEStream  # noqa: E402

ACCESS = re.compile(r"^\S+ info access (\S+) (\S+) (\S+) (\d{3}) (\d+)B (\d+\.\d{3})ms$")


def access_lines(server):
    return [m.groups() for m in map(ACCESS.match, server.stderr().splitlines()) if m]


def test_one_access_line_per_request_and_streams_once(server):
    envelope(server.add(123, 1001, 2))
    r = requests.get(server.url("/no/such/file.js"), timeout=IO_TIMEOUT)
    assert r.status_code == 404
    s = SSEStream(server.port, 123, query="?x=1").start()
    try:
        s.next_event(), s.next_event()
        for v in (2, 3, 4):
            envelope(server.add(123, 1001, 1))
            assert s.next_update().id == str(v)
    finally:
        s.close()
    # the three changes made after the stream opened
    wait_until(lambda: len(access_lines(server)) == 6, IO_TIMEOUT, "six access lines")
    lines = access_lines(server)
    for client, method, path, status, size, ms in lines:
        assert client == "127.0.0.1"
        assert float(ms) < IO_TIMEOUT * 1000
    first = lines[0]
    assert first[1:4] == ("POST", "/api/store/order/cart/add", "200")
    add_bytes = int(first[4])
    assert add_bytes > len(b"HTTP/1.1 200 OK\r\n")
    assert lines[1][1:4] == ("GET", "/no/such/file.js", "404")
    # the stream: one line, at its start, with the query as sent
    assert lines[2][1:4] == ("GET", "/api/store/order/sse/123?x=1", "200")
    assert [ln[1:4] for ln in lines[3:]] == [("POST", "/api/store/order/cart/add", "200")] * 3


def test_access_log_off(start_server):
    s = start_server("--access-log", "off")
    envelope(s.add(123, 1001, 1))
    assert requests.get(s.url("/healthz"), timeout=IO_TIMEOUT).status_code == 200
    assert access_lines(s) == []
    assert " access " not in s.stderr()


def test_sighup_is_logged_and_the_server_keeps_serving(server):
    server.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "SIGHUP: nothing to reopen (logs go to stderr)" in server.stderr(),
               IO_TIMEOUT, "the SIGHUP line")
    assert server.alive()
    envelope(server.add(123, 1001, 1))


def test_no_token_or_secret_in_any_log_line(start_server, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    s = start_server("--auth", "jwt", "--jwt-secret-file", secret_file,
                     env={"TABLECART_LOG_LEVEL": "debug", "TABLECART_AUTH": None})
    good = token(user=100, table=123)
    other = token(user=101)
    expired = token(user=102, exp=1)
    secrets = [good, other, expired, SECRET]
    auth = {"Authorization": "Bearer " + good}
    envelope(s.add(123, 1001, 1, headers=auth))
    assert s.get_cart(123, headers={"Authorization": "Bearer " + expired}).status_code == 401
    assert s.get_cart(123, headers={"Authorization": good}).status_code == 401  # no "Bearer"
    # ?token= on SSE and WebSocket, good and bad, and in a path that 404s
    sse = SSEStream(s.port, 123, query="?token=" + good).start()
    sse.next_event()
    sse.close()
    bad = SSEStream(s.port, 123, query="?token=" + expired)
    assert bad.read_head() == 401
    bad.close()
    ws = RawWS(s.port, 123, query="?token=" + other)
    assert ws.recv_json()["type"] == "connected"
    ws.close()
    r = requests.get(s.url("/nope?token=" + good + "&x=1"), timeout=IO_TIMEOUT)
    assert r.status_code == 404
    r = requests.get(s.url("/nope?access_token=" + other), timeout=IO_TIMEOUT)
    assert r.status_code == 404
    wait_until(lambda: len(access_lines(s)) >= 8, IO_TIMEOUT, "the access lines")
    err = s.stderr()
    for secret in secrets:
        for part in [secret] + (secret.split(".") if secret != SECRET else []):
            assert part not in err, "a secret reached the log:\n" + err
    assert "GET /api/store/order/sse/123?token=[redacted] 200" in err
    assert "GET /nope?token=[redacted]&x=1 404" in err


def listening_port(pid):
    """The TCP port process pid listens on (its stdout is closed: no first line)."""
    inodes = set()
    for fd in Path("/proc/%d/fd" % pid).iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:["):-1])
    for row in Path("/proc/%d/net/tcp" % pid).read_text().splitlines()[1:]:
        f = row.split()
        if f[3] == "0A" and f[9] in inodes:  # LISTEN
            return int(f[1].split(":")[1], 16)
    return None


def test_closed_stdin_stdout_stderr_do_not_hang_the_server(tmp_path):
    # Started with descriptors 0, 1 and 2 closed (a supervisor or `cmd <&- >&- 2>&-`), the
    # descriptors the process opens first must not take their numbers: libuv's signal lock pipe
    # took 2, and every log line went into it until the pipe was full and the loop blocked in
    # write() for good. Each request writes an access line; 2,000 of them are ~160 KB.
    cmd = [BIN, "serve", "--listen", "127.0.0.1:0", "--store", "sqlite:%s" % (tmp_path / "t.db"),
           "--menu", str(MENU_FILE)]
    env = dict(os.environ, TABLECART_AUTH="none", TABLECART_RATE_CHANGES="0")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, cwd=str(tmp_path),
                            preexec_fn=lambda: [os.close(fd) for fd in (0, 1, 2)])
    try:
        port = wait_until(lambda: proc.poll() is None and listening_port(proc.pid), START_TIMEOUT,
                          "the listening socket")
        with requests.Session() as s:
            for _ in range(2000):
                r = s.get("http://127.0.0.1:%d/healthz" % port, timeout=IO_TIMEOUT)
                assert r.status_code == 200
        std = [os.readlink("/proc/%d/fd/%d" % (proc.pid, fd)) for fd in (0, 1, 2)]
        assert std == ["/dev/null"] * 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_access_line_shows_at_most_512_bytes_of_the_target(server):
    # operations.md: the target as sent, at most 512 bytes (it was cut at 527).
    target = "/x?" + "a" * 2000
    assert requests.get(server.url(target), timeout=IO_TIMEOUT).status_code == 404
    wait_until(lambda: len(access_lines(server)) == 1, IO_TIMEOUT, "the access line")
    assert access_lines(server)[0][1:4] == ("GET", target[:512], "404")


def test_log_level_error_keeps_only_errors(start_server):
    # operations.md names four levels; TABLECART_LOG_LEVEL=error was taken as info (only debug
    # and warn were read), so the access log and every info line still came out.
    s = start_server(env={"TABLECART_LOG_LEVEL": "error"})
    envelope(s.add(123, 1001, 1))
    assert requests.get(s.url("/no/such/file"), timeout=IO_TIMEOUT).status_code == 404
    rc, err = s.stop()
    assert rc == 0
    assert err == ""


@pytest.mark.parametrize("level", ["verbose", "WARN", "", "info "])
def test_unknown_log_level_exits_2(tmp_path, level):
    p = run_cli("serve", "--listen", "127.0.0.1:0", "--store", "sqlite:%s" % (tmp_path / "x.db"),
                env={"TABLECART_LOG_LEVEL": level}, cwd=tmp_path)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert p.stderr.decode() == "tablecart: TABLECART_LOG_LEVEL: expected debug, info, warn " \
        "or error, got '%s'\n" % level
    assert p.stdout == b""
    assert list(tmp_path.iterdir()) == []


DROPPED = re.compile(r"^\S+ warn log: (\d+) lines dropped: stderr was not being read$")


def test_stderr_nobody_reads_does_not_stop_the_server(tmp_path):
    # stderr a pipe whose reader does not read: the server wrote its log lines with blocking
    # writes, and once the pipe's 64 KiB were full (~800 access lines) the loop stopped for
    # good, every client with it. Now the lines wait (up to 1 MiB), then are dropped and
    # counted, and a line says how many once stderr is read again.
    r, w = os.pipe()
    cmd = [BIN, "serve", "--listen", "127.0.0.1:0", "--store", "sqlite:%s" % (tmp_path / "t.db"),
           "--menu", str(MENU_FILE)]
    env = dict(os.environ, TABLECART_AUTH="none", TABLECART_RATE_CHANGES="0")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=w,
                            env=env, cwd=str(tmp_path))
    os.close(w)
    text = b""
    try:
        first = proc.stdout.readline().decode()
        port = int(re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)\n", first).group(1))
        url = "http://127.0.0.1:%d/healthz?pad=%s" % (port, "p" * 400)
        sent = 0
        with requests.Session() as s:
            # ~470 bytes a line: 4,000 lines are past the pipe and the 1 MiB that waits
            for _ in range(4000):
                assert s.get(url, timeout=IO_TIMEOUT).status_code == 200
                sent += 1
            os.set_blocking(r, False)

            def drained_and_told():
                nonlocal text, sent
                try:
                    while True:
                        chunk = os.read(r, 1 << 16)
                        if not chunk:
                            break
                        text += chunk
                except BlockingIOError:
                    pass
                if any(map(DROPPED.match, text.decode().splitlines())):
                    return True
                # a request: a loop turn that writes what waits
                assert s.get(url, timeout=IO_TIMEOUT).status_code == 200
                sent += 1
                return False
            wait_until(drained_and_told, IO_TIMEOUT, "the dropped-lines line")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_TIMEOUT) == 0
        os.set_blocking(r, True)
        while True:
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            text += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(r)
    lines = text.decode().splitlines()
    for ln in lines:
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warn|error) ", ln), ln
    told = [int(m.group(1)) for m in map(DROPPED.match, lines) if m]
    assert len(told) == 1 and told[0] > 0, told
    answered = sum(1 for ln in lines if " info access 127.0.0.1 GET /healthz?pad=p" in ln)
    assert answered + told[0] == sent
    assert lines[-1].endswith(" info stopped")
