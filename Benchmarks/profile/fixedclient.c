// A fixed-count HTTP/1.1 load generator for instruction and syscall counting.
//
// wrk runs for a duration, not a number of requests, so two runs under a profiler serve
// different amounts of work and their totals cannot be divided by a known count. This client
// sends exactly the requests it is told to, over a fixed number of concurrent connections,
// and exits; it checks every response (status 200, full body) so a broken proxy cannot look
// fast.
//
//   fixedclient keepalive HOST PORT CONNECTIONS REQUESTS PATH   (REQUESTS spread over CONNECTIONS)
//   fixedclient close     HOST PORT CONCURRENCY  REQUESTS PATH   (one connection per request)
//   fixedclient idle      HOST PORT CONNECTIONS  SECONDS  PATH   (one request each, then hold them open)
//
// Prints "requests N errors E seconds S" on stdout; exit status 1 when any request failed.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mode { KEEPALIVE, CLOSE, IDLE };

struct conn {
    int fd;
    int active;      // a request is in flight
    size_t have;     // bytes of the current response received
    long expect;     // full response length once the head is parsed, else -1
    char buf[4096];
};

static struct sockaddr_in target;
static char request[512];
static size_t request_len;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int open_conn(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) { perror("socket"); exit(2); }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0) { perror("connect"); exit(2); }
    return fd;
}

static int send_request(struct conn *c) {
    size_t off = 0;
    while (off < request_len) {
        ssize_t n = send(c->fd, request + off, request_len - off, MSG_NOSIGNAL);
        if (n <= 0) return -1;
        off += (size_t)n;
    }
    c->active = 1;
    c->have = 0;
    c->expect = -1;
    return 0;
}

// Returns 1 when the response is complete, 0 when more is needed, -1 on error. In close mode
// the response ends with the connection (read until 0), which also checks the proxy closes.
static int on_readable(struct conn *c, enum mode mode) {
    char *space = c->buf + (c->have < sizeof c->buf ? c->have : 0);
    size_t room = c->have < sizeof c->buf ? sizeof c->buf - c->have : sizeof c->buf;
    ssize_t n = recv(c->fd, space, room, 0);
    if (n < 0) return errno == EINTR ? 0 : -1;
    if (n == 0) {
        if (mode == CLOSE && c->expect >= 0 && (long)c->have == c->expect) return 1;
        return -1;
    }
    c->have += (size_t)n;
    if (c->expect < 0 && c->have <= sizeof c->buf) {
        char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
        if (end) {
            if (strncmp(c->buf, "HTTP/1.1 200", 12) != 0) return -1;
            char *cl = memmem(c->buf, (size_t)(end - c->buf), "Content-Length:", 15);
            if (!cl) cl = memmem(c->buf, (size_t)(end - c->buf), "content-length:", 15);
            if (!cl) return -1;
            c->expect = (end + 4 - c->buf) + strtol(cl + 15, NULL, 10);
        }
    }
    if (c->expect >= 0 && (long)c->have > c->expect) return -1;
    if (c->expect >= 0 && (long)c->have == c->expect && mode != CLOSE) return 1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s keepalive|close|idle HOST PORT CONNECTIONS REQUESTS|SECONDS PATH\n", argv[0]);
        return 2;
    }
    enum mode mode = strcmp(argv[1], "close") == 0 ? CLOSE : strcmp(argv[1], "idle") == 0 ? IDLE : KEEPALIVE;
    memset(&target, 0, sizeof target);
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)atoi(argv[3]));
    if (inet_pton(AF_INET, argv[2], &target.sin_addr) != 1) { fprintf(stderr, "bad host\n"); return 2; }
    int nconn = atoi(argv[4]);
    long total = atol(argv[5]);
    request_len = (size_t)snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: bench\r\n%s\r\n", argv[6],
                                   mode == CLOSE ? "Connection: close\r\n" : "");
    if (mode == IDLE) total = nconn;

    struct conn *conns = calloc((size_t)nconn, sizeof *conns);
    struct pollfd *fds = calloc((size_t)nconn, sizeof *fds);
    long started = 0, done = 0, errors = 0;
    double t0 = now();
    for (int i = 0; i < nconn && started < total; i++) {
        conns[i].fd = open_conn();
        if (send_request(&conns[i]) < 0) { errors++; }
        started++;
    }
    while (done + errors < total) {
        int n = 0;
        for (int i = 0; i < nconn; i++) {
            fds[i].fd = conns[i].active ? conns[i].fd : -1;
            fds[i].events = POLLIN;
            fds[i].revents = 0;
            if (conns[i].active) n++;
        }
        if (n == 0) break;
        if (poll(fds, (nfds_t)nconn, 30000) <= 0) { fprintf(stderr, "stalled\n"); errors += total - done; break; }
        for (int i = 0; i < nconn; i++) {
            if (!fds[i].revents) continue;
            struct conn *c = &conns[i];
            int r = on_readable(c, mode);
            if (r == 0) continue;
            c->active = 0;
            if (r < 0) { errors++; close(c->fd); c->fd = open_conn(); }
            else done++;
            if (mode == IDLE) continue;  // keep the connection, send nothing more
            if (mode == CLOSE) { close(c->fd); if (started < total) c->fd = open_conn(); }
            if (started < total) {
                if (send_request(c) < 0) errors++;
                started++;
            }
        }
    }
    double elapsed = now() - t0;
    if (mode == IDLE) {
        printf("open %d errors %ld\n", nconn, errors);
        fflush(stdout);
        sleep((unsigned)atoi(argv[5]));
    }
    printf("requests %ld errors %ld seconds %.3f\n", done, errors, elapsed);
    return errors ? 1 : 0;
}
