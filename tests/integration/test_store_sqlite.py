"""What only the SQLite store does (the Redis suite re-runs test_store.py, not this file)."""

import pytest

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
        "store: sqlite %s: another tablecart (pid %d) serves it (one server per SQLite file; "
        "many instances share redis://)" % (first.db, first.proc.pid))
    r = run_cli("menu", "import", MENU_FILE, "--store", "sqlite:%s" % first.db)
    assert r.returncode == 0, r.stderr
    assert envelope(first.get_cart())["items"][0]["quantity"] == 2


GONE_LINE = ("store: sqlite %s: the database file was removed or replaced while serving; changes "
             "are refused (503) until it is back at that path")


WAL_GONE_LINE = ("store: sqlite %s: its -wal file was removed or replaced while serving; changes "
                 "are refused (503) until it is back at that path or the server is restarted")


def _healthz(s):
    import requests
    return requests.get(s.url("/healthz"), timeout=5).status_code


@pytest.mark.parametrize("suffix, line, back", [
    ("", GONE_LINE, "the database file is back; serving changes"),
    ("-wal", WAL_GONE_LINE, "its -wal file is back; serving changes"),
])
def test_database_file_renamed_while_serving_refuses_changes_until_it_is_back(start_server,
                                                                              suffix, line, back):
    """SQLite goes on writing to a file renamed or removed under it, so every
    change acknowledged after that was lost at the next start (found in review:
    `rm tablecart.db*` while serving, then two adds answered 200, /healthz 200,
    nothing logged, and after a restart the carts were empty; the -wal file
    alone was not noticed either, when the check looked at the database file
    only, and a kill -9 lost what the checkpointer had not copied yet). The
    writer looks at both four times a second: while one is not at its path,
    changes are 503, /healthz is 503 and one error line says so; the file put
    back, the server goes on."""
    import os
    from support import IO_TIMEOUT, error, wait_until
    s = start_server()
    assert envelope(s.add(quantity=2))["version"] == 1
    path = str(s.db) + suffix
    os.rename(path, path + ".moved")
    wait_until(lambda: _healthz(s) == 503, IO_TIMEOUT, "/healthz 503")
    assert error(s.add(quantity=1), 503) == line % s.db
    assert s.cart()["version"] == 1 and s.cart()["items"][0]["quantity"] == 2
    assert s.stderr().count("error " + line % s.db) == 1
    os.rename(path + ".moved", path)
    wait_until(lambda: _healthz(s) == 200, IO_TIMEOUT, "/healthz 200")
    assert "info store: sqlite %s: %s" % (s.db, back) in s.stderr()
    assert envelope(s.add(quantity=1))["version"] == 2
    s.kill9()
    s2 = start_server(db=s.db)
    got = s2.cart()
    assert got["version"] == 2 and got["items"][0]["quantity"] == 3


def test_database_files_removed_while_serving_nothing_acknowledged_after(start_server):
    """`rm tablecart.db*` by an operator: no change is acknowledged from the
    moment the server saw it, so none is lost with the file."""
    import os
    from support import IO_TIMEOUT, error, wait_until
    s = start_server()
    assert envelope(s.add(quantity=2))["version"] == 1
    for suffix in ("", "-wal", "-shm"):
        os.unlink(str(s.db) + suffix)
    wait_until(lambda: _healthz(s) == 503, IO_TIMEOUT, "/healthz 503")
    for _ in range(3):
        assert error(s.add(quantity=1), 503) == GONE_LINE % s.db
    assert s.cart()["version"] == 1
    rc, err = s.stop()
    assert rc == 0, err
    assert err.count("error " + GONE_LINE % s.db) == 1


def test_database_file_removed_then_a_backup_restored_starts_on_the_backup(start_server,
                                                                          tmp_path):
    """`rm tablecart.db` alone, then the way back docs/operations.md gives: stop the
    server, put a backup at the path, start it. SQLite leaves the -wal and -shm of a
    removed file behind when it closes, and the next start applied them to the
    backup (found in review: the backup of version 3 came up at a later version,
    or as "database disk image is malformed"). The server moves them aside as it
    stops, and the backup is served as it was."""
    import glob
    import os
    import shutil
    import sqlite3
    from support import IO_TIMEOUT, wait_until
    s = start_server()
    for _ in range(3):
        envelope(s.add(quantity=1))
    backup = tmp_path / "backup.db"
    src, dst = sqlite3.connect(str(s.db)), sqlite3.connect(str(backup))
    src.backup(dst)
    src.close()
    dst.close()
    for _ in range(20):
        envelope(s.add(cuisine=1002, quantity=1))
    os.unlink(str(s.db))
    wait_until(lambda: _healthz(s) == 503, IO_TIMEOUT, "/healthz 503")
    rc, err = s.stop()
    assert rc == 0, err
    assert not os.path.exists(str(s.db) + "-wal") and not os.path.exists(str(s.db) + "-shm")
    aside = sorted(os.path.basename(p) for p in glob.glob(str(s.db) + "-*.orphaned-*"))
    pid = s.proc.pid
    assert aside == ["%s-shm.orphaned-%d" % (s.db.name, pid), "%s-wal.orphaned-%d" % (s.db.name, pid)]
    assert ("are moved aside (%s-wal.orphaned-%d and %s-shm.orphaned-%d)"
            % (s.db, pid, s.db, pid)) in err
    shutil.copy(backup, str(s.db))
    s2 = start_server(db=s.db)
    got = s2.cart()
    assert got["version"] == 3 and [(i["cuisineId"], i["quantity"]) for i in got["items"]] == [
        (1001, 3)]
    rc, err = s2.stop()
    assert rc == 0, err
    db = sqlite3.connect(str(s.db))
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()


def test_a_damaged_carts_table_is_503_and_so_is_healthz(start_server):
    """The carts table's page overwritten while the server was stopped: the
    server starts (it reads carts on their first use), every call on a cart
    is 503, and /healthz says 503 too (found in review: it said up)."""
    import sqlite3
    from support import error
    s = start_server()
    envelope(s.add(quantity=1))
    envelope(s.add(table=124, quantity=1))
    assert _healthz(s) == 200
    rc, err = s.stop()
    assert rc == 0, err
    db = sqlite3.connect(str(s.db))
    root = db.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'carts'").fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with open(str(s.db), "r+b") as f:
        f.seek((root - 1) * size)
        f.write(bytes((i * 37 + 11) % 256 for i in range(size)))
    s2 = start_server(db=s.db)
    assert _healthz(s2) == 200  # nothing read yet
    assert error(s2.get_cart(), 503) == ("store: sqlite %s: read cart: database disk image is "
                                         "malformed" % s.db)
    assert _healthz(s2) == 503
    assert "read cart: database disk image is malformed" in s2.stderr()


def test_file_size_limit_reached_while_serving_answers_503_and_recovers(start_server):
    """A write past RLIMIT_FSIZE (a quota, `ulimit -f`, systemd's LimitFSIZE)
    raises SIGXFSZ, whose default action killed the server mid-commit (exit
    153, every connection cut; found in review). The signal is ignored, so the
    write fails (EFBIG) as on a full disk: the change is answered 503 and
    pushed to nobody, /healthz is 503, and once the limit is lifted the server
    goes on from the last acknowledged version, without a restart."""
    import os
    import resource
    from support import IO_TIMEOUT, error, wait_until
    import requests
    s = start_server()
    last = envelope(s.add(quantity=1))
    assert last["version"] == 1
    stream = requests.get(s.api("/store/order/sse/123"), stream=True, timeout=IO_TIMEOUT)
    lines = stream.iter_lines(decode_unicode=True)

    def versions_until(v):
        got = []
        for line in lines:
            if line.startswith("data:") and '"version"' in line:
                import json
                d = json.loads(line[5:])
                got.append((d.get("data") or d)["version"])
                if got[-1] >= v:
                    return got
        raise AssertionError("stream ended")

    assert versions_until(1) == [1]
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    size = max(os.path.getsize(str(s.db) + sfx) for sfx in ("", "-wal"))
    resource.prlimit(s.proc.pid, resource.RLIMIT_FSIZE, (size, hard))
    refused = None
    for _ in range(200):
        r = s.clear() if last["items"] else s.add(quantity=1)
        if r.status_code != 200:
            refused = r
            break
        last = envelope(r)
    assert refused is not None, "no write reached the limit"
    error(refused, 503)
    assert s.alive()
    assert _healthz(s) == 503
    assert s.cart()["version"] == last["version"]
    resource.prlimit(s.proc.pid, resource.RLIMIT_FSIZE, (hard, hard))
    after = envelope(s.add(quantity=1))
    assert after["version"] == last["version"] + 1
    assert _healthz(s) == 200
    # every acknowledged version pushed once, in order; the refused one never
    assert versions_until(after["version"]) == list(range(2, after["version"] + 1))
    stream.close()
    s.kill9()
    s2 = start_server(db=s.db)
    got = s2.cart()
    assert got["version"] == after["version"] and got["items"] == after["items"]


def test_read_only_database_file_refuses_to_start(tmp_path):
    """A tablecart database its user cannot write (chmod 444, a file copied in
    as another user) was opened read-only by SQLite without a word: the server
    started, /healthz answered 200, and every change was 503 'attempt to write
    a readonly database', with a checkpoint error logged every second (found in
    review). It is a store that cannot be used: exit 1 and one line saying
    why, before anything listens."""
    import shutil
    import subprocess
    import tempfile
    from support import BIN, MENU_FILE, START_TIMEOUT, run_cli
    work = tempfile.mkdtemp(dir="/tmp")  # pytest's folders are 0700: nobody could not get in
    try:
        os_ = __import__("os")
        os_.chmod(work, 0o777)  # the server's own folder: it may make t.db-wal and t.db-shm
        db = work + "/t.db"
        r = run_cli("menu", "import", MENU_FILE, "--store", "sqlite:%s" % db)
        assert r.returncode == 0, r.stderr
        os_.chmod(db, 0o444)
        cmd = [BIN, "serve", "--listen", "127.0.0.1:0", "--store", "sqlite:%s" % db]
        if os_.geteuid() == 0:  # root writes whatever the mode: run as nobody
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, cwd=work,
                             env={"TABLECART_AUTH": "none", "PATH": "/usr/bin:/bin"})
        try:
            out, err = p.communicate(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise AssertionError("started on a read-only database: %r" % out)
        assert p.returncode == 1, err
        assert out == b""
        assert err.decode().splitlines()[-1] == (
            "tablecart: store: sqlite %s: the database file is read-only (this user may not "
            "write it)" % db)
    finally:
        shutil.rmtree(work)


def _start_failure(cmd, work, prefix=()):
    """Runs `serve` that must not start: its exit status, stdout and stderr."""
    import subprocess
    from support import BIN, START_TIMEOUT
    p = subprocess.run(list(prefix) + [BIN, "serve", "--listen", "127.0.0.1:0"] + cmd,
                       capture_output=True, timeout=START_TIMEOUT + 10, stdin=subprocess.DEVNULL,
                       cwd=work, env={"TABLECART_AUTH": "none", "PATH": "/usr/bin:/bin"})
    return p.returncode, p.stdout.decode(), p.stderr.decode()


NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


def test_store_start_failures_say_one_line_naming_the_path_and_what_is_wrong():
    """Each way a SQLite store cannot be opened at start says so in ONE line
    (exit 1, nothing on stdout) that names the path and what is wrong, not an
    internal step: before, a folder that does not exist, a path that is a
    folder and a folder the user may not write all read 'unable to open
    database file'; an existing database in a folder the user may not write
    read 'read schema version: attempt to write a readonly database', a file
    that is not SQLite 'read schema version: file is not a database', a
    database another process holds locked 'begin schema: database is locked'
    a file size limit of 0 'enable WAL: disk I/O error' and a damaged file
    'load menu: database disk image is malformed' -- each of the last five
    twice (an error log line, then the same 'tablecart: ...')."""
    import os
    import shutil
    import sqlite3
    import tempfile
    from support import MENU_FILE, run_cli
    work = tempfile.mkdtemp(dir="/tmp")  # pytest's folders are 0700: nobody could not get in
    try:
        os.chmod(work, 0o755)
        as_nobody = NOBODY if os.geteuid() == 0 else ()
        cases = []
        cases.append((["--store", "sqlite:%s/nope/t.db" % work], (),
                      "store: sqlite %s/nope/t.db: the folder %s/nope does not exist"
                      % (work, work)))
        os.mkdir(work + "/d")
        cases.append((["--store", "sqlite:%s/d" % work], (),
                      "store: sqlite %s/d: is a folder, not a database file" % work))
        os.mkdir(work + "/ro", 0o755)
        cases.append((["--store", "sqlite:%s/ro/t.db" % work], as_nobody,
                      "store: sqlite %s/ro/t.db: this user may not write in the folder %s/ro "
                      "(SQLite makes the database and its -wal and -shm files there)"
                      % (work, work)))
        os.mkdir(work + "/ro2", 0o777)
        r = run_cli("menu", "import", MENU_FILE, "--store", "sqlite:%s/ro2/t.db" % work)
        assert r.returncode == 0, r.stderr
        os.chmod(work + "/ro2/t.db", 0o666)
        os.chmod(work + "/ro2", 0o755)
        cases.append((["--store", "sqlite:%s/ro2/t.db" % work], as_nobody,
                      "store: sqlite %s/ro2/t.db: this user may not write in the folder %s/ro2 "
                      "(SQLite makes the database and its -wal and -shm files there)"
                      % (work, work)))
        with open(work + "/text.db", "w") as f:
            f.write("not a database, " * 10)
        cases.append((["--store", "sqlite:%s/text.db" % work], (),
                      "store: sqlite %s/text.db: not a SQLite database file (file is not a "
                      "database)" % work))
        cases.append((["--store", "sqlite:%s/big.db" % work], ("prlimit", "--fsize=0"),
                      "store: sqlite %s/big.db: cannot write the database: File too large (the "
                      "file size limit: ulimit -f, LimitFSIZE)" % work))
        r = run_cli("menu", "import", MENU_FILE, "--store", "sqlite:%s/bad.db" % work)
        assert r.returncode == 0, r.stderr
        with open(work + "/bad.db", "r+b") as f:  # the menu's pages, after the schema's
            f.seek(4096)
            f.write(b"\xff" * 2000)
        cases.append((["--store", "sqlite:%s/bad.db" % work], (),
                      "store: sqlite %s/bad.db: the database file is damaged (database disk image "
                      "is malformed): restore a backup" % work))
        # The remembered answers' page damaged (read after the menu's): the
        # same line, once (it said 'read remembered answers: …' twice).
        r = run_cli("menu", "import", MENU_FILE, "--store", "sqlite:%s/badidem.db" % work)
        assert r.returncode == 0, r.stderr
        con = sqlite3.connect(work + "/badidem.db")
        roots = [r for (r,) in con.execute(
            "SELECT rootpage FROM sqlite_schema WHERE tbl_name = 'idem' AND rootpage > 0")]
        size = con.execute("PRAGMA page_size").fetchone()[0]
        con.close()
        with open(work + "/badidem.db", "r+b") as f:  # the table and its index
            for root in roots:
                f.seek((root - 1) * size)
                f.write(b"\xff" * size)
        cases.append((["--store", "sqlite:%s/badidem.db" % work], (),
                      "store: sqlite %s/badidem.db: the database file is damaged (database disk "
                      "image is malformed): restore a backup" % work))
        for name, sql in (("theirs", "CREATE TABLE stores (store_id INTEGER PRIMARY KEY, name TEXT);"),
                          ("newer", "CREATE TABLE later (x INTEGER); PRAGMA user_version=99;")):
            con = sqlite3.connect("%s/%s.db" % (work, name))
            con.executescript(sql)
            con.close()
        cases.append((["--store", "sqlite:%s/theirs.db" % work], (),
                      "store: sqlite %s/theirs.db: not a tablecart database (it holds tables but "
                      "no tablecart schema version)" % work))
        cases.append((["--store", "sqlite:%s/newer.db" % work], (),
                      "store: sqlite %s/newer.db: schema version 99 is newer than this build's (4)"
                      % work))
        for cmd, prefix, line in cases:
            rc, out, err = _start_failure(cmd, work, prefix)
            assert (rc, out, err.splitlines()) == (1, "", ["tablecart: " + line]), cmd

        r = run_cli("menu", "import", MENU_FILE, "--store", "sqlite:%s/held.db" % work)
        assert r.returncode == 0, r.stderr
        con = sqlite3.connect(work + "/held.db", isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        try:
            rc, out, err = _start_failure(["--store", "sqlite:%s/held.db" % work], work)
        finally:
            con.close()
        assert (rc, out, err.splitlines()) == (1, "", [
            "tablecart: store: sqlite %s/held.db: another process holds it locked and did not "
            "let go within 5 s (database is locked)" % work])
    finally:
        shutil.rmtree(work)




def test_shm_file_removed_while_serving_changes_go_on_and_survive_kill9(start_server):
    """`rm tablecart.db-shm` alone: the -shm is SQLite's index of the -wal,
    which the server keeps in the file it has mapped, so changes go on being
    acknowledged, a second server is still refused, and after kill -9 every
    acknowledged change is there (the next start rebuilds the index)."""
    import os
    import subprocess
    from support import BIN
    s = start_server()
    assert envelope(s.add(quantity=1))["version"] == 1
    os.unlink(str(s.db) + "-shm")
    for q in range(2, 5):
        assert envelope(s.add(quantity=1))["version"] == q
    assert _healthz(s) == 200
    second = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--store",
                             "sqlite:" + str(s.db)], capture_output=True, text=True, timeout=30)
    assert second.returncode != 0 and "another tablecart" in second.stderr, second.stderr
    s.kill9()
    s2 = start_server(db=s.db)
    got = s2.cart()
    assert got["version"] == 4 and got["items"][0]["quantity"] == 4
    assert envelope(s2.add(quantity=1))["version"] == 5


def test_wal_file_removed_while_serving_nothing_acknowledged_is_lost_at_restart(start_server):
    """`rm tablecart.db-wal` alone: changes are refused from the moment the
    server saw it, and what was acknowledged before is in the database file
    after a stop and a new start."""
    import os
    from support import IO_TIMEOUT, error, wait_until
    s = start_server()
    for q in range(1, 4):
        assert envelope(s.add(quantity=1))["version"] == q
    os.unlink(str(s.db) + "-wal")
    wait_until(lambda: _healthz(s) == 503, IO_TIMEOUT, "/healthz 503")
    assert error(s.add(quantity=1), 503) == WAL_GONE_LINE % s.db
    rc, err = s.stop()
    assert rc == 0, err
    assert err.count("error " + WAL_GONE_LINE % s.db) == 1
    s2 = start_server(db=s.db)
    got = s2.cart()
    assert got["version"] == 3 and got["items"][0]["quantity"] == 3
    assert envelope(s2.add(quantity=1))["version"] == 4
