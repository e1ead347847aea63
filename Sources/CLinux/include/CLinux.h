#ifndef BASCULE_CLINUX_H
#define BASCULE_CLINUX_H

// System headers only; _GNU_SOURCE is deliberately not defined here because doing so
// changes Glibc's fd_set and clashes with the Swift Glibc module. GNU-only calls are
// wrapped in shim.c, which defines _GNU_SOURCE itself.
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>

static const uint32_t CL_EPOLLIN = EPOLLIN;
static const uint32_t CL_EPOLLOUT = EPOLLOUT;
static const uint32_t CL_EPOLLERR = EPOLLERR;
static const uint32_t CL_EPOLLHUP = EPOLLHUP;
static const uint32_t CL_EPOLLRDHUP = EPOLLRDHUP;
static const uint32_t CL_EPOLLET = EPOLLET;
static const uint32_t CL_EPOLLEXCLUSIVE = EPOLLEXCLUSIVE;
static const int CL_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
static const int CL_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
static const int CL_EPOLL_CTL_DEL = EPOLL_CTL_DEL;

// Relaxed atomics on plain memory, for counter tables Swift's Atomic (one value, ~Copyable)
// cannot be an element of.
static inline long cl_atomic_add(long *p, long v) { return __atomic_add_fetch(p, v, __ATOMIC_RELAXED); }
static inline long cl_atomic_load(const long *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

int cl_epoll_create(void);
int cl_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
// struct epoll_event is packed on x86-64; this copies each event's fields out into two
// plain arrays so Swift never holds a pointer into a packed struct.
int cl_epoll_wait(int epfd, struct epoll_event *scratch, uint32_t *events, uint64_t *data,
                  int maxevents, int timeout_ms);
size_t cl_epoll_event_size(void);

int cl_eventfd(unsigned int initval);
int cl_timerfd_create_monotonic(void);
int cl_timerfd_set_ms(int fd, uint64_t first_ms, uint64_t interval_ms);
int cl_signalfd(const int *signals, int count);
// Blocks the given signals in the calling thread (before spawning threads, so all inherit it).
int cl_block_signals(const int *signals, int count);
int cl_signalfd_read_signo(int fd);

// The relay's own calls, made with syscall() instead of through glibc's wrappers. glibc's
// recv, send, accept4, connect, epoll_wait and close are pthread cancellation points: each
// switches asynchronous cancellation on and off around the system call, about a quarter of
// the relay's user-space instructions for a small request. No thread here is ever cancelled.
// Same system calls, same results; errors come back as -1 with errno set, as from glibc.
ssize_t cl_recv(int fd, void *buffer, size_t length, int flags);
ssize_t cl_send(int fd, const void *buffer, size_t length, int flags);
int cl_connect(int fd, const struct sockaddr *address, socklen_t length);
int cl_close(int fd);

int cl_pipe2_nonblock(int fds[2]);
int cl_set_pipe_size(int fd, int size);
int cl_get_pipe_size(int fd);
ssize_t cl_splice(int fd_in, int fd_out, size_t len, int more);
int cl_accept4(int fd, struct sockaddr *addr, socklen_t *len);
int cl_socket_nonblock(int domain, int type);
// One message of `len` bytes carrying `count` descriptors (SCM_RIGHTS) on a Unix stream socket.
ssize_t cl_send_fds(int sock, const void *buf, size_t len, const int *fds, int count);
// Up to `len` bytes and up to `max` descriptors (received close-on-exec); `*received` is how
// many arrived. Descriptors that did not fit (MSG_CTRUNC) are closed by the kernel; the call
// then closes those that did and fails with EMSGSIZE, so nothing leaks.
ssize_t cl_recv_fds(int sock, void *buf, size_t len, int *fds, int max, int *received);

uint64_t cl_monotonic_ns(void);
uint64_t cl_monotonic_coarse_ms(void);
int cl_sched_getcpu(void);
int cl_set_thread_name(const char *name);

#endif
