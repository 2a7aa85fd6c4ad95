/* cores.c — the process's threads on the loop's core while the load is
 * light (cores.h). */
#include "core/cores.h"

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Spread, under a third of one core for SHARE_LOOKS looks in a row (half a
 * second): the threads share the loop's core. */
#define SHARE_BELOW 0.30
#define SHARE_LOOKS 2u
/* Shared, more than this of the core over one look: the load is heading
 * for more than one core can give (the saturation scenario of
 * docs/performance.md needs the writer on a core of its own). */
#define SPREAD_ABOVE 0.60
/* Shared, other processes used more than this of the core over one look:
 * the kernel could run us elsewhere, and pinned it cannot. */
#define CROWD_ABOVE 0.30
/* After a spread the threads stay spread this many looks (5 s), so a load
 * around the thresholds moves them at most once in that time; twice as
 * long after each share that lasted under LONG_SHARE_LOOKS (a minute), up
 * to 2^MAX_STREAK times (80 s). */
#define HOLD_LOOKS 20u
#define LONG_SHARE_LOOKS 240u
#define MAX_STREAK 4u
/* /proc/stat: its head plus a line per CPU ("cpu12 " and ten counters). */
#define STAT_HEAD 256u
#define STAT_LINE 224u
#define NS_PER_S 1e9
#define MIN_SPAN_NS 1000000u
/* /proc/stat counts in 1/100 s: over less than this a count's rounding alone
 * could read as a third of a core of others (looks are 250 ms apart; one
 * that comes early says nothing of the crowd). */
#define CROWD_MIN_SPAN_NS 100000000u

tc_cores_move tc_cores_decide(tc_cores_state *st, double own, double crowd)
{
    if (st->shared) {
        if (st->looks < LONG_SHARE_LOOKS) st->looks++;
        if (own <= SPREAD_ABOVE && crowd <= CROWD_ABOVE) return TC_CORES_STAY;
        if (st->looks >= LONG_SHARE_LOOKS) st->streak = 0;
        st->shared = false;
        st->hold = HOLD_LOOKS << st->streak;
        if (st->streak < MAX_STREAK) st->streak++;
        return TC_CORES_SPREAD;
    }
    if (st->hold > 0) {
        st->hold--;
        return TC_CORES_STAY;
    }
    st->calm = own < SHARE_BELOW ? st->calm + 1 : 0;
    if (st->calm < SHARE_LOOKS) return TC_CORES_STAY;
    st->shared = true;
    st->calm = 0;
    st->looks = 0;
    return TC_CORES_SHARE;
}

int tc_cores_move_all(const cpu_set_t *set)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL) return TC_EIO;
    int rc = 0, saved = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        errno = 0;
        long tid = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || errno != 0 || tid <= 0) continue; /* . and .. */
        /* A thread that exited since the listing is not an error. */
        if (sched_setaffinity((pid_t)tid, sizeof *set, set) != 0 && errno != ESRCH) {
            rc = TC_EIO;
            saved = errno;
        }
    }
    closedir(d);
    if (rc != 0) errno = saved;
    return rc;
}

struct tc_cores {
    tc_cores_state st;
    cpu_set_t start;    /* the CPUs the process could use at open: spread */
    int cpu;            /* the core every thread shares, -1 while spread */
    bool stopped;       /* a move failed: the kernel places the threads */
    long hz;            /* /proc/stat's counts per second */
    uint64_t wall_ns;   /* CLOCK_MONOTONIC at the last look */
    uint64_t own_ns;    /* the process's CPU time at the last look */
    uint64_t core_busy; /* shared: the core's busy counts at the last look */
    char *stat;         /* /proc/stat's text, STAT_HEAD + STAT_LINE per CPU */
    size_t stat_cap;
};

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The busy counts of cpu in /proc/stat (user, nice, system, irq, softirq;
 * not idle, iowait or steal). Returns 0, or TC_EIO. */
static int read_core_busy(tc_cores *c, int cpu, uint64_t *busy)
{
    int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return TC_EIO;
    size_t len = 0;
    ssize_t n;
    while (len + 1 < c->stat_cap && (n = read(fd, c->stat + len, c->stat_cap - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    c->stat[len] = '\0';
    char name[32];
    snprintf(name, sizeof name, "\ncpu%d ", cpu);
    const char *p = strstr(c->stat, name);
    if (p == NULL) return TC_EIO;
    p += strlen(name);
    uint64_t f[7]; /* user nice system idle iowait irq softirq */
    for (size_t i = 0; i < 7; i++) {
        char *end;
        errno = 0;
        f[i] = strtoull(p, &end, 10);
        if (end == p || errno != 0) return TC_EIO;
        p = end;
    }
    *busy = f[0] + f[1] + f[2] + f[5] + f[6];
    return 0;
}

/* Gives up moving threads: back to the start's CPUs, once and for good. */
static void stop(tc_cores *c, const char *what)
{
    int e = errno;
    (void)tc_cores_move_all(&c->start);
    c->stopped = true;
    c->cpu = -1;
    tc_log_warn("cores: %s failed (%s): the kernel places the threads from now on", what,
                strerror(e));
}

static void share(tc_cores *c, double own)
{
    int cpu = sched_getcpu();
    if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET((size_t)cpu, &c->start)) {
        c->st.shared = false; /* try again at a later look */
        return;
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET((size_t)cpu, &one);
    if (tc_cores_move_all(&one) != 0) {
        stop(c, "moving the threads onto one core");
        return;
    }
    c->cpu = cpu;
    if (read_core_busy(c, cpu, &c->core_busy) != 0) c->core_busy = UINT64_MAX;
    tc_log_debug("cores: every thread on cpu %d (the process used %.0f%% of a core)", cpu,
                 own * 100);
}

static void spread(tc_cores *c, double own, double crowd)
{
    c->cpu = -1;
    if (tc_cores_move_all(&c->start) != 0) {
        stop(c, "spreading the threads");
        return;
    }
    tc_log_debug("cores: threads spread again (the process used %.0f%% of its core, others "
                 "%.0f%%)",
                 own * 100, crowd * 100);
}

tc_cores *tc_cores_open(void)
{
    cpu_set_t start;
    if (sched_getaffinity(0, sizeof start, &start) != 0 || CPU_COUNT(&start) < 2) return NULL;
    long hz = sysconf(_SC_CLK_TCK);
    long cpus = sysconf(_SC_NPROCESSORS_CONF);
    int cpu = sched_getcpu();
    if (hz <= 0 || cpus <= 0 || cpu < 0) return NULL;
    tc_cores *c = tc_xcalloc(1, sizeof *c);
    c->start = start;
    c->cpu = -1;
    c->hz = hz;
    c->stat_cap = STAT_HEAD + STAT_LINE * (size_t)cpus;
    c->stat = tc_xmalloc(c->stat_cap);
    uint64_t busy;
    if (read_core_busy(c, cpu, &busy) != 0) {
        tc_cores_close(c);
        return NULL;
    }
    c->wall_ns = clock_ns(CLOCK_MONOTONIC);
    c->own_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    return c;
}

/* Someone else (taskset -a -p, a cpuset change, a CPU gone offline) may
 * have placed the threads since the last look: the loop thread's CPUs say.
 * Spread, what they are now is what a spread gives back; shared, threads no
 * longer on the shared core are the operator's: no longer shared, and held
 * spread as after a spread of our own. */
static void adopt_placement(tc_cores *c)
{
    cpu_set_t now;
    if (sched_getaffinity(0, sizeof now, &now) != 0) return;
    if (c->cpu < 0) {
        if (!CPU_EQUAL(&now, &c->start)) c->start = now;
        return;
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET((size_t)c->cpu, &one);
    if (CPU_EQUAL(&now, &one)) return;
    c->start = now;
    c->cpu = -1;
    c->st.shared = false;
    c->st.calm = 0;
    c->st.hold = HOLD_LOOKS;
    tc_log_debug("cores: the threads were moved off the shared core by someone else: theirs now");
}

void tc_cores_look(tc_cores *c)
{
    if (c->stopped) return;
    adopt_placement(c);
    uint64_t wall = clock_ns(CLOCK_MONOTONIC), own_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    /* Over less than this the look would mostly measure itself: the
     * interval goes on to the next look. */
    if (wall < c->wall_ns + MIN_SPAN_NS) return;
    double span = (double)(wall - c->wall_ns);
    double own = (double)(own_ns - c->own_ns) / span;
    double crowd = 0;
    uint64_t busy;
    /* Shared, every thread runs on that core: what else it did there is
     * the others'. /proc/stat counts in 1/hz s, so this is rough (a few
     * hundredths of a core over a look), well inside CROWD_ABOVE. */
    if (c->cpu >= 0 && c->core_busy != UINT64_MAX && read_core_busy(c, c->cpu, &busy) == 0) {
        if (span >= CROWD_MIN_SPAN_NS && busy > c->core_busy)
            crowd = (double)(busy - c->core_busy) * NS_PER_S / (double)c->hz / span - own;
        c->core_busy = busy;
    }
    c->wall_ns = wall;
    c->own_ns = own_ns;
    switch (tc_cores_decide(&c->st, own, crowd)) {
    case TC_CORES_STAY:
        break;
    case TC_CORES_SHARE:
        share(c, own);
        break;
    case TC_CORES_SPREAD:
        spread(c, own, crowd);
        break;
    }
}

int tc_cores_shared_cpu(const tc_cores *c)
{
    return c->cpu;
}

void tc_cores_close(tc_cores *c)
{
    if (c == NULL) return;
    if (c->cpu >= 0) (void)tc_cores_move_all(&c->start);
    free(c->stat);
    free(c);
}
