"""What only the SQLite store does (the Redis suite re-runs test_store.py, not this file)."""

from support import envelope


def test_a_second_server_on_the_same_database_refuses_to_start(start_server):
    """Carts are served from memory, so one process serves a SQLite file: a
    second `serve` on it exits 1 and says why and which process holds the file
    (SPEC §7; it named none); the first keeps serving, and a `menu import` from
    another process still works beside it."""
    import subprocess
    from support import BIN, MENU_FILE, run_cli, START_TIMEOUT
    first = start_server()
    assert first.add(quantity=2).status_code == 200
    p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--store", "sqlite:%s" % first.db],
                       capture_output=True, timeout=START_TIMEOUT, stdin=subprocess.DEVNULL,
                       env={"TABLECART_AUTH": "none", "PATH": "/usr/bin:/bin"})
    assert p.returncode == 1, p.stderr
    assert p.stderr.decode().strip().endswith(
        "store: another tablecart (pid %d) serves %s (one server per SQLite file; many "
        "instances share redis://)" % (first.proc.pid, first.db))
    r = run_cli("menu", "import", MENU_FILE, "--store", "sqlite:%s" % first.db)
    assert r.returncode == 0, r.stderr
    assert envelope(first.get_cart())["items"][0]["quantity"] == 2
