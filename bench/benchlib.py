"""What the benchmarks share: a generated menu and a server started on
127.0.0.1:0 with a fresh SQLite database in a temporary folder."""

import json
import os
import re
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BIN = os.environ.get("TABLECART_BIN", os.path.join(REPO, "build", "tablecart"))
DISH = 9001  # the one dish of the generated menu


def write_menu(path, n_tables):
    """A menu file with one store, n_tables tables (ids from 5001) and dish DISH.
    Returns the table ids."""
    tables = list(range(5001, 5001 + n_tables))
    menu = {"stores": [{"storeId": 9, "name": "Bench", "tables": [
        {"tableId": t, "tableNumber": "B%04d" % (t - 5000)} for t in tables],
        "cuisines": [{"cuisineId": DISH, "cuisineName": "面", "cuisineType": 1,
                      "cuisineImage": "https://example.com/9001.jpg", "unitPrice": 18.00}]}]}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(menu, f, ensure_ascii=False)
    return tables


def start_server(binary, tmp, menu, *flags):
    """Starts `tablecart serve` with the menu and flags; returns (process, port)."""
    # Figures of the server's work: no line per request (warn drops the access log's
    # info lines anyway; off skips even their formatting).
    env = dict(os.environ, TABLECART_AUTH="none", TABLECART_LOG_LEVEL="warn",
               TABLECART_ACCESS_LOG="off")
    err = open(os.path.join(tmp, "stderr.log"), "wb")
    p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0",
                          "--store", "sqlite:%s" % os.path.join(tmp, "bench.db"), "--menu", menu]
                         + list(flags),
                         stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, env=env)
    line = p.stdout.readline().decode().strip()
    m = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)", line)
    if not m:
        p.kill()
        raise RuntimeError("server did not start: %r (see %s)" % (line, err.name))
    return p, int(m.group(1))
