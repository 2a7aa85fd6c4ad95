"""A real nginx in front of tablecart instances, configured with the committed
deploy/nginx.conf (only its upstream and listen addresses are changed), for the
tests that prove that configuration works. Loopback only."""

import contextlib
import shutil
import socket
import subprocess

from support import IO_TIMEOUT, REPO, free_port, wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SITE = REPO / "deploy" / "nginx.conf"


@contextlib.contextmanager
def nginx_in_front(workdir, upstream_ports):
    """Runs nginx from workdir (created) proxying to 127.0.0.1:<each port>;
    yields the port nginx listens on, and stops it afterwards."""
    port = free_port()
    site = SITE.read_text(encoding="utf-8")
    assert "server 127.0.0.1:8080;" in site and "listen 80;" in site
    servers = "\n    ".join("server 127.0.0.1:%d;" % p for p in upstream_ports)
    site = site.replace("server 127.0.0.1:8080;", servers)
    site = site.replace("listen 80;", "listen 127.0.0.1:%d;" % port)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "site.conf").write_text(site, encoding="utf-8")
    for d in ("body", "proxy"):
        (workdir / d).mkdir(exist_ok=True)
    (workdir / "nginx.conf").write_text(
        "user root;\nworker_processes 1;\nerror_log %(t)s/error.log;\npid %(t)s/nginx.pid;\n"
        "events { worker_connections 256; }\n"
        "http { access_log off; client_body_temp_path %(t)s/body; proxy_temp_path %(t)s/proxy;\n"
        "       include %(t)s/site.conf; }\n" % {"t": workdir}, encoding="utf-8")
    proc = subprocess.Popen([NGINX, "-p", str(workdir), "-c", str(workdir / "nginx.conf"),
                             "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)

    def up():
        if proc.poll() is not None:
            raise AssertionError("nginx exited: %s" % proc.stderr.read().decode())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return None

    try:
        wait_until(up, IO_TIMEOUT * 2, "nginx listening")
        yield port
    finally:
        proc.terminate()
        proc.wait(IO_TIMEOUT)
