/* tcload: flags, the phases of a run (connect, warm up, publish, drain, measure),
 * /proc readings, and the report (human lines, then one JSON line). */
#include "load.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct options opt = {
    .tables = 1,
    .subs = 1,
    .table_base = 1,
    .rate = 1000,
    .duration = 10,
    .drain = 5,
    .settle = 2,
    .timeout = 120,
    .payload = 400,
    .clear_at = 90,
    .cuisine = 1001,
    .src_ips = UINT32_MAX, /* unset: chosen from the number of connections */
    .connect_rate = 5000,
    .max_inflight = 256,
};
uv_loop_t *loop;
struct table *tables;
struct stats st;

enum phase { PH_CONNECT, PH_HOLD, PH_PUBS, PH_WARMUP, PH_RUN, PH_DRAIN, PH_SETTLE, PH_DONE };
static enum phase phase;
static uint32_t nsubs;         /* subscribers to open */
static uint64_t t0, t_phase;   /* start of the run, of the phase */
static uint64_t t_run, t_done; /* publishing started, everything ended */
static uint64_t rr;            /* the next table, round-robin */
static uint32_t warm_next;     /* nchan: the next table to warm up */
static uint64_t ready_at_measure;
static uv_timer_t tick;
static uv_signal_t sigint, sigterm, sigusr1;

void sample_add(uint32_t **v, size_t *n, size_t *cap, uint64_t ns)
{
    if (*n == *cap) {
        if (*cap >= ((size_t)1 << 26))
            return; /* 64 Mi samples: enough for any percentile we print */
        size_t nc = *cap ? *cap * 2 : 4096;
        uint32_t *nv = realloc(*v, nc * sizeof *nv);
        if (!nv) abort();
        *v = nv;
        *cap = nc;
    }
    uint64_t us = ns / 1000;
    (*v)[(*n)++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static double secs(uint64_t from, uint64_t to)
{
    return (double)(to - from) / 1e9;
}

/* --- /proc ------------------------------------------------------------------------ */

/* utime+stime of the process (all its threads) in seconds, or -1 when it is gone. */
static double proc_cpu(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    unsigned long long ut = 0, stt = 0;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
     */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stt) != 2)
        return -1;
    return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

static double server_cpu(void)
{
    double sum = 0;
    for (int i = 0; i < opt.npids; i++) {
        double c = proc_cpu(opt.pids[i]);
        if (c < 0) return -1;
        sum += c;
    }
    return sum;
}

static long server_rss_kb(void)
{
    long sum = 0;
    for (int i = 0; i < opt.npids; i++) {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%d/status", opt.pids[i]);
        FILE *f = fopen(path, "r");
        if (!f) return -1;
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "VmRSS:", 6) == 0) sum += atol(line + 6);
        fclose(f);
    }
    return sum;
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* CPU time the whole machine spent busy (user, nice, system, steal; not interrupts). */
static double machine_busy(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 0;
    unsigned long long u = 0, ni = 0, sy = 0, id = 0, io = 0, irq = 0, sirq = 0, steal = 0;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &u, &ni, &sy, &id, &io, &irq,
                   &sirq, &steal);
    fclose(f);
    if (n < 3) return 0;
    return (double)(u + ni + sy + steal) / (double)sysconf(_SC_CLK_TCK);
}

struct cpu_mark {
    double server, self, machine;
};

static struct cpu_mark cpu_mark(void)
{
    return (struct cpu_mark){server_cpu(), self_cpu(), machine_busy()};
}

static struct cpu_mark mark_run, mark_done;
static long rss_before, rss_ready;

/* --- report ------------------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static uint32_t pct(const uint32_t *v, size_t n, double q)
{
    if (n == 0) return 0;
    size_t i = (size_t)(q * (double)n);
    return v[i >= n ? n - 1 : i];
}

static const char *target_name(void)
{
    return opt.target == TARGET_NCHAN ? "nchan" : "tablecart";
}

static const char *transport_name(void)
{
    return opt.transport == TR_WS ? "ws" : "sse";
}

static void report_idle(void)
{
    long rss_settled = server_rss_kb();
    uint64_t n = ready_at_measure;
    double per = n ? (double)(rss_ready - rss_before) * 1024.0 / (double)n : 0;
    double per_settled = n ? (double)(rss_settled - rss_before) * 1024.0 / (double)n : 0;
    double cs = secs(t0, t_run);
    printf("idle %s %s: %" PRIu64 " of %u connections ready in %.2f s (%" PRIu64 " failed)\n",
           target_name(), transport_name(), n, nsubs, cs, st.failed);
    printf("  server RSS %ld kB -> %ld kB: %.0f bytes per connection (after %.1f s: %.0f)\n",
           rss_before, rss_ready, per, opt.settle, per_settled);
    printf("{\"mode\":\"idle\",\"target\":\"%s\",\"transport\":\"%s\",\"conns\":%u,"
           "\"tables\":%u,\"conns_ready\":%" PRIu64 ",\"conn_failed\":%" PRIu64
           ",\"head_errors\":%" PRIu64 ",\"connect_seconds\":%.3f,\"rss_before_kb\":%ld,"
           "\"rss_after_kb\":%ld,\"rss_settled_kb\":%ld,\"rss_per_conn_bytes\":%.1f,"
           "\"rss_per_conn_settled_bytes\":%.1f,\"server_cpu_connect_s\":%.3f}\n",
           target_name(), transport_name(), nsubs, opt.tables, n, st.failed, st.head_errors, cs,
           rss_before, rss_ready, rss_settled, per, per_settled,
           mark_done.server - mark_run.server);
}

static void report_fanout(void)
{
    uint64_t expected = 0;
    for (uint32_t i = 0; i < opt.tables; i++)
        expected += (uint64_t)tables[i].ok * tables[i].synced;
    uint64_t missing = expected > st.received ? expected - st.received : 0;
    qsort(st.lat, st.nlat, sizeof *st.lat, cmp_u32);
    qsort(st.rtt, st.nrtt, sizeof *st.rtt, cmp_u32);
    if (opt.lat_file) {
        FILE *f = fopen(opt.lat_file, "wb");
        if (!f || fwrite(st.lat, sizeof *st.lat, st.nlat, f) != st.nlat)
            fprintf(stderr, "tcload: cannot write %s\n", opt.lat_file);
        if (f) fclose(f);
    }
    double window = secs(t_run, t_done);
    double scpu =
        mark_run.server >= 0 && mark_done.server >= 0 ? mark_done.server - mark_run.server : -1;
    double lcpu = mark_done.self - mark_run.self;
    /* Rough: loopback softirq work is charged to the processes but not to /proc/stat's
     * user+system, so this can come out below zero; it only flags a noisy machine. */
    double other = mark_done.machine - mark_run.machine - (scpu > 0 ? scpu : 0) - lcpu;
    if (other < 0) other = 0;
    double run_s = opt.duration;
    double dps = window > 0 ? (double)st.received / window : 0;
    double dpc = scpu > 0 ? (double)st.received / scpu : -1;
    double mean = 0;
    for (size_t i = 0; i < st.nlat; i++)
        mean += st.lat[i];
    mean = st.nlat ? mean / (double)st.nlat : 0;
    printf("fanout %s %s: %u tables x %" PRIu64 " subscribers synced, %.0f changes/s offered for "
           "%.1f s\n",
           target_name(), transport_name(), opt.tables, st.synced, opt.rate, opt.duration);
    printf("  changes: planned %" PRIu64 ", sent %" PRIu64 ", ok %" PRIu64 ", failed %" PRIu64
           ", skipped (table busy) %" PRIu64 ", waited for a connection %" PRIu64 " = %.0f/s\n",
           st.planned, st.sent, st.ok, st.failed_mut, st.skipped, st.waited, (double)st.ok / run_s);
    printf("  deliveries: expected %" PRIu64 ", received %" PRIu64 ", missing %" PRIu64
           " (gaps %" PRIu64 ", duplicates %" PRIu64 ", unexpected %" PRIu64 ", stale %" PRIu64
           ")\n",
           expected, st.received, missing, st.gaps, st.dups, st.unexpected, st.stale);
    printf("  latency us: p50 %u  p90 %u  p99 %u  p99.9 %u  max %u (mean %.0f); publish round "
           "trip p50 %u p99 %u\n",
           pct(st.lat, st.nlat, .5), pct(st.lat, st.nlat, .9), pct(st.lat, st.nlat, .99),
           pct(st.lat, st.nlat, .999), pct(st.lat, st.nlat, 1), mean, pct(st.rtt, st.nrtt, .5),
           pct(st.rtt, st.nrtt, .99));
    printf("  %.0f deliveries/s over %.2f s; server cpu %.3f s: %.0f deliveries per server "
           "CPU-second; tcload cpu %.3f s; others %.3f s%s\n",
           dps, window, scpu, dpc, lcpu, other,
           window > 0 && other / window > 0.1 ? "  WARNING: the machine was busy" : "");
    printf("{\"mode\":\"fanout\",\"target\":\"%s\",\"transport\":\"%s\",\"tables\":%u,"
           "\"subs_per_table\":%u,\"subscribers_synced\":%" PRIu64 ",\"conn_failed\":%" PRIu64
           ",\"rate\":%.1f,\"duration\":%.3f,\"payload\":%u,\"pub_conns\":%u,"
           "\"mutations_planned\":%" PRIu64 ",\"mutations_sent\":%" PRIu64
           ",\"mutations_ok\":%" PRIu64 ",\"mutations_failed\":%" PRIu64
           ",\"mutations_skipped\":%" PRIu64 ",\"mutations_waited\":%" PRIu64
           ",\"mutations_per_s\":%.1f,\"deliveries_expected\":%" PRIu64
           ",\"deliveries_received\":%" PRIu64 ",\"deliveries_missing\":%" PRIu64
           ",\"gaps\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"unexpected\":%" PRIu64
           ",\"stale\":%" PRIu64 ",\"lat_p50_us\":%u,\"lat_p90_us\":%u,\"lat_p99_us\":%u,"
           "\"lat_p999_us\":%u,\"lat_max_us\":%u,\"lat_mean_us\":%.1f,\"pub_rtt_p50_us\":%u,"
           "\"pub_rtt_p99_us\":%u,\"deliveries_per_s\":%.1f,\"window_s\":%.3f,"
           "\"server_cpu_s\":%.3f,\"deliveries_per_server_cpu_s\":%.1f,\"loadgen_cpu_s\":%.3f,"
           "\"other_cpu_s\":%.3f,\"server_closed\":%" PRIu64 ",\"subs_with_delivery\":%" PRIu64
           ",\"last_error\":\"%s\"}\n",
           target_name(), transport_name(), opt.tables, opt.subs, st.synced, st.failed, opt.rate,
           opt.duration, opt.payload, opt.pub_conns, st.planned, st.sent, st.ok, st.failed_mut,
           st.skipped, st.waited, (double)st.ok / run_s, expected, st.received, missing, st.gaps,
           st.dups, st.unexpected, st.stale, pct(st.lat, st.nlat, .5), pct(st.lat, st.nlat, .9),
           pct(st.lat, st.nlat, .99), pct(st.lat, st.nlat, .999), pct(st.lat, st.nlat, 1), mean,
           pct(st.rtt, st.nrtt, .5), pct(st.rtt, st.nrtt, .99), dps, window, scpu, dpc, lcpu, other,
           st.closed_by_server, st.subs_delivered, st.last_error ? st.last_error : "");
}

static void finish(void)
{
    if (phase == PH_DONE) return;
    enum phase was = phase;
    phase = PH_DONE;
    if (!t_done) t_done = uv_hrtime();
    if (!mark_done.machine) mark_done = cpu_mark();
    if (opt.mode == MODE_IDLE && was == PH_SETTLE)
        report_idle();
    else if (opt.mode == MODE_FANOUT && (was == PH_RUN || was == PH_DRAIN))
        report_fanout();
    else
        fprintf(stderr,
                "tcload: ended before measuring (%s): %" PRIu64 " of %u ready, %" PRIu64
                " failed; last error: %s\n",
                was == PH_CONNECT ? "connecting" : "setting up publishers",
                opt.mode == MODE_IDLE ? st.ready : st.synced, nsubs, st.failed,
                st.last_error ? st.last_error : "none");
    fflush(stdout);
    /* Closing 20,000 sockets one by one gains nothing: the exit closes them all. */
    bool measured =
        opt.mode == MODE_IDLE ? was == PH_SETTLE : st.received > 0 || (opt.subs == 0 && st.ok > 0);
    exit(measured ? 0 : 1);
}

/* --- the phases ----------------------------------------------------------------------- */

static void set_phase(enum phase p)
{
    phase = p;
    t_phase = uv_hrtime();
}

static void start_run(void)
{
    set_phase(PH_RUN);
    t_run = t_phase;
    st.planned = opt.rate > 0 ? (uint64_t)(opt.rate * opt.duration + 0.5) : 0;
    mark_run = cpu_mark();
}

static void connected_all(void)
{
    if (opt.mode == MODE_IDLE) {
        t_run = uv_hrtime();
        mark_done = cpu_mark(); /* reused: CPU spent while connecting */
        ready_at_measure = st.ready;
        rss_ready = server_rss_kb();
        set_phase(PH_SETTLE);
        return;
    }
    pubs_start(opt.pub_conns);
    if (opt.go_signal) {
        /* Several tcload processes start publishing together (SIGUSR1), each with all
         * its subscribers connected: the connections of all of them are live at once. */
        set_phase(PH_HOLD);
        printf("synced %" PRIu64 " of %u\n", st.synced, nsubs);
        return;
    }
    set_phase(PH_PUBS);
}

void on_sub_ready(void)
{
    st.ready++;
}

void on_sub_synced(void)
{
    st.synced++;
}

void on_sub_failed(void)
{
    st.failed++;
}

void on_pubs_ready(void) {}

static void pump(uint64_t now);

/* Paced runs send only from the 1 ms tick: the changes due go out together, as a burst
 * of clients would, not one by one between the answers. */
void on_pub_answer(void)
{
    if (phase == PH_WARMUP || (phase == PH_RUN && opt.rate <= 0)) pump(uv_hrtime());
}

/* Sends the changes that are due. */
static void pump(uint64_t now)
{
    if (phase == PH_WARMUP) {
        while (warm_next < opt.tables && pub_send_warmup(&tables[warm_next]))
            warm_next++;
        return;
    }
    if (phase != PH_RUN) return;
    if (opt.rate <= 0) { /* flat out: every free connection takes the next free table */
        for (uint32_t scanned = 0; scanned < opt.tables; scanned++) {
            struct table *t = &tables[rr % opt.tables];
            if (!t->busy) {
                if (!pub_send(t, now)) return;
                st.planned++;
            }
            rr++;
        }
        return;
    }
    double el = secs(t_run, now);
    uint64_t due = el >= opt.duration ? st.planned : (uint64_t)(el * opt.rate);
    if (due > st.planned) due = st.planned;
    while (rr < due) {
        struct table *t = &tables[rr % opt.tables];
        if (t->busy) {
            st.skipped++;
        } else if (!pub_send(t, now)) {
            st.waited++;
            return; /* the next answer or tick sends it */
        }
        rr++;
    }
}

static void connect_more(uint64_t now)
{
    double el = secs(t_phase, now);
    uint64_t allowed = (uint64_t)(el * opt.connect_rate) + 1;
    /* nchan subscribers get their starting point from the warm-up, after this phase */
    bool by_ready = opt.mode == MODE_IDLE || opt.target == TARGET_NCHAN;
    uint64_t done = by_ready ? st.ready : st.synced;
    while (st.started < nsubs && st.started < allowed &&
           st.started - done - st.failed < opt.max_inflight) {
        uint32_t i = (uint32_t)st.started++;
        uint32_t table = opt.mode == MODE_IDLE ? i % opt.tables : i / opt.subs;
        if (!sub_start(&tables[table], i)) st.failed++;
    }
    if (done + st.failed >= nsubs) {
        connected_all();
    } else if (el > opt.timeout) {
        fprintf(stderr, "tcload: only %" PRIu64 " of %u subscribers ready after %.0f s\n", done,
                nsubs, opt.timeout);
        if (done == 0) finish();
        connected_all();
    }
}

static void progress(uint64_t now)
{
    static uint64_t next;
    if (opt.quiet || now < next) return;
    next = now + 1000000000ull;
    fprintf(stderr,
            "[%5.1fs] phase %d: connecting %" PRIu64 "/%u ready %" PRIu64 " synced %" PRIu64
            " failed %" PRIu64 "; changes sent %" PRIu64 " ok %" PRIu64 "; deliveries %" PRIu64
            "\n",
            secs(t0, now), phase, st.started, nsubs, st.ready, st.synced, st.failed, st.sent, st.ok,
            st.received);
}

static void on_tick(uv_timer_t *h)
{
    (void)h;
    uint64_t now = uv_hrtime();
    progress(now);
    switch (phase) {
    case PH_CONNECT:
        connect_more(now);
        break;
    case PH_PUBS:
        if (pubs_connected() > 0 && secs(t_phase, now) > 0.2) {
            if (opt.target == TARGET_NCHAN) {
                set_phase(PH_WARMUP);
                pump(now);
            } else {
                start_run();
            }
        } else if (secs(t_phase, now) > 10) {
            fprintf(stderr, "tcload: no publisher connection\n");
            finish();
        }
        break;
    case PH_WARMUP:
        pump(now);
        if ((warm_next >= opt.tables && st.synced >= st.ready && pubs_idle()) ||
            secs(t_phase, now) > opt.timeout) {
            if (st.synced < st.ready)
                fprintf(stderr, "tcload: %" PRIu64 " of %" PRIu64 " saw the warm-up message\n",
                        st.synced, st.ready);
            start_run();
        }
        break;
    case PH_RUN:
        pump(now);
        /* Offered, not owed: what the publisher could not send in D seconds stays unsent
         * (planned - sent), so a saturated server cannot stretch the run. */
        if (secs(t_run, now) >= opt.duration) set_phase(PH_DRAIN);
        break;
    case PH_DRAIN: {
        uint64_t expected = 0;
        for (uint32_t i = 0; i < opt.tables; i++)
            expected += (uint64_t)tables[i].ok * tables[i].synced;
        if ((pubs_idle() && st.received >= expected) || secs(t_phase, now) > opt.drain) {
            t_done = now;
            mark_done = cpu_mark();
            finish();
        }
        break;
    }
    case PH_SETTLE:
        if (secs(t_phase, now) >= opt.settle) finish();
        break;
    default:
        break;
    }
}

static void on_go(uv_signal_t *h, int sig)
{
    (void)h;
    (void)sig;
    if (phase == PH_HOLD) set_phase(PH_PUBS);
}

static void on_signal(uv_signal_t *h, int sig)
{
    (void)h;
    (void)sig;
    finish();
}

/* --- flags ------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fputs("usage: tcload idle   --port P --pid PID [--pid PID...] --conns N [--tables T]\n"
          "       tcload fanout --port P --pid PID --tables T --subs S --rate R --duration D\n"
          "options:\n"
          "  --target tablecart|nchan   the server's protocol (default tablecart)\n"
          "  --transport sse|ws         subscribers' transport (default sse)\n"
          "  --table-base ID            first table id (default 1)\n"
          "  --rate R                   changes per second offered; 0 = flat out (default 1000)\n"
          "  --duration S, --drain S    seconds of publishing (10), of waiting for the rest (5)\n"
          "  --pub-conns N              publisher connections (default rate/8 within 8..256)\n"
          "  --payload B                nchan: message size (default 400, about a cart)\n"
          "  --cuisine ID, --clear-at N tablecart: the dish added (1001); clear at N items (90)\n"
          "  --connect-rate R, --max-inflight N   opening subscribers (5000/s, 256)\n"
          "  --src-ips K                bind subscribers to 127.0.0.1..K (default 1 + N/4000)\n"
          "  --settle S                 idle: second RSS reading after S seconds (default 2)\n"
          "  --timeout S                give up connecting after S seconds (default 120)\n"
          "  --pub-port P               fanout: publish through port P (another instance)\n"
          "  --go-signal                fanout: once synced print \"synced\", wait for SIGUSR1\n"
          "  --lat-file PATH            fanout: write the latencies (uint32 us, sorted) to PATH\n"
          "  --quiet                    no progress lines on stderr\n"
          "Prints what it measured, then one JSON line. Traffic goes to 127.0.0.1 only.\n",
          f);
}

static double num(const char *flag, const char *v, double lo, double hi)
{
    char *end;
    double d = v ? strtod(v, &end) : 0;
    if (!v || *end || d < lo || d > hi) {
        fprintf(stderr, "tcload: %s wants a number in %g..%g\n", flag, lo, hi);
        exit(2);
    }
    return d;
}

/* The flags that take a number: where it goes and its range. */
struct numeric {
    const char *name;
    double *dbl;
    uint32_t *u32;
    int32_t *i32;
    double lo, hi;
};
static const struct numeric numerics[] = {
    {"--port", NULL, NULL, &opt.port, 1, 65535},
    {"--conns", NULL, &opt.conns, NULL, 1, 1e6},
    {"--tables", NULL, &opt.tables, NULL, 1, 1e6},
    {"--subs", NULL, &opt.subs, NULL, 0, 1e6},
    {"--table-base", NULL, NULL, &opt.table_base, 1, 2e9},
    {"--rate", &opt.rate, NULL, NULL, 0, 1e7},
    {"--duration", &opt.duration, NULL, NULL, 0.1, 3600},
    {"--drain", &opt.drain, NULL, NULL, 0, 600},
    {"--settle", &opt.settle, NULL, NULL, 0, 600},
    {"--timeout", &opt.timeout, NULL, NULL, 1, 3600},
    {"--pub-conns", NULL, &opt.pub_conns, NULL, 1, 4096},
    {"--payload", NULL, &opt.payload, NULL, 0, 500},
    {"--cuisine", NULL, NULL, &opt.cuisine, 1, 2e9},
    {"--clear-at", NULL, &opt.clear_at, NULL, 1, 99},
    {"--connect-rate", &opt.connect_rate, NULL, NULL, 1, 1e6},
    {"--max-inflight", NULL, &opt.max_inflight, NULL, 1, 1e5},
    {"--src-ips", NULL, &opt.src_ips, NULL, 0, 254},
    {"--pub-port", NULL, NULL, &opt.pub_port, 1, 65535},
};

static const struct numeric *numeric_flag(const char *name)
{
    for (size_t i = 0; i < sizeof numerics / sizeof numerics[0]; i++)
        if (!strcmp(numerics[i].name, name)) return &numerics[i];
    return NULL;
}

static void parse(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        exit(2);
    }
    if (!strcmp(argv[1], "idle"))
        opt.mode = MODE_IDLE;
    else if (!strcmp(argv[1], "fanout"))
        opt.mode = MODE_FANOUT;
    else {
        usage(!strcmp(argv[1], "--help") ? stdout : stderr);
        exit(!strcmp(argv[1], "--help") ? 0 : 2);
    }
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const struct numeric *nf;
        bool takes = true;
        if (!strcmp(f, "--target")) {
            if (!v || (strcmp(v, "tablecart") && strcmp(v, "nchan"))) {
                fputs("tcload: --target is tablecart or nchan\n", stderr);
                exit(2);
            }
            opt.target = !strcmp(v, "nchan") ? TARGET_NCHAN : TARGET_TABLECART;
        } else if (!strcmp(f, "--transport")) {
            if (!v || (strcmp(v, "sse") && strcmp(v, "ws"))) {
                fputs("tcload: --transport is sse or ws\n", stderr);
                exit(2);
            }
            opt.transport = !strcmp(v, "ws") ? TR_WS : TR_SSE;
        } else if (!strcmp(f, "--pid")) {
            if (opt.npids == MAX_PIDS) num(f, NULL, 0, 0);
            opt.pids[opt.npids++] = (int)num(f, v, 1, 1 << 30);
        } else if ((nf = numeric_flag(f)) != NULL) {
            double d = num(f, v, nf->lo, nf->hi);
            if (nf->dbl)
                *nf->dbl = d;
            else if (nf->u32)
                *nf->u32 = (uint32_t)d;
            else
                *nf->i32 = (int32_t)d;
        } else if (!strcmp(f, "--lat-file") && v) {
            opt.lat_file = v;
        } else if (!strcmp(f, "--go-signal")) {
            opt.go_signal = true, takes = false;
        } else if (!strcmp(f, "--quiet"))
            opt.quiet = true, takes = false;
        else {
            fprintf(stderr, "tcload: unknown flag %s\n", f);
            usage(stderr);
            exit(2);
        }
        i += takes;
    }
    if (!opt.port) {
        fputs("tcload: --port is required\n", stderr);
        exit(2);
    }
    nsubs = opt.mode == MODE_IDLE ? opt.conns : opt.tables * opt.subs;
    if (opt.mode == MODE_IDLE && !opt.conns) {
        fputs("tcload: idle needs --conns\n", stderr);
        exit(2);
    }
    if (opt.src_ips == UINT32_MAX) opt.src_ips = nsubs > 4000 ? 1 + nsubs / 4000 : 0;
    if (!opt.pub_conns) {
        double p = opt.rate > 0 ? opt.rate / 8 : 256;
        opt.pub_conns = (uint32_t)(p < 8 ? 8 : p > 256 ? 256 : p);
    }
}

int main(int argc, char **argv)
{
    parse(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nsubs + 300)
        fprintf(stderr, "tcload: warning: %u subscribers but only %llu file descriptors\n", nsubs,
                (unsigned long long)rl.rlim_cur);
    srand((unsigned)(uv_hrtime() ^ (uint64_t)getpid()));
    loop = uv_default_loop();
    tables = xcalloc(opt.tables, sizeof *tables);
    for (uint32_t i = 0; i < opt.tables; i++)
        tables[i].id = opt.table_base + (int32_t)i;
    rss_before = server_rss_kb();
    mark_run = cpu_mark();
    t0 = uv_hrtime();
    set_phase(PH_CONNECT);
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 1, 1);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_init(loop, &sigusr1);
    uv_signal_start(&sigusr1, on_go, SIGUSR1);
    /* Hard bound on the whole run, whatever happens. */
    double limit = opt.timeout + 10 + opt.duration + opt.drain + opt.settle + opt.timeout;
    uint64_t end = t0 + (uint64_t)(limit * 1e9);
    while (phase != PH_DONE && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    finish();
    return 1;
}
