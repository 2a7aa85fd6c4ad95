#!/usr/bin/env bash
# `make run`: serves the demo restaurant at http://127.0.0.1:8080 on the
# embedded SQLite store (./tablecart.db). The server prints a link per table.
# Any argument is passed on to `tablecart serve` (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "tablecart demo: open a table's link below on two phones or two browser tabs."
echo "Ctrl-C stops the server (the cart is kept in ./tablecart.db)."
exec build/tablecart serve --listen "${TABLECART_LISTEN:-127.0.0.1:8080}" \
    --store "${TABLECART_STORE:-sqlite:./tablecart.db}" --web web "$@"
