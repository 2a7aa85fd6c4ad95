"""A real nginx in front of tablecart instances, for the tests that prove the
committed site file deploy/nginx.conf works. nginx runs from a scratch copy of
the stock Debian layout (/etc/nginx as the nginx package installs it, with its
default site enabled); the site is installed into sites-available/ and enabled
as an operator would. Only what a machine of tests must change is rewritten,
in the scratch copy: listen addresses (free ports on 127.0.0.1 instead of 80
and 443), the certificate paths, the upstream's ports, and the files nginx
writes (pid, logs, temp folders). Loopback only."""

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from support import IO_TIMEOUT, REPO, free_port, wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SITE = REPO / "deploy" / "nginx.conf"
STOCK = Path("/etc/nginx")  # as the Debian nginx package installs it
SERVER_NAME = "cart.example.com"  # the shipped file's placeholder name


def _replace_once(text, old, new, what):
    assert text.count(old) == 1, "%s: expected %r exactly once" % (what, old)
    return text.replace(old, new)


def make_cert(workdir):
    """A self-signed certificate for SERVER_NAME (openssl CLI). Returns (cert, key)."""
    cert, key = workdir / "site.pem", workdir / "site.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=" + SERVER_NAME, "-addext", "subjectAltName=DNS:" + SERVER_NAME,
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


def stock_layout(workdir, http_port):
    """Copies the stock layout to workdir/etc-nginx (the default site enabled,
    listening on http_port) and points the files nginx writes into workdir.
    Returns the copy's folder."""
    root = workdir / "etc-nginx"
    assert (STOCK / "sites-available" / "default").is_file(), "no stock Debian nginx layout"
    shutil.copytree(STOCK, root, symlinks=True)
    # sites-enabled/default links to /etc/nginx/sites-available/default: link the copy instead
    for link in (root / "sites-enabled").iterdir():
        link.unlink()
    (root / "sites-enabled" / "default").symlink_to("../sites-available/default")
    for d in ("body", "proxy", "logs"):
        (workdir / d).mkdir(exist_ok=True)
    conf = (root / "nginx.conf").read_text(encoding="utf-8")
    conf = _replace_once(conf, "user www-data;", "user root;", "nginx.conf")
    conf = _replace_once(conf, "worker_processes auto;", "worker_processes 1;", "nginx.conf")
    conf = _replace_once(conf, "pid /run/nginx.pid;", "pid %s/nginx.pid;" % workdir, "nginx.conf")
    conf = _replace_once(conf, "error_log /var/log/nginx/error.log;",
                         "error_log %s/logs/error.log;" % workdir, "nginx.conf")
    conf = _replace_once(conf, "access_log /var/log/nginx/access.log;",
                         "access_log %s/logs/access.log;\n\tclient_body_temp_path %s/body;\n"
                         "\tproxy_temp_path %s/proxy;" % (workdir, workdir, workdir), "nginx.conf")
    conf = conf.replace("/etc/nginx/", "%s/" % root)
    (root / "nginx.conf").write_text(conf, encoding="utf-8")
    default = root / "sites-available" / "default"
    text = default.read_text(encoding="utf-8")
    text = _replace_once(text, "listen 80 default_server;",
                         "listen 127.0.0.1:%d default_server;" % http_port, "default site")
    text = _replace_once(text, "listen [::]:80 default_server;", "", "default site")
    default.write_text(text, encoding="utf-8")
    return root


def install_site(root, upstream_ports, http_port, https_port=None, cert=None, app_port=None):
    """Installs deploy/nginx.conf as sites-available/tablecart and enables it.
    With https_port: the TLS server block listens there with cert (cert, key).
    Without (app_port given): the same block serves plain HTTP on app_port, for
    tests of the proxying alone."""
    site = SITE.read_text(encoding="utf-8")
    servers = "\n    ".join("server 127.0.0.1:%d;" % p for p in upstream_ports)
    site = _replace_once(site, "server 127.0.0.1:8080;", servers, "site")
    site = _replace_once(site, "    listen 80;\n", "    listen 127.0.0.1:%d;\n" % http_port, "site")
    site = _replace_once(site, "    listen [::]:80;\n", "", "site")
    site = _replace_once(site, "    listen [::]:443 ssl http2;\n", "", "site")
    if https_port:
        site = _replace_once(site, "listen 443 ssl http2;",
                             "listen 127.0.0.1:%d ssl http2;" % https_port, "site")
        site = _replace_once(site, "/etc/ssl/certs/cart.example.com.pem", str(cert[0]), "site")
        site = _replace_once(site, "/etc/ssl/private/cart.example.com.key", str(cert[1]), "site")
    else:
        site = _replace_once(site, "listen 443 ssl http2;", "listen 127.0.0.1:%d;" % app_port,
                             "site")
        site = "\n".join(ln for ln in site.split("\n") if not ln.strip().startswith("ssl_"))
    (root / "sites-available" / "tablecart").write_text(site, encoding="utf-8")
    (root / "sites-enabled" / "tablecart").symlink_to("../sites-available/tablecart")


def nginx_test(root):
    """`nginx -t` on the layout: returns its output (it passes or the test fails)."""
    p = subprocess.run([NGINX, "-t", "-c", str(root / "nginx.conf")], capture_output=True,
                       timeout=IO_TIMEOUT * 2)
    out = p.stderr.decode()
    assert p.returncode == 0, out
    return out


class PortTaken(AssertionError):
    """nginx gave up binding a port another process took after free_port() chose it."""


def _listening_inode(port):
    """The inode of the socket listening on 127.0.0.1:port (/proc/net/tcp), or None."""
    local = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == local and fields[3] == "0A":  # TCP_LISTEN
                return int(fields[9])
    return None


def _socket_inodes(pid):
    """The inodes of the sockets process pid holds."""
    inodes = set()
    fd_dir = Path("/proc/%d/fd" % pid)
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:["):-1]))
    return inodes


def start_nginx(root, ports):
    """Starts nginx with the layout at root and waits until nginx itself listens on each
    of ports: free_port() races the other processes of the machine (other tests' servers
    on port 0 among them), and something else listening on a port, or an nginx still
    retrying its bind (every 500 ms, five times), must not pass for nginx up. Raises
    PortTaken when nginx gave up on a port taken meanwhile."""
    proc = subprocess.Popen([NGINX, "-c", str(root / "nginx.conf"), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def up():
        if proc.poll() is not None:
            log = root.parent / "logs" / "error.log"
            err = proc.stderr.read().decode() + (log.read_text() if log.exists() else "")
            cls = PortTaken if "Address already in use" in err else AssertionError
            raise cls("nginx exited: %s" % err)
        try:
            mine = _socket_inodes(proc.pid)
        except OSError:  # exited meanwhile: the next call says why
            return None
        return all(_listening_inode(p) in mine for p in ports) or None

    try:
        wait_until(up, IO_TIMEOUT * 2, "nginx listening on %r" % (ports,))
    except BaseException:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(IO_TIMEOUT)
        raise
    return proc


def stop_nginx(proc):
    proc.terminate()
    proc.wait(IO_TIMEOUT)


@contextlib.contextmanager
def running_site(workdir, layout, attempts=3):
    """Runs nginx on a layout made by layout(folder) -> (root, ports, value) in workdir
    (created) until the block ends, waiting until nginx listens on each of ports, and yields
    value. A port another process took before nginx could bind it is given up for new ones:
    layout is called again for a new folder beside the first."""
    for attempt in range(1, attempts + 1):
        d = workdir if attempt == 1 else workdir.with_name("%s-%d" % (workdir.name, attempt))
        d.mkdir(parents=True, exist_ok=True)
        root, ports, value = layout(d)
        try:
            proc = start_nginx(root, ports)
        except PortTaken:
            if attempt == attempts:
                raise
            continue
        try:
            yield value
        finally:
            stop_nginx(proc)
        return


@contextlib.contextmanager
def nginx_in_front(workdir, upstream_ports):
    """nginx (from workdir, created) proxying to 127.0.0.1:<each port> with the
    shipped site's settings over plain HTTP; yields the port to talk to."""
    def layout(d):
        http_port, app_port = free_port(), free_port()
        root = stock_layout(d, http_port)
        install_site(root, upstream_ports, http_port, app_port=app_port)
        return root, (app_port, http_port), app_port

    with running_site(workdir, layout) as app_port:
        yield app_port
