"""Where the server's threads run (--share-core, src/core/cores.c; docs/performance.md,
"One core while the load is light"): with the SQLite store, an idle server moves every thread
(the loop, the writer, the checkpointer) onto one core, and spreads them over every CPU again
when another process crowds that core; --share-core off leaves them to the kernel. Read from
the kernel: each thread's Cpus_allowed_list in /proc."""
import os
import subprocess
import sys

import pytest

from support import IO_TIMEOUT, SCALE, cpus_of, shared_cpu, wait_until

START = sorted(os.sched_getaffinity(0))

pytestmark = pytest.mark.skipif(len(START) < 2, reason="one CPU: nothing to share")


def spread(server):
    return set(cpus_of(server.proc.pid).values()) == {frozenset(START)}


def test_idle_server_shares_one_core_and_keeps_serving(start_server):
    s = start_server()
    assert len(cpus_of(s.proc.pid)) >= 3  # the loop, the writer, the checkpointer
    wait_until(lambda: shared_cpu(s.proc.pid) is not None, 5 * SCALE, "every thread on one core")
    # It serves as before: a change, its answer and the cart.
    assert s.add(123, 1001, 2).json()["data"]["version"] == 1
    assert s.cart()["version"] == 1


def test_share_core_off_leaves_the_threads_to_the_kernel(start_server):
    off = start_server("--share-core", "off")
    on = start_server()
    # Started after `off`: once `on` has shared, `off` had as long to do it.
    wait_until(lambda: shared_cpu(on.proc.pid) is not None, 5 * SCALE, "the default server shares")
    assert spread(off), cpus_of(off.proc.pid)
    assert off.add(123, 1001, 1).json()["data"]["version"] == 1


def test_crowded_core_spreads_and_shares_again_when_it_clears(start_server):
    s = start_server()
    wait_until(lambda: shared_cpu(s.proc.pid) is not None, 5 * SCALE, "every thread on one core")
    cpu = shared_cpu(s.proc.pid)
    # Another process keeps that core busy, pinned there so the kernel cannot move it.
    hog = subprocess.Popen([sys.executable, "-c",
                            "import os\nos.sched_setaffinity(0, {%d})\nwhile True: pass" % cpu])
    try:
        wait_until(lambda: spread(s), 5 * SCALE, "threads spread off the crowded core")
        assert s.add(123, 1001, 1).json()["data"]["version"] == 1
    finally:
        hog.kill()
        hog.wait(IO_TIMEOUT)
    # After the hold (5 s), calm again: one core again.
    wait_until(lambda: shared_cpu(s.proc.pid) is not None, 5 + 5 * SCALE,
               "shared again after the hold")
