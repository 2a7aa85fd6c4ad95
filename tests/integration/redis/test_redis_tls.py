"""Redis over TLS through a local stunnel client tunnel (docs/redis.md, "TLS"): hiredis 0.14 speaks
no TLS, so tablecart talks plain RESP to stunnel on 127.0.0.1, which carries it over TLS (the
server's certificate checked against our CA) to redis-server's tls-port. A change made through
the tunnel reaches an SSE stream, and Redis sees tablecart's connections arrive on its TLS port."""

import shutil
import socket
import subprocess

import pytest
import requests

from live_support import SSEStream
from redis_support import RedisServer, RedisServerFactory, wait_status
from support import IO_TIMEOUT, SCALE, envelope, free_port, wait_until

STUNNEL = shutil.which("stunnel4") or shutil.which("stunnel")
PASSWORD = "tls-pw-Hq2v7"


def make_cert(d):
    """A self-signed certificate for localhost: the server's, and the CA the tunnel trusts."""
    key, cert = d / "redis.key", d / "redis.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost"], check=True, capture_output=True,
                   timeout=IO_TIMEOUT)
    return key, cert


@pytest.fixture
def tunnel(tmp_path):
    """(redis, plain port of the tunnel): redis-server with a tls-port, a stunnel client in
    front of it that checks its certificate."""
    if STUNNEL is None:
        pytest.fail("stunnel4 is not installed (scripts/install-deps.sh test)")
    key, cert = make_cert(tmp_path)
    tls_port = free_port()
    redis = RedisServer(tmp_path, auth=(PASSWORD,), extra=[
        "--requirepass", PASSWORD, "--tls-port", str(tls_port), "--tls-cert-file", str(cert),
        "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"])
    port = free_port()
    conf = tmp_path / "stunnel.conf"
    conf.write_text("foreground = yes\npid =\noutput = %s\n[redis]\nclient = yes\n"
                    "accept = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\nCAfile = %s\n"
                    "verifyChain = yes\ncheckHost = localhost\n"
                    % (tmp_path / "stunnel.log", port, tls_port, cert), encoding="utf-8")
    proc = subprocess.Popen([STUNNEL, str(conf)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def listening():
        assert proc.poll() is None, (tmp_path / "stunnel.log").read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT).close()
            return True
        except OSError:
            return None

    try:
        wait_until(listening, IO_TIMEOUT, "stunnel listening")
        yield redis, port, tls_port
    finally:
        proc.terminate()
        proc.wait(IO_TIMEOUT)
        redis.kill9()


def test_a_change_through_a_tls_tunnel(tmp_path, tunnel, clients):
    redis, port, tls_port = tunnel
    pw = tmp_path / "redis.pw"
    pw.write_text(PASSWORD, encoding="utf-8")
    f = RedisServerFactory(tmp_path, redis)
    try:
        s = f("--redis-password-file", str(pw), url="redis://127.0.0.1:%d" % port)
        wait_status(lambda: requests.get(s.url("/healthz"), timeout=IO_TIMEOUT), 200,
                    10 * SCALE, "healthz 200")
        sse = clients(SSEStream(s.port, table=123)).start()
        assert sse.next_event().event == "connected"
        assert sse.next_update().id == "0"
        assert envelope(s.add(123, 1001, 2))["version"] == 1
        ev = sse.next_update()
        assert ev.id == "1" and '"totalQuantity":2' in ev.data
        assert redis.command("HGET", "tablecart:cart:123", "version") == "1"
        # tablecart's command and subscriber connections came in on the TLS port.
        on_tls = [ln for ln in redis.command("CLIENT", "LIST").splitlines()
                  if "laddr=127.0.0.1:%d " % tls_port in ln and " cmd=NULL " not in ln]
        assert len(on_tls) == 2, on_tls
        assert len([ln for ln in on_tls if " sub=0 " not in ln]) == 1, on_tls
    finally:
        clients.close_all()  # streams first: a stopping server waits for open ones
        f.finish()
