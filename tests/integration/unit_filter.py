"""Runs a program under the seccomp filter a systemd unit's [Service] lines ask for, as
systemd 252 (Debian 12's) builds it for the service's processes:

    python3 unit_filter.py UNITFILE PROGRAM [ARG...]

PID 1 is not systemd where the tests run, so the unit itself cannot be started; this builds
the same rules as one BPF program (seccomp_bpf.py: no package, so the ASan build runs under it
too), installs it and execs PROGRAM in its place, in every thread and through exec as under
systemd. x86-64 only: the numbers come from its unistd_64.h.

What it models, each as systemd's src/shared/seccomp-util.c does it. systemd installs
separate filters and the kernel takes the harshest answer; here a call outside the allow list
is killed, and the errno rules apply to the calls in it, which comes to the same:
  SystemCallArchitectures=native (required)  a call of another ABI (i386) kills the process
      (under systemd, libseccomp's default kills the thread). x32 calls come as x86-64 with
      bit 30 set in the number: no allowed number has it, so they are killed too (libseccomp's
      own x32 check under systemd; not testable here).
  SystemCallFilter=  the lines in order: the first must be an allow list (systemd adds
      @default to it; a deny list is not modeled); later plain lines add to it, ~ lines take
      away. @groups expand through `systemd-analyze syscall-filter`, nested groups too; names
      this architecture lacks are skipped. A call outside the list kills the process (SIGSYS:
      no SystemCallErrorNumber=), calls newer than systemd's own list too (252 does that; the
      ENOSYS answer for those came in 255).
  MemoryDenyWriteExecute=yes  mmap with PROT_WRITE|PROT_EXEC, mprotect and pkey_mprotect
      with PROT_EXEC, shmat with SHM_EXEC: EPERM (252 does it with seccomp, not PR_SET_MDWE).
  RestrictAddressFamilies=  socket() with a family not allowed: EAFNOSUPPORT (socketpair
      is not filtered, as under systemd).
  RestrictNamespaces=yes  setns: EPERM; clone and unshare with a CLONE_NEW* flag: EPERM;
      clone3: ENOSYS, so that the C library falls back to clone.
  RestrictSUIDSGID=yes  a mode with S_ISUID or S_ISGID to chmod, fchmod, fchmodat(2), mkdir,
      mkdirat, mknod, mknodat, creat, or to open and openat with O_CREAT: EPERM; openat2:
      EPERM (its flags are out of a filter's reach).
  LockPersonality=yes  personality() with anything but PER_LINUX (even the query
      0xffffffff): EPERM.
  RestrictRealtime=yes  sched_setscheduler with a policy other than SCHED_OTHER, SCHED_BATCH
      or SCHED_IDLE: EPERM.
  ProtectKernelModules=, PrivateDevices=, ProtectClock=, ProtectKernelLogs=,
  ProtectHostname=, ProtectKernelTunables=  their groups or calls (@module, @raw-io,
      @clock, syslog, sethostname and setdomainname, _sysctl): EPERM.
  DynamicUser=yes  run as root, the launcher first becomes DYNAMIC_ID (user and group, no
      other groups), an id of the range systemd gives such services: what a service does can
      depend on it (SQLite fchowns a new journal or WAL, a call the filter forbids, only as
      root). Run as another user, it stays that user.
Settings that add seccomp rules this does not model (SystemCallErrorNumber=, SystemCallLog=,
Personality=, User=, a deny-list or errno form of the above) stop it with an error rather than
run a filter unlike the unit's.
"""

import errno
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys

import seccomp_bpf
from seccomp_bpf import (BPF_ALU_AND_K, BPF_JA, BPF_JEQ_K, BPF_JSET_K, BPF_LD_W_ABS, BPF_RET_K,
                         OFFSET_ARCH, OFFSET_NR, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO,
                         SECCOMP_RET_KILL_PROCESS, offset_arg)

UNISTD = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
AUDIT_ARCH_X86_64 = 0xC000003E

PROT_WRITE, PROT_EXEC = 0x2, 0x4
SHM_EXEC = 0o100000
S_ISUID, S_ISGID = 0o4000, 0o2000
O_CREAT = 0o100
# The namespace types systemd 252 knows: cgroup, ipc, net, mnt, pid, user, uts.
CLONE_NEW_ALL = 0x02000000 | 0x08000000 | 0x40000000 | 0x00020000 | 0x20000000 | 0x10000000 \
    | 0x04000000
PER_LINUX = 0
SCHED_OTHER, SCHED_BATCH, SCHED_IDLE = 0, 3, 5

# Whole calls answered EPERM by the Protect*/Private* settings (when the allow list has them).
EPERM_SETTINGS = {
    "ProtectKernelModules": ["@module"],
    "PrivateDevices": ["@raw-io"],
    "ProtectClock": ["@clock"],
    "ProtectKernelLogs": ["syslog"],
    "ProtectHostname": ["sethostname", "setdomainname"],
    "ProtectKernelTunables": ["_sysctl"],
}
DYNAMIC_ID = 61184  # DynamicUser=yes, run as root
NOT_MODELED = ("SystemCallErrorNumber", "SystemCallLog", "Personality")


def unit_settings(text):
    """The [Service] lines of a unit as (key, value) pairs, continuations joined."""
    text = re.sub(r"\\\n\s*", " ", text)
    section, out = None, []
    for ln in text.splitlines():
        ln = ln.strip()
        if not ln or ln.startswith("#"):
            continue
        if ln.startswith("["):
            section = ln
            continue
        if section == "[Service]":
            k, _, v = ln.partition("=")
            out.append((k, v))
    return out


# Calls newer than Debian 12's headers (Linux 6.1) that systemd still resolves (through
# libseccomp 2.5.4) and its groups list; the others they lack (uretprobe) libseccomp lacks too.
NEWER_THAN_HEADERS = {"fchmodat2": 452}


def syscall_numbers(path=UNISTD):
    """{name: number} from `#define __NR_name N` lines, and NEWER_THAN_HEADERS."""
    text = open(path, encoding="ascii").read()
    nr = {m.group(1): int(m.group(2))
          for m in re.finditer(r"^#define __NR_(\w+)\s+(\d+)\s*$", text, re.M)}
    return dict(NEWER_THAN_HEADERS, **nr)


def expand(name, seen=None):
    """The call names of a name or @group (groups through `systemd-analyze syscall-filter`,
    nested ones too)."""
    if not name.startswith("@"):
        return {name}
    seen = set() if seen is None else seen
    if name in seen:
        return set()
    seen.add(name)
    p = subprocess.run([SYSTEMD_ANALYZE, "syscall-filter", name], capture_output=True,
                       timeout=30, check=True)
    lines = [ln.strip() for ln in p.stdout.decode().splitlines()]
    assert lines[0] == name, lines[:2]
    out = set()
    for ln in lines[1:]:
        if ln and not ln.startswith("#"):
            out |= expand(ln, seen)
    return out


def allowed_calls(values):
    """The names the SystemCallFilter= values (in order) allow, with systemd's semantics for
    an allow list."""
    names = None
    for v in values:
        invert = v.startswith("~")
        items = v[1:].split() if invert else v.split()
        if not items:
            raise SystemExit("unit_filter: an empty SystemCallFilter= (a reset) is not modeled")
        if names is None:
            if invert:
                raise SystemExit("unit_filter: a deny-list SystemCallFilter= is not modeled")
            names = expand("@default")
        for item in items:
            if ":" in item:
                raise SystemExit("unit_filter: SystemCallFilter=%s: an errno is not modeled"
                                 % item)
            if invert:
                names -= expand(item)
            else:
                names |= expand(item)
    return names


def address_families(values):
    """The families RestrictAddressFamilies= allows (an allow list)."""
    fams = None
    for v in values:
        if v.startswith("~") or v == "":
            raise SystemExit("unit_filter: RestrictAddressFamilies=%s is not modeled" % v)
        fams = set() if fams is None else fams
        if v != "none":
            fams |= {int(getattr(socket, af)) for af in v.split()}
    return fams


# A rule: (conditions, action); every condition holds -> the action. A condition:
# (argument, kind, value) with kind "mask" ((arg & value) == value, value < 2**32: the high
# half is masked off, as libseccomp's 64-bit SCMP_CMP_MASKED_EQ does), "any" (arg & value
# != 0) or "not_in" (the 64-bit arg is not one of value).
def eperm(*conds):
    return (list(conds), SECCOMP_RET_ERRNO | errno.EPERM)


def rules_for(settings, nr):
    """{call number: [rule]} for the settings that answer allowed calls with an errno."""
    keys = {}
    for k, v in settings:
        keys.setdefault(k, []).append(v)
    for k in NOT_MODELED:
        if k in keys:
            raise SystemExit("unit_filter: %s= is not modeled" % k)
    rules = {}

    def add(name, rule):
        if name in nr:
            rules.setdefault(nr[name], []).append(rule)

    def yes(k):
        v = keys.get(k, ["no"])[-1]
        if v not in ("yes", "true", "on", "1", "no", "false", "off", "0"):
            raise SystemExit("unit_filter: %s=%s is not modeled" % (k, v))
        return v in ("yes", "true", "on", "1")

    if yes("MemoryDenyWriteExecute"):
        add("mmap", eperm((2, "mask", PROT_WRITE | PROT_EXEC)))
        add("mprotect", eperm((2, "mask", PROT_EXEC)))
        add("pkey_mprotect", eperm((2, "mask", PROT_EXEC)))
        add("shmat", eperm((2, "mask", SHM_EXEC)))
    if "RestrictAddressFamilies" in keys:
        fams = address_families(keys["RestrictAddressFamilies"])
        add("socket", ([(0, "not_in", fams)], SECCOMP_RET_ERRNO | errno.EAFNOSUPPORT))
    if yes("RestrictNamespaces"):
        add("setns", eperm())
        add("unshare", eperm((0, "any", CLONE_NEW_ALL)))
        add("clone", eperm((0, "any", CLONE_NEW_ALL)))
        add("clone3", ([], SECCOMP_RET_ERRNO | errno.ENOSYS))
    if yes("RestrictSUIDSGID"):
        for m in (S_ISUID, S_ISGID):
            for name, arg in [("chmod", 1), ("fchmod", 1), ("fchmodat", 2), ("fchmodat2", 2),
                              ("mkdir", 1), ("mkdirat", 2), ("mknod", 1), ("mknodat", 2),
                              ("creat", 1)]:
                add(name, eperm((arg, "mask", m)))
            add("open", eperm((1, "mask", O_CREAT), (2, "mask", m)))
            add("openat", eperm((2, "mask", O_CREAT), (3, "mask", m)))
        add("openat2", eperm())
    if yes("LockPersonality"):
        add("personality", eperm((0, "not_in", {PER_LINUX})))
    if yes("RestrictRealtime"):
        add("sched_setscheduler",
            eperm((1, "not_in", {SCHED_OTHER, SCHED_BATCH, SCHED_IDLE})))
    for k, names in EPERM_SETTINGS.items():
        if yes(k):
            for n in set().union(*(expand(x) for x in names)):
                add(n, eperm())
    return rules


def condition(arg, kind, value, fail):
    """BPF that goes on when the condition holds and jumps to the label fail when not."""
    lo, hi = offset_arg(arg), offset_arg(arg, high=True)
    if kind == "mask":
        assert value < 1 << 32
        return [(BPF_LD_W_ABS, 0, 0, lo), (BPF_ALU_AND_K, 0, 0, value),
                (BPF_JEQ_K, 0, fail, value)]
    if kind == "any":
        assert value < 1 << 32
        return [(BPF_LD_W_ABS, 0, 0, lo), (BPF_JSET_K, 0, fail, value)]
    assert kind == "not_in" and all(0 <= v < 1 << 32 for v in value)
    holds = "%s.holds" % fail
    prog = [(BPF_LD_W_ABS, 0, 0, hi), (BPF_JEQ_K, 0, holds, 0), (BPF_LD_W_ABS, 0, 0, lo)]
    prog += [(BPF_JEQ_K, fail, 0, v) for v in sorted(value)]
    return prog + [holds]


def build(settings, nr):
    """The filter for a unit's [Service] settings as a list of SockFilter."""
    keys = dict(settings)
    if keys.get("SystemCallArchitectures") != "native":
        raise SystemExit("unit_filter: SystemCallArchitectures=%s is not modeled"
                         % keys.get("SystemCallArchitectures", ""))
    filters = [v for k, v in settings if k == "SystemCallFilter"]
    allowed = {nr[n] for n in allowed_calls(filters) if n in nr} if filters else None
    rules = rules_for(settings, nr)
    kill = (BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS)
    allow = (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW)
    prog = [(BPF_LD_W_ABS, 0, 0, OFFSET_ARCH), (BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64), kill,
            (BPF_LD_W_ABS, 0, 0, OFFSET_NR)]
    numbers = sorted(allowed if allowed is not None else rules)
    blocks = []
    for n in numbers:
        if n not in rules:
            prog += [(BPF_JEQ_K, 0, 1, n), allow]
            continue
        label = "nr%d" % n
        prog.append((BPF_JEQ_K, 0, 1, n))
        prog.append((BPF_JA, 0, 0, label))
        blocks.append(label)
        for i, (conds, action) in enumerate(rules[n]):
            fail = "%s.%d" % (label, i)
            for c in conds:
                blocks += condition(*c, fail)
            blocks += [(BPF_RET_K, 0, 0, action), fail]
        blocks.append(allow)
    prog.append(kill if allowed is not None else allow)
    return seccomp_bpf.assemble(prog + blocks)


def become_service_user(settings):
    """DynamicUser=yes, run as root: the process becomes DYNAMIC_ID."""
    keys = dict(settings)
    if "User" in keys or "Group" in keys:
        raise SystemExit("unit_filter: User= and Group= are not modeled")
    if keys.get("DynamicUser") not in ("yes", "true", "on", "1") or os.geteuid() != 0:
        return
    try:
        taken = pwd.getpwuid(DYNAMIC_ID).pw_name
    except KeyError:
        taken = None
    if taken:
        raise SystemExit("unit_filter: uid %d is %s's on this machine" % (DYNAMIC_ID, taken))
    os.setgroups([])
    os.setresgid(DYNAMIC_ID, DYNAMIC_ID, DYNAMIC_ID)
    os.setresuid(DYNAMIC_ID, DYNAMIC_ID, DYNAMIC_ID)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    if os.uname().machine != "x86_64":
        sys.exit("unit_filter: x86-64 only")
    with open(argv[0], encoding="utf-8") as f:
        settings = unit_settings(f.read())
    prog = build(settings, syscall_numbers())
    become_service_user(settings)
    seccomp_bpf.install(prog)
    os.execv(argv[1], argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
