"""Seccomp filters as classic BPF programs, built and installed with ctypes: no package, no
LD_PRELOAD, so the ASan build runs under them too. The launchers no_openat2.py and
unit_filter.py build their programs from this; a filter stays on through exec and in every
thread."""

import ctypes
import platform

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000  # | errno
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_ALLOW = 0x7FFF0000

BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_ALU_AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
BPF_JA = 0x05  # BPF_JMP | BPF_JA
BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
BPF_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
BPF_RET_K = 0x06  # BPF_RET | BPF_K

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
OFFSET_NR = 0
OFFSET_ARCH = 4


def offset_arg(i, high=False):
    """The offset of the low (or high) 32 bits of argument i (little-endian)."""
    return 16 + 8 * i + (4 if high else 0)


# seccomp(2) differs between architectures (a new listener needs it rather than prctl).
SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def assemble(prog):
    """SockFilters from (code, jt, jf, k) tuples and label names (strings, each marking the
    instruction after it). jt and jf of a conditional jump, and k of a BPF_JA, may name a
    label: they become the forward offset to it."""
    labels, insns = {}, []
    for item in prog:
        if isinstance(item, str):
            assert item not in labels, item
            labels[item] = len(insns)
        else:
            insns.append(item)

    def offset(at, target, limit):
        if not isinstance(target, str):
            return target
        off = labels[target] - (at + 1)
        assert 0 <= off <= limit, (target, off)
        return off

    out = []
    for at, (code, jt, jf, k) in enumerate(insns):
        if code == BPF_JA:
            k = offset(at, k, 0xFFFFFFFF)
        out.append(SockFilter(code, offset(at, jt, 255), offset(at, jf, 255), k))
    return out


def install(prog, new_listener=False):
    """Installs the filter prog (a list of SockFilter) on this process, after
    PR_SET_NO_NEW_PRIVS. new_listener: through seccomp(2) with
    SECCOMP_FILTER_FLAG_NEW_LISTENER; returns the listener's descriptor (else None)."""
    filters = (SockFilter * len(prog))(*prog)
    fprog = SockFprog(len(prog), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                           ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if new_listener:
        listener = libc.syscall(ctypes.c_long(SYS_SECCOMP[platform.machine()]),
                                ctypes.c_long(SECCOMP_SET_MODE_FILTER),
                                ctypes.c_long(SECCOMP_FILTER_FLAG_NEW_LISTENER),
                                ctypes.c_void_p(ctypes.addressof(fprog)))
        if listener < 0:
            raise OSError(ctypes.get_errno(), "seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER)")
        return listener
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
    return None
