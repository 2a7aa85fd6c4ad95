"""Runs a program with openat2(2) failing ENOSYS, as on a kernel before 5.6 or under a seccomp
filter written before openat2 existed:

    python3 no_openat2.py [--notify-to SOCKET] PROGRAM [ARG...]

It installs a seccomp filter (a BPF program built here: no package, no LD_PRELOAD, so the ASan
build runs under it too), checks that openat2 now fails ENOSYS, and execs PROGRAM in its place;
the filter stays on through exec and in every thread. The static files' tests (test_static.py)
run the server this way to cover src/http/static.c's fallback.

--notify-to SOCKET: every openat(2) with O_NOFOLLOW and without O_PATH (the open of a file to
serve) also waits for a supervisor, which gets the filter's listener (SCM_RIGHTS over the Unix
socket SOCKET) and may change the folder before it lets the call go on: a test of what is
renamed between a check and an open.
"""

import ctypes
import errno
import fcntl
import os
import platform
import select
import socket
import struct
import sys
import threading

import seccomp_bpf
from seccomp_bpf import (BPF_JEQ_K, BPF_JSET_K, BPF_LD_W_ABS, BPF_RET_K, SECCOMP_RET_ALLOW,
                         SECCOMP_RET_ERRNO, SECCOMP_RET_USER_NOTIF, SockFilter, offset_arg)

# openat2's number on x86-64, i386, arm64, arm, riscv, s390x and ppc64 (the shared table since
# Linux 5.1); not on alpha or mips, where the tests do not run.
SYS_OPENAT2 = 437

# openat differs between architectures (--notify-to only).
SYS_OPENAT = {"x86_64": 257, "aarch64": 56}


def install(notify=False):
    """From now on openat2 fails ENOSYS in this process and all it execs. notify: the opens
    described above wait for a supervisor; returns the listener's descriptor."""
    allow = SockFilter(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW)
    prog = [
        SockFilter(BPF_LD_W_ABS, 0, 0, 0),  # A = seccomp_data.nr
        SockFilter(BPF_JEQ_K, 0, 1, SYS_OPENAT2),  # openat2? next; else skip one
        SockFilter(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS),
    ]
    if notify:
        prog += [
            SockFilter(BPF_JEQ_K, 0, 4, SYS_OPENAT[platform.machine()]),  # else allow
            SockFilter(BPF_LD_W_ABS, 0, 0, offset_arg(2)),  # A = the open's flags
            SockFilter(BPF_JSET_K, 2, 0, os.O_PATH),  # O_PATH: allow
            SockFilter(BPF_JSET_K, 0, 1, os.O_NOFOLLOW),  # no O_NOFOLLOW: allow
            SockFilter(BPF_RET_K, 0, 0, SECCOMP_RET_USER_NOTIF),
        ]
    prog.append(allow)
    listener = seccomp_bpf.install(prog, new_listener=notify)
    libc = ctypes.CDLL(None, use_errno=True)
    # The filter works: openat2(AT_FDCWD, ".", NULL, 0) is EFAULT or EINVAL with openat2 there.
    if libc.syscall(ctypes.c_long(SYS_OPENAT2), ctypes.c_long(-100), ctypes.c_char_p(b"."),
                    ctypes.c_void_p(None), ctypes.c_size_t(0)) != -1 \
            or ctypes.get_errno() != errno.ENOSYS:
        raise OSError(ctypes.get_errno(), "openat2 still there under the filter")
    return listener


# _IOWR('!', 0, struct seccomp_notif) (80 bytes) and _IOWR('!', 1, struct seccomp_notif_resp)
SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1


class Supervisor:
    """The test's side of --notify-to SOCKET: takes the listener and lets every held open go
    on; before it does, the next one after arm(fn) first runs fn (once)."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)
        self.lock = threading.Lock()
        self.armed = None
        self.held = 0  # opens held and let go on
        self.ran = 0  # of them, those an armed fn ran before
        self.errors = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def arm(self, fn):
        with self.lock:
            self.armed = fn

    def _run(self):
        try:
            conn, _ = self.sock.accept()
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 1, 1)
            listener = fds[0]
            poll = select.poll()
            poll.register(listener, select.POLLIN)
            # POLLHUP once no process is left under the filter (Linux 5.8).
            while not any(ev & (select.POLLHUP | select.POLLERR) for _, ev in poll.poll()):
                req = bytearray(80)
                try:
                    fcntl.ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req)
                except OSError as e:
                    if e.errno in (errno.ENOENT, errno.EINTR):
                        continue  # the caller died before it was read
                    raise
                with self.lock:
                    fn, self.armed = self.armed, None
                if fn:
                    fn()
                    self.ran += 1
                self.held += 1
                resp = struct.pack("=QqiI", struct.unpack_from("=Q", req)[0], 0, 0,
                                   SECCOMP_USER_NOTIF_FLAG_CONTINUE)
                try:
                    fcntl.ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp)
                except OSError as e:
                    if e.errno != errno.ENOENT:
                        raise
            os.close(listener)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(e)
        finally:
            self.sock.close()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    argv = sys.argv[1:]
    notify_to = None
    if argv[0] == "--notify-to":
        notify_to, argv = argv[1], argv[2:]
    listener = install(notify=notify_to is not None)
    if notify_to is not None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(notify_to)
            socket.send_fds(sock, [b"L"], [listener])
        os.close(listener)
    os.execv(argv[0], argv)
