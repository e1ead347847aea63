// Experiment, not product code: a relay that hands established connection pairs to the
// kernel (a BPF sockhash with an SK_SKB verdict program that redirects every received segment
// to the peer socket), so no byte passes through user space. Built and run by
// `cpu.sh --targets sockmap,haproxy --scenarios keepalive` to see whether in-kernel splicing of
// small messages beats a user-space relay on this kernel. It did not (FINDINGS.md): the
// redirect to a socket's egress is queued to a workqueue, and the kworker's scheduling costs
// more than the recv/send pair it saves.
//
// Keep-alive only. On a hang-up it closes both sockets at once, which can cut off bytes still
// queued for the redirect worker: telling when that queue is empty is one of the problems a
// product version would have to solve first.
//
//   cc -O2 -o sockmap-relay sockmap-relay.c && ./sockmap-relay LISTEN_PORT BACKEND_PORT
#define _GNU_SOURCE
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdint.h>

static long bpf(int cmd, union bpf_attr *attr) { return syscall(SYS_bpf, cmd, attr, sizeof(*attr)); }

#define INSN(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

// The sockhash maps a socket's cookie to its PEER, so the verdict program needs one lookup:
// redirect(skb, map, cookie(skb's own socket)).
static int load_verdict(int map) {
    struct bpf_insn prog[] = {
        INSN(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0),                 // r6 = skb
        INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_get_socket_cookie),  // r0 = cookie
        INSN(BPF_STX | BPF_MEM | BPF_DW, 10, 0, -8, 0),                // key on the stack
        INSN(BPF_ALU64 | BPF_MOV | BPF_X, 1, 6, 0, 0),
        INSN(BPF_LD | BPF_DW | BPF_IMM, 2, BPF_PSEUDO_MAP_FD, 0, map), INSN(0, 0, 0, 0, 0),
        INSN(BPF_ALU64 | BPF_MOV | BPF_X, 3, 10, 0, 0),
        INSN(BPF_ALU64 | BPF_ADD | BPF_K, 3, 0, 0, -8),
        INSN(BPF_ALU64 | BPF_MOV | BPF_K, 4, 0, 0, 0),                 // flags 0: peer's egress
        INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_sk_redirect_hash),
        INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
    };
    static char log[65536];
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.prog_type = BPF_PROG_TYPE_SK_SKB;
    a.insns = (uint64_t)(uintptr_t)prog;
    a.insn_cnt = sizeof prog / sizeof prog[0];
    a.license = (uint64_t)(uintptr_t)"GPL";
    a.log_buf = (uint64_t)(uintptr_t)log;
    a.log_size = sizeof log;
    a.log_level = 1;
    int fd = bpf(BPF_PROG_LOAD, &a);
    if (fd < 0) { perror("BPF_PROG_LOAD"); fputs(log, stderr); exit(1); }
    return fd;
}

static void map_put(int map, uint64_t key, int fd) {
    uint64_t value = (uint64_t)fd;
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_fd = map;
    a.key = (uint64_t)(uintptr_t)&key;
    a.value = (uint64_t)(uintptr_t)&value;
    a.flags = BPF_ANY;
    if (bpf(BPF_MAP_UPDATE_ELEM, &a)) perror("BPF_MAP_UPDATE_ELEM");
}

static uint64_t cookie(int fd) {
    uint64_t c = 0;
    socklen_t len = sizeof c;
    getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len);
    return c;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s LISTEN_PORT BACKEND_PORT\n", argv[0]); return 2; }
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_type = BPF_MAP_TYPE_SOCKHASH;
    a.key_size = 8;
    a.value_size = 8;
    a.max_entries = 65536;
    int map = bpf(BPF_MAP_CREATE, &a);
    if (map < 0) { perror("BPF_MAP_CREATE"); return 1; }
    int prog = load_verdict(map);
    memset(&a, 0, sizeof a);
    a.target_fd = map;
    a.attach_bpf_fd = prog;
    a.attach_type = BPF_SK_SKB_VERDICT;
    if (bpf(BPF_PROG_ATTACH, &a)) { perror("BPF_PROG_ATTACH"); return 1; }

    int one = 1;
    struct sockaddr_in listen_addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
                                      .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in backend_addr = listen_addr;
    backend_addr.sin_port = htons(atoi(argv[2]));
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener, (void *)&listen_addr, sizeof listen_addr) || listen(listener, 4096)) {
        perror("listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    for (;;) {
        struct epoll_event events[64];
        int n = epoll_wait(ep, events, 64, -1);
        for (int i = 0; i < n; i++) {
            uint64_t tag = events[i].data.u64;
            if (tag == UINT64_MAX) {
                int client;
                while ((client = accept4(listener, NULL, NULL, 0)) >= 0) {
                    // A blocking connect keeps the experiment short; the backend is on loopback.
                    int backend = socket(AF_INET, SOCK_STREAM, 0);
                    if (connect(backend, (void *)&backend_addr, sizeof backend_addr)) {
                        perror("connect");
                        close(client);
                        close(backend);
                        continue;
                    }
                    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    setsockopt(backend, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    map_put(map, cookie(client), backend);
                    map_put(map, cookie(backend), client);
                    // Bytes that arrived before the sockets joined the map sit in the receive
                    // queue; setting SO_RCVLOWAT runs the data-ready callback, now the verdict.
                    setsockopt(client, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
                    // Interest in hang-ups only: EPOLLIN would wake us for every redirected segment.
                    struct epoll_event c = {.events = EPOLLRDHUP, .data.u64 = ((uint64_t)backend << 32) | (uint32_t)client};
                    struct epoll_event b = {.events = EPOLLRDHUP, .data.u64 = ((uint64_t)client << 32) | (uint32_t)backend};
                    epoll_ctl(ep, EPOLL_CTL_ADD, client, &c);
                    epoll_ctl(ep, EPOLL_CTL_ADD, backend, &b);
                }
            } else if (tag != 0) {
                int self = (int)(uint32_t)tag, peer = (int)(tag >> 32);
                close(self);  // closing removes a socket from the epoll set and the sockhash
                close(peer);
                for (int j = i + 1; j < n; j++) {  // the peer may be later in this batch
                    int other = (int)(uint32_t)events[j].data.u64;
                    if (events[j].data.u64 != UINT64_MAX && (other == self || other == peer)) events[j].data.u64 = 0;
                }
            }
        }
    }
}
