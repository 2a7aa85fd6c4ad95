"""Many connections: 2,000 subscribers (1,000 SSE + 1,000 WebSocket) over 200
tables; one change per table reaches exactly that table's subscribers, and
nothing else reaches anybody (a second change per table is the very next
thing every subscriber sees)."""

import asyncio
import time

import websockets

from support import IO_TIMEOUT, SCALE, envelope, parse_json
from live_support import conn_gauge, many_tables_menu, raise_nofile, wait_gauge

N_TABLES = 200
SSE_PER_TABLE = 5
WS_PER_TABLE = 5
DEADLINE = 60 * SCALE  # for each phase


class AsyncSSE:
    """A strict enough SSE reader over asyncio streams (chunked)."""

    def __init__(self, table):
        self.table = table
        self.pending = []

    async def open(self, port):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(("GET /api/store/order/sse/%d HTTP/1.1\r\nHost: x\r\n\r\n" % self.table).encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        assert b"\r\nTransfer-Encoding: chunked\r\n" in head, head

    async def next_event(self):
        while not self.pending:
            size_line = await self.reader.readuntil(b"\r\n")
            size = int(size_line[:-2], 16)
            assert size > 0, "stream ended on table %d" % self.table
            chunk = await self.reader.readexactly(size + 2)
            assert chunk.endswith(b"\r\n")
            text = chunk[:-2].decode("utf-8")
            assert text.endswith("\n\n"), text[-50:]
            for block in text[:-2].split("\n\n"):
                fields = {}
                for ln in block.split("\n"):
                    k, _, v = ln.partition(":")
                    if v.startswith(" "):  # the SSE grammar's optional space (none is sent)
                        v = v[1:]
                    assert k not in fields, block
                    fields[k] = v
                if fields.get("event") != "presence":  # beyond the seed: not looked at here
                    self.pending.append(fields)
        return self.pending.pop(0)

    async def next_update(self):
        ev = await self.next_event()
        assert ev.get("event") == "cart_update", ev
        data = parse_json(ev["data"])
        assert ev["id"] == str(data["version"]), ev
        return data

    def close(self):
        self.writer.close()


class AsyncWS:
    def __init__(self, table):
        self.table = table

    async def open(self, port):
        self.ws = await websockets.connect("ws://127.0.0.1:%d/ws/cart/%d" % (port, self.table),
                                          ping_interval=None, compression=None,
                                          open_timeout=DEADLINE, close_timeout=5)

    async def next_message(self):
        m = parse_json(await self.ws.recv())
        while m["type"] == "presence":  # beyond the seed: not looked at here
            m = parse_json(await self.ws.recv())
        return m

    async def next_update(self):
        m = await self.next_message()
        assert m["type"] == "cart_update" and m["message"] == "购物车更新", m
        return m["data"]

    def close(self):
        return self.ws.close()


async def gather_in_batches(coros, batch=200):
    out = []
    for i in range(0, len(coros), batch):
        out += await asyncio.wait_for(asyncio.gather(*coros[i:i + batch]), DEADLINE)
    return out


def test_2000_subscribers_200_tables(start_server, tmp_path):
    raise_nofile(N_TABLES * (SSE_PER_TABLE + WS_PER_TABLE) + 1000)
    menu = tmp_path / "many.json"
    tables = many_tables_menu(menu, N_TABLES)
    server = start_server("--heartbeat", "3600", "--ws-ping", "3600", menu=menu)
    sess = server.session

    def change(table, cuisine, qty):
        r = sess.post(server.api("/store/order/cart/add"), timeout=IO_TIMEOUT,
                      json={"tableId": table, "cuisineId": cuisine, "quantity": qty})
        return envelope(r)

    async def main():
        loop = asyncio.get_running_loop()
        subs = []
        for t in tables:
            subs += [AsyncSSE(t) for _ in range(SSE_PER_TABLE)] + [AsyncWS(t) for _ in range(WS_PER_TABLE)]
        t0 = time.monotonic()
        try:
            await gather_in_batches([s.open(server.port) for s in subs])

            async def hello(s):
                if isinstance(s, AsyncSSE):
                    ev = await s.next_event()
                    assert ev == {"retry": "3000", "event": "connected", "data": "连接成功"}, ev
                else:
                    m = await s.next_message()
                    assert m["type"] == "connected" and m["data"] is None, m
                data = await s.next_update()
                assert data["tableId"] == s.table and data["version"] == 0 and data["items"] == [], data

            await gather_in_batches([hello(s) for s in subs])
            opened = time.monotonic() - t0
            assert conn_gauge(server, "sse") == N_TABLES * SSE_PER_TABLE
            assert conn_gauge(server, "ws") == N_TABLES * WS_PER_TABLE

            for rnd, (cuisine, qty_of) in enumerate([(7001, lambda i: i % 9 + 1), (7002, lambda i: 1)],
                                                     start=1):
                posted = {}
                for i, t in enumerate(tables):
                    posted[t] = await loop.run_in_executor(None, change, t, cuisine, qty_of(i))
                    assert posted[t]["version"] == rnd

                async def expect(s):
                    data = await s.next_update()
                    # exactly its own table's change, the one just made, nothing before it
                    assert data == posted[s.table], (s.table, data)

                await gather_in_batches([expect(s) for s in subs])
            print("opened %d subscribers in %.1fs, whole test %.1fs"
                  % (len(subs), opened, time.monotonic() - t0))
        finally:
            for s in subs:
                if isinstance(s, AsyncSSE) and hasattr(s, "writer"):
                    s.close()
            await asyncio.gather(*[s.close() for s in subs if isinstance(s, AsyncWS) and hasattr(s, "ws")],
                                 return_exceptions=True)

    asyncio.run(main())
    wait_gauge(server, "sse", 0, timeout=DEADLINE)
    wait_gauge(server, "ws", 0, timeout=DEADLINE)
