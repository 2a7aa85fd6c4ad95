/* cores.h — which cores the process's threads run on: all on the loop's
 * core while the process uses little CPU, wherever the kernel puts them
 * otherwise (docs/performance.md, "One core while the load is light").
 *
 * The loop hands each change to the SQLite writer thread and the writer
 * hands it back: two wake-ups per change. Across cores each one is an
 * interrupt to a core that is usually asleep (on a VM an exit to the
 * hypervisor as well); on one core it is a plain switch between threads.
 * One core is also all the process needs while it uses little of one. So
 * while the process's CPU stays under 30% of a core, every thread is
 * moved onto the core the loop runs on; when it needs more than most of
 * that core, or other processes crowd it, the threads go back to every CPU
 * they started with (or an operator's taskset since: each look adopts a
 * placement it did not make), and stay there a while before they may share again
 * (5 s, twice as long after each share that lasted under a minute, up to
 * 80 s: a busy host does not see them move back and forth).
 *
 * Linux only: sched_setaffinity for each thread in /proc/self/task, the
 * process's CPU clock and /proc/stat. Not thread-safe: the loop thread
 * calls it all. */
#ifndef TC_CORE_CORES_H
#define TC_CORE_CORES_H

#include <sched.h>
#include <stdbool.h>

/* How often tc_cores_look is meant to be called, in milliseconds. */
#define TC_CORES_LOOK_MS 250

/* What the policy remembers between looks. Zero is the start: spread. */
typedef struct {
    bool shared;     /* every thread is on one core */
    unsigned calm;   /* looks in a row, while spread, with little CPU */
    unsigned hold;   /* looks left, after a spread, before sharing may come back */
    unsigned looks;  /* looks since the threads last shared a core */
    unsigned streak; /* spreads in a row after a short share: each doubles the hold */
} tc_cores_state;

typedef enum {
    TC_CORES_STAY,  /* nothing to do */
    TC_CORES_SHARE, /* move every thread onto the loop's core */
    TC_CORES_SPREAD /* give every thread back the CPUs it started with */
} tc_cores_move;

/* The policy's step, with no system call. own: the process's CPU over the
 * last look, in cores (1.0: one core busy the whole time); crowd: what other
 * processes used of the shared core over it, in cores (read only while
 * shared). Updates st and returns what to do. */
tc_cores_move tc_cores_decide(tc_cores_state *st, double own, double crowd);

/* Moves every thread of the process onto the CPUs of set (a thread that
 * exits meanwhile is skipped; one started meanwhile by a thread not yet
 * moved keeps its creator's CPUs). Returns 0, or TC_EIO when the kernel
 * refused a thread (errno says why). */
int tc_cores_move_all(const cpu_set_t *set);

typedef struct tc_cores tc_cores;

/* Starts the policy for this process, on the loop thread; the threads start
 * spread over the CPUs the process may use now. NULL when there is nothing
 * to share (the process may use one CPU only) or this kernel lacks what the
 * policy reads. */
tc_cores *tc_cores_open(void);

/* One look, every TC_CORES_LOOK_MS on the loop thread: measures the last
 * interval, decides, and moves the threads. If the kernel refuses a move,
 * the threads are spread again and the policy stops for good (a warning
 * is logged once). */
void tc_cores_look(tc_cores *c);

/* The CPU every thread shares now, or -1 while they are spread. */
int tc_cores_shared_cpu(const tc_cores *c);

/* Spreads the threads again if they share a core, and frees c. NULL is a
 * no-op. */
void tc_cores_close(tc_cores *c);

#endif
