#define _GNU_SOURCE
#include "CLinux.h"
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <time.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>

int cl_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cl_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

int cl_epoll_wait(int epfd, struct epoll_event *scratch, uint32_t *events, uint64_t *data,
                  int maxevents, int timeout_ms) {
    // epoll_pwait with no signal mask is epoll_wait, and exists on every architecture
    // (arm64 has no epoll_wait system call); the last argument is the kernel's sigset size.
    int n = (int)syscall(SYS_epoll_pwait, epfd, scratch, maxevents, timeout_ms, NULL, (size_t)8);
    for (int i = 0; i < n; i++) {
        events[i] = scratch[i].events;
        data[i] = scratch[i].data.u64;
    }
    return n;
}

size_t cl_epoll_event_size(void) { return sizeof(struct epoll_event); }

int cl_eventfd(unsigned int initval) { return eventfd(initval, EFD_NONBLOCK | EFD_CLOEXEC); }

int cl_timerfd_create_monotonic(void) {
    return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
}

int cl_timerfd_set_ms(int fd, uint64_t first_ms, uint64_t interval_ms) {
    struct itimerspec spec;
    spec.it_value.tv_sec = (time_t)(first_ms / 1000);
    spec.it_value.tv_nsec = (long)((first_ms % 1000) * 1000000);
    spec.it_interval.tv_sec = (time_t)(interval_ms / 1000);
    spec.it_interval.tv_nsec = (long)((interval_ms % 1000) * 1000000);
    return timerfd_settime(fd, 0, &spec, NULL);
}

static void fill_set(sigset_t *set, const int *signals, int count) {
    sigemptyset(set);
    for (int i = 0; i < count; i++) sigaddset(set, signals[i]);
}

int cl_block_signals(const int *signals, int count) {
    sigset_t set;
    fill_set(&set, signals, count);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int cl_signalfd(const int *signals, int count) {
    sigset_t set;
    fill_set(&set, signals, count);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int cl_signalfd_read_signo(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n != (ssize_t)sizeof info) return -1;
    return (int)info.ssi_signo;
}

int cl_pipe2_nonblock(int fds[2]) { return pipe2(fds, O_NONBLOCK | O_CLOEXEC); }
int cl_set_pipe_size(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }
int cl_get_pipe_size(int fd) { return fcntl(fd, F_GETPIPE_SZ); }

ssize_t cl_splice(int fd_in, int fd_out, size_t len, int more) {
    unsigned int flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | (more ? SPLICE_F_MORE : 0);
    return splice(fd_in, NULL, fd_out, NULL, len, flags);
}

int cl_accept4(int fd, struct sockaddr *addr, socklen_t *len) {
    return (int)syscall(SYS_accept4, fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

ssize_t cl_recv(int fd, void *buffer, size_t length, int flags) {
    return syscall(SYS_recvfrom, fd, buffer, length, flags, NULL, NULL);
}

ssize_t cl_send(int fd, const void *buffer, size_t length, int flags) {
    return syscall(SYS_sendto, fd, buffer, length, flags, NULL, 0);
}

int cl_connect(int fd, const struct sockaddr *address, socklen_t length) {
    return (int)syscall(SYS_connect, fd, address, length);
}

int cl_close(int fd) { return (int)syscall(SYS_close, fd); }

int cl_socket_nonblock(int domain, int type) {
    return socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

uint64_t cl_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t cl_monotonic_coarse_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

int cl_sched_getcpu(void) { return sched_getcpu(); }

#include <sys/prctl.h>
int cl_set_thread_name(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }

// CMSG_* are macros Swift cannot call, hence these two wrappers.
ssize_t cl_send_fds(int sock, const void *buf, size_t len, const int *fds, int count) {
    if (count < 0 || count > 253) { errno = EINVAL; return -1; }   // SCM_MAX_FD
    struct iovec io = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &io;
    msg.msg_iovlen = 1;
    char control[CMSG_SPACE(253 * sizeof(int))];
    if (count > 0) {
        memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(count * sizeof(int));
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(count * sizeof(int));
        memcpy(CMSG_DATA(cmsg), fds, count * sizeof(int));
    }
    return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

ssize_t cl_recv_fds(int sock, void *buf, size_t len, int *fds, int max, int *received) {
    *received = 0;
    if (max < 0 || max > 253) { errno = EINVAL; return -1; }
    struct iovec io = { .iov_base = buf, .iov_len = len };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &io;
    msg.msg_iovlen = 1;
    char control[CMSG_SPACE(253 * sizeof(int))];
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE((max > 0 ? max : 1) * sizeof(int));
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return n;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
            if (*received < max) fds[(*received)++] = fd; else close(fd);
        }
    }
    if (msg.msg_flags & MSG_CTRUNC) {
        for (int i = 0; i < *received; i++) close(fds[i]);
        *received = 0;
        errno = EMSGSIZE;
        return -1;
    }
    return n;
}
