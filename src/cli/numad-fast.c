/*
 * numad — front end of the numad-compatible command (what libvirt runs as `/usr/bin/numad -w <vcpus>:<MiB>`).
 *
 * For exactly `-w V` or `-w V:M` with plain decimal integers (libvirt's form) it asks the numadvisor daemon over its
 * unix socket and prints the one-line nodeset: ~2 ms, where starting Node.js alone takes ~60 ms and curl ~12 ms.
 * Anything else — other options or number forms, no daemon, a slow or failed answer, an answer that is not a
 * canonical nodeset — execs the Node.js client, which implements every numad option and answers locally when no
 * daemon can. This file never prints anything but a validated nodeset line on stdout.
 *
 * Build-time settings (make build): NUMADVISOR_NODE (path of node), NUMADVISOR_ENTRY (dist/cli/numad-entry.js).
 * Run-time: NUMADVISOR_SOCKET overrides the socket path, as for the Node.js client.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef NUMADVISOR_NODE
#define NUMADVISOR_NODE "/usr/bin/node"
#endif
#ifndef NUMADVISOR_ENTRY
#define NUMADVISOR_ENTRY "/usr/lib/numadvisor/dist/cli/numad-entry.js"
#endif
#define DEFAULT_SOCKET "/run/numadvisor/numadvisor.sock"
#define CONNECT_TIMEOUT_MS 250 /* same deadlines as the Node.js client (src/cli/advice-client.ts) */
#define REPLY_TIMEOUT_MS 1000
/* The daemon reserves nothing for a request past its deadline: by then we have given up and answer locally. */
#define DEADLINE_MARGIN_MS 100

/* Set once the daemon was asked: the Node.js client then answers locally at once instead of asking again. */
static int asked_daemon = 0;

/*
 * The local answer measures CPU idle between two /proc/stat samples at least 80 ms apart. Taking the first one here,
 * before Node.js starts (~100 ms), means that window has passed by the time the client can use it: the answer comes
 * ~80 ms sooner. Handed over in the environment as "<unix ms> <text>" (skipped on hosts whose /proc/stat is too big
 * for one environment string).
 */
static void seed_cpu_sample(void) {
    static char buf[120 * 1024];
    char path[4096];
    const char *root = getenv("NUMADVISOR_FSROOT");
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int head = snprintf(buf, 32, "%lld ", (long long)wall.tv_sec * 1000LL + wall.tv_nsec / 1000000L);
    if (snprintf(path, sizeof path, "%s/proc/stat", root && *root ? root : "") >= (int)sizeof path) return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    size_t got = (size_t)head;
    for (;;) {
        ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        if (got == sizeof buf - 1) { /* too big: no seed */
            close(fd);
            return;
        }
    }
    close(fd);
    buf[got] = '\0';
    setenv("NUMADVISOR_CPU_SAMPLE", buf, 1);
}

static void fall_back(int argc, char **argv) {
    if (asked_daemon) setenv("NUMADVISOR_DAEMON_ASKED", "1", 1);
    if (argc == 3 && strcmp(argv[1], "-w") == 0) seed_cpu_sample();
    const char *node = getenv("NUMADVISOR_NODE_BIN");
    if (!node || !*node) node = NUMADVISOR_NODE;
    char **args = calloc((size_t)argc + 2, sizeof(char *));
    if (!args) _exit(1);
    args[0] = (char *)node;
    args[1] = (char *)NUMADVISOR_ENTRY;
    for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
    setenv("NUMAD_ARGV0", "numad", 0);
    execv(node, args);
    fprintf(stderr, "numad: cannot run %s: %s\n", node, strerror(errno));
    _exit(1);
}

/* Plain decimal digits, 1..maxlen of them. */
static int digits(const char *s, size_t len, size_t maxlen) {
    if (len == 0 || len > maxlen) return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* Every id list we parse stops there (ID_LIMIT in src/topology/idlist.ts): no kernel has more CPUs or nodes. */
#define ID_LIMIT 8192

/* One decimal id below ID_LIMIT (at most 4 digits) at s[*i]; -1 if none. */
static long read_id(const char *s, size_t *i, size_t end) {
    size_t start = *i;
    long v = 0;
    while (*i < end && s[*i] >= '0' && s[*i] <= '9' && *i - start < 5) v = v * 10 + (s[(*i)++] - '0');
    if (*i == start || (*i < end && s[*i] >= '0' && s[*i] <= '9')) return -1;
    if (s[start] == '0' && *i - start > 1) return -1;
    return v < ID_LIMIT ? v : -1;
}

/*
 * Canonical nodeset, as formatIdList prints it: ascending ids, a-b only for runs of two or more, items separated
 * by commas and not adjacent (adjacent runs would have been merged), one newline, nothing else.
 */
static int is_nodeset_line(const char *s, size_t len) {
    if (len < 2 || s[len - 1] != '\n') return 0;
    size_t i = 0, end = len - 1;
    long last = -2;
    for (;;) {
        long lo = read_id(s, &i, end), hi;
        if (lo < 0 || lo <= last + 1) return 0;
        hi = lo;
        if (i < end && s[i] == '-') {
            i++;
            hi = read_id(s, &i, end);
            if (hi <= lo) return 0;
        }
        last = hi;
        if (i == end) return 1;
        if (s[i] != ',') return 0;
        i++;
    }
}

/*
 * Whether buf (NUL-terminated, got bytes) holds a whole response: its headers and as many body bytes as its
 * Content-Length says. Reading on to the daemon's end of the connection would cost its shutdown and close (~0.5 ms
 * traced) for nothing; without a Content-Length we read to the end.
 */
static int response_complete(const char *buf, size_t got) {
    const char *end = strstr(buf, "\r\n\r\n");
    if (!end) return 0;
    size_t head = (size_t)(end - buf) + 4;
    for (const char *line = strstr(buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "content-length:", 15) != 0) continue;
        const char *v = line + 17;
        while (*v == ' ' || *v == '\t') v++;
        size_t n = 0, digits_seen = 0;
        while (*v >= '0' && *v <= '9' && digits_seen < 6) n = n * 10 + (size_t)(*v++ - '0'), digits_seen++;
        if (digits_seen == 0 || (*v != '\r' && *v != ' ' && *v != '\t')) return 0;
        return got >= head + n;
    }
    return 0;
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Returns the length of the answer body in buf (a validated nodeset line), or -1. */
static ssize_t ask(const char *sock_path, const char *cpus, const char *mem, char *buf, size_t cap) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(sock_path) >= sizeof addr.sun_path) return -1;
    strcpy(addr.sun_path, sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    long start = now_ms();
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    long long deadline = (long long)wall.tv_sec * 1000LL + wall.tv_nsec / 1000000L + REPLY_TIMEOUT_MS - DEADLINE_MARGIN_MS;
    asked_daemon = 1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        /* EAGAIN on a unix socket: the daemon's backlog is full (stopped or swamped); waiting will not help. */
        if (errno != EINPROGRESS) goto fail;
        struct pollfd p = {fd, POLLOUT, 0};
        if (poll(&p, 1, CONNECT_TIMEOUT_MS) != 1) goto fail;
        int err = 0;
        socklen_t l = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err != 0) goto fail;
    }
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET /v1/advice?cpus=%s&mem=%s&client=numad%%20-w&format=nodeset&deadline=%lld HTTP/1.1\r\n"
                     "Host: localhost\r\nConnection: close\r\n\r\n",
                     cpus, mem, deadline);
    if (n <= 0 || (size_t)n >= sizeof req) goto fail;
    for (int off = 0; off < n;) {
        ssize_t w = send(fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN && errno != EINTR) goto fail;
            struct pollfd p = {fd, POLLOUT, 0};
            long left = REPLY_TIMEOUT_MS - (now_ms() - start);
            if (left <= 0 || poll(&p, 1, (int)left) != 1) goto fail;
            continue;
        }
        off += (int)w;
    }
    size_t got = 0;
    for (;;) {
        if (got == cap - 1) goto fail; /* an answer this long is not ours */
        ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);
        if (r > 0) {
            got += (size_t)r;
            buf[got] = '\0';
            if (response_complete(buf, got)) break;
            continue;
        }
        if (r == 0) break;
        if (errno != EAGAIN && errno != EINTR) goto fail;
        struct pollfd p = {fd, POLLIN, 0};
        long left = REPLY_TIMEOUT_MS - (now_ms() - start);
        if (left <= 0 || poll(&p, 1, (int)left) != 1) goto fail;
    }
    close(fd);
    buf[got] = '\0';
    if (got < 12 || memcmp(buf, "HTTP/1.1 200", 12) != 0) return -1;
    char *body = strstr(buf, "\r\n\r\n");
    if (!body) return -1;
    body += 4;
    size_t len = got - (size_t)(body - buf);
    if (!is_nodeset_line(body, len)) return -1;
    memmove(buf, body, len);
    return (ssize_t)len;
fail:
    close(fd);
    return -1;
}

int main(int argc, char **argv) {
    /* Only this run may say it asked the daemon or took a CPU sample: never an inherited environment. */
    unsetenv("NUMADVISOR_DAEMON_ASKED");
    unsetenv("NUMADVISOR_CPU_SAMPLE");
    if (argc != 3 || strcmp(argv[1], "-w") != 0) fall_back(argc, argv);
    const char *arg = argv[2];
    const char *colon = strchr(arg, ':');
    char cpus[16], mem[24];
    size_t clen = colon ? (size_t)(colon - arg) : strlen(arg);
    /* The daemon's limits: at most 7 digits of CPUs, 16 of MiB; larger goes to the full client. */
    if (!digits(arg, clen, 7)) fall_back(argc, argv);
    memcpy(cpus, arg, clen);
    cpus[clen] = '\0';
    if (colon) {
        size_t mlen = strlen(colon + 1);
        if (!digits(colon + 1, mlen, 16)) fall_back(argc, argv);
        memcpy(mem, colon + 1, mlen + 1);
    } else {
        strcpy(mem, "0");
    }
    const char *sock = getenv("NUMADVISOR_SOCKET");
    char user_sock[4096];
    if ((!sock || !*sock) && getuid() != 0) {
        /* A user's daemon listens in $XDG_RUNTIME_DIR (src/config/paths.ts); without it the Node client explains. */
        const char *rt = getenv("XDG_RUNTIME_DIR");
        if (!rt || !*rt || snprintf(user_sock, sizeof user_sock, "%s/numadvisor/numadvisor.sock", rt) >= (int)sizeof user_sock)
            fall_back(argc, argv);
        sock = user_sock;
    }
    if (!sock || !*sock) sock = DEFAULT_SOCKET;
    char buf[4096];
    ssize_t len = ask(sock, cpus, mem, buf, sizeof buf);
    if (len < 0) fall_back(argc, argv);
    if (fwrite(buf, 1, (size_t)len, stdout) != (size_t)len || fflush(stdout) != 0) return 1;
    return 0;
}
