"""Helpers of the Redis suite: a redis-server of the test's own with a tiny
RESP client, a ServerFactory for --store redis://, and small waits."""

import signal
import socket
import subprocess
import threading
import time

from support import IO_TIMEOUT, ServerFactory, free_port, wait_until

REDIS_SERVER = "/usr/bin/redis-server"


class RespError(Exception):
    pass


class RedisServer:
    """A redis-server of our own on 127.0.0.1, with a tiny RESP client."""

    def __init__(self, workdir, extra=(), auth=None, name="redis"):
        """extra: more redis-server arguments; auth: (user, password) or (password,) that
        command() sends first (a server with requirepass or ACL users)."""
        self.dir = workdir / name
        self.dir.mkdir(exist_ok=True)
        self.extra = list(extra)
        self.auth = auth
        self.proc = None
        self.log = self.dir / "redis.log"
        self.port = None
        self.start()

    def start(self):
        """Starts (again) on the same port and folder: the AOF is reloaded.
        A port taken in between (free_port races other processes) is retried:
        a new port the first time, the same one (a little later) on a restart."""
        assert self.proc is None or self.proc.poll() is not None
        first = self.port is None
        for _ in range(5):
            if first:
                self.port = free_port()
            if self._start_once():
                self.url = "redis://127.0.0.1:%d" % self.port
                return
            time.sleep(0.1)
        raise AssertionError("redis-server would not start:\n%s" % self.log.read_text()[-2000:])

    def _start_once(self):
        cmd = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir),
               "--daemonize", "no", "--logfile", str(self.log)] + self.extra
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

        def up():
            if self.proc.poll() is not None:
                return "exited"
            try:
                return self.command("PING") == "PONG"
            except (OSError, RespError):
                return False

        return wait_until(up, IO_TIMEOUT * 2, "redis-server answering PING") is True

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM (what a service manager does), waits for the exit."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(IO_TIMEOUT * 2)

    def kill9(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(IO_TIMEOUT)

    def pause(self):
        """SIGSTOP: the port still accepts, nothing answers."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    # -- RESP ---------------------------------------------------------------
    def command(self, *args, timeout=IO_TIMEOUT):
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            out = self._encode(("AUTH",) + tuple(self.auth)) if self.auth else b""
            s.sendall(out + self._encode(args))
            f = s.makefile("rb")
            if self.auth:
                self._read(f)
            return self._read(f)

    @staticmethod
    def _encode(args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode("utf-8")
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        return out

    def _read(self, f):
        line = f.readline()
        if not line:
            raise OSError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)[:-2]
            return data.decode("utf-8")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read(f) for _ in range(n)]
        raise AssertionError("bad RESP line %r" % line)


class RedisServerFactory(ServerFactory):
    """ServerFactory whose servers use a Redis store (the last --store wins)."""

    def __init__(self, tmp_path, redis):
        super().__init__(tmp_path)
        self.redis = redis

    def __call__(self, *args, redis=None, url=None, **kw):
        url = url or (redis or self.redis).url
        kw.pop("db", None)  # restarts find their data in Redis
        return super().__call__(*args, "--store", url, **kw)


def wait_status(fn, status, timeout, what):
    """Polls fn() (a requests call) until it answers status; returns that response."""
    last = []

    def check():
        try:
            r = fn()
        except OSError as e:  # requests' ConnectionError is an OSError
            last[:] = [repr(e)]
            return None
        last[:] = [r.status_code]
        # A tuple: a Response is false when it is not 2xx.
        return (r,) if r.status_code == status else None

    try:
        return wait_until(check, timeout, what, interval=0.05)[0]
    except AssertionError:
        raise AssertionError("%s: last answer %r" % (what, last))


def now():
    return time.monotonic()


class ResetProxy:
    """A TCP proxy in front of Redis that can reset every connection (RST, as a
    crashed host or a firewall does) and refuse new ones the same way.

    One thread per connection pumps both directions with select(), so that
    the reset (SO_LINGER 0, then close) happens in the thread that owns the
    sockets: a socket closed under another thread's blocked recv() would
    stay open until that recv() returns."""

    def __init__(self, target_port):
        import threading
        self.target = target_port
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.url = "redis://127.0.0.1:%d" % self.port
        self.generation = 0  # bumped by reset(): older connections reset themselves
        self.mute_epoch = 0  # bumped by mute_subscribers()
        self.resetting = False
        self.closed = False
        self.cut = None  # cut_after_write(): set once the cut is done
        self.hold = None  # hold_write_reply(): set once the write passed
        self.held = False  # the replies are held until release()
        self.messages_held = False  # hold_messages(): until release_messages()
        self.release_through = None  # release_messages_through(): (channel, version)
        self.released = threading.Event()
        self.replies_held = False  # hold_replies(): until release_replies()
        threading.Thread(target=self._accept, daemon=True).start()

    @staticmethod
    def _rst(sock):
        import struct
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        sock.close()

    def _accept(self):
        import threading
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if self.resetting:
                self._rst(c)
                continue
            threading.Thread(target=self._pump, args=(c, self.generation), daemon=True).start()

    def _pump(self, c, generation):
        import select
        try:
            u = socket.create_connection(("127.0.0.1", self.target), timeout=IO_TIMEOUT)
        except OSError:
            self._rst(c)
            return
        peer = {c: u, u: c}
        epoch, first, is_sub = self.mute_epoch, True, False
        holding, kept = False, b""
        sub_kept = b""
        try:
            while generation == self.generation:
                ready, _, _ = select.select([c, u], [], [], 0.02)
                if holding and not self.held:
                    c.sendall(kept)
                    holding, kept = False, b""
                if sub_kept and not self.messages_held:
                    c.sendall(sub_kept)
                    sub_kept = b""
                if sub_kept and self.release_through is not None:
                    n = self._through(sub_kept, *self.release_through)
                    if n:
                        c.sendall(sub_kept[:n])
                        sub_kept = sub_kept[n:]
                        self.release_through = None
                        self.released.set()
                if kept and not holding and not self.replies_held:
                    c.sendall(kept)
                    kept = b""
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if first and s is c:
                        first, is_sub = False, b"SUBSCRIBE" in data[:32].upper()
                    if is_sub and epoch != self.mute_epoch:
                        continue  # muted: bytes vanish both ways, nothing is closed
                    if s is c and self.hold is not None and not self.hold.is_set() and \
                            b"EVALSHA" in data and b"tablecart:cart:" in data:
                        holding = self.held = True
                        u.sendall(data)
                        self.hold.set()
                        continue
                    if holding and s is u:
                        kept += data
                        continue
                    if is_sub and s is u and (self.messages_held or sub_kept):
                        sub_kept += data
                        continue
                    if not is_sub and s is u and (self.replies_held or kept):
                        kept += data
                        continue
                    if s is c and self.cut is not None and not self.cut.is_set() and \
                            b"EVALSHA" in data and b"tablecart:cart:" in data:
                        self._cut(c, u, data)
                        return
                    peer[s].sendall(data)
        except OSError:
            return
        finally:
            self._rst(c)
            u.close()

    def _cut(self, c, u, data):
        u.sendall(data)
        u.shutdown(socket.SHUT_WR)  # Redis still runs what it read before the FIN
        self._rst(c)  # before any reply can reach the instance
        u.settimeout(IO_TIMEOUT)
        try:
            while u.recv(65536):  # Redis answers, then closes on the FIN
                pass
        except OSError:
            pass
        self.cut.set()

    def cut_after_write(self):
        """The next cart write (an EVALSHA on a cart key) reaches Redis, which runs
        it, and the connection that sent it is reset before its reply comes back:
        the sender cannot know whether it landed. Other connections, the
        subscriber's included, and new ones go on. Returns a threading.Event set
        once Redis ran the write and closed its end."""
        import threading
        self.cut = threading.Event()
        return self.cut

    def hold_write_reply(self):
        """The next cart write (an EVALSHA on a cart key) reaches Redis, which runs
        it, and every reply on the connection that sent it is held back until
        release(): meanwhile the sender's subscriber connection hears the
        write's message and the changes written after it. Returns a
        threading.Event set once the write was passed on."""
        import threading
        self.hold = threading.Event()
        return self.hold

    def release(self):
        """The replies held back by hold_write_reply() go on."""
        self.held = False

    def hold_messages(self):
        """Everything Redis sends on the subscriber connections (messages,
        heartbeats, confirmations) is held back, in order, until
        release_messages(); their commands and the other connections go on.
        Release within the heartbeat's 3.5 s."""
        self.messages_held = True

    def release_messages(self):
        self.messages_held = False

    @staticmethod
    def _through(buf, channel, version):
        """The length of buf's complete RESP replies up to and including the change message of
        version on channel; 0 when it is not in buf yet."""
        pos = 0

        def line(at):
            end = buf.index(b"\r\n", at)
            return buf[at:end], end + 2

        try:
            while pos < len(buf):
                head, at = line(pos)
                assert head[:1] == b"*", head
                items = []
                for _ in range(int(head[1:])):
                    h, at = line(at)
                    if h[:1] == b"$":
                        n = int(h[1:])
                        if at + n + 2 > len(buf):
                            return 0
                        items.append(buf[at:at + n])
                        at += n + 2
                    else:
                        items.append(h[1:])
                pos = at
                if len(items) == 3 and items[0] == b"message" and items[1] == channel and \
                        items[2][:4] in (b"tc3 ", b"tc2 ") and \
                        int(items[2].split(b"\n", 1)[0].split()[3]) == version:
                    return pos
        except ValueError:  # a reply cut short
            return 0
        return 0

    def release_messages_through(self, channel, version):
        """Of what hold_messages() holds back, lets through everything up to and including the
        message of version on channel (bytes); the rest stays held. Returns a threading.Event
        set once it went."""
        self.released = threading.Event()
        self.release_through = (channel, version)
        return self.released

    def hold_replies(self):
        """From now on every reply on the command connections (not the subscriber's) is held
        back, in order, until release_replies(). Release within the command timeout (2 s)."""
        self.replies_held = True

    def release_replies(self):
        self.replies_held = False

    def reset(self):
        """Resets every open connection and every new one until heal()."""
        self.resetting = True
        self.generation += 1

    def mute_subscribers(self):
        """The subscriber connections open now go silent (a dead path without
        FIN or RST); later ones work."""
        self.mute_epoch += 1

    def heal(self):
        self.resetting = False

    def close(self):
        self.closed = True
        self.reset()
        self.lsock.close()
