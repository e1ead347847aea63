#include "CBPF.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MESSAGE_CAPACITY 65536
static char messages[MESSAGE_CAPACITY];
static size_t message_length;

static int keep_message(enum libbpf_print_level level, const char *format, va_list args)
{
    (void)level;
    char line[4096];
    int written = vsnprintf(line, sizeof(line), format, args);
    if (written <= 0)
        return 0;
    size_t size = (size_t)written < sizeof(line) ? (size_t)written : sizeof(line) - 1;
    /* Keep the end: the verifier's reason for refusing is its last lines. */
    if (message_length + size >= MESSAGE_CAPACITY) {
        size_t drop = message_length + size - MESSAGE_CAPACITY + 1;
        if (drop > message_length)
            drop = message_length;
        memmove(messages, messages + drop, message_length - drop);
        message_length -= drop;
    }
    memcpy(messages + message_length, line, size);
    message_length += size;
    messages[message_length] = 0;
    return written;
}

void bascule_bpf_keep_messages(void)
{
    libbpf_set_print(keep_message);
}

const char *bascule_bpf_messages(void)
{
    return messages;
}

void bascule_bpf_clear_messages(void)
{
    message_length = 0;
    messages[0] = 0;
}

struct bpf_object *bascule_bpf_open(const void *bytes, size_t size, const char *name)
{
    LIBBPF_OPTS(bpf_object_open_opts, options, .object_name = name,
                /* Level 1: the verifier's log is produced (and kept) only when a load fails. */
                .kernel_log_level = 0);
    struct bpf_object *object = bpf_object__open_mem(bytes, size, &options);
    if (!object && errno == 0)
        errno = EINVAL;
    return object;
}

int bascule_xdp_attach(int ifindex, int prog_fd, __u32 flags, __u32 expected_id)
{
    LIBBPF_OPTS(bpf_xdp_attach_opts, options);
    int old_fd = -1;
    if (expected_id != 0) {
        old_fd = bpf_prog_get_fd_by_id(expected_id);
        if (old_fd < 0)
            return -errno;
        options.old_prog_fd = old_fd;
        flags |= XDP_FLAGS_REPLACE;
    }
    int rc = bpf_xdp_attach(ifindex, prog_fd, flags, &options);
    if (old_fd >= 0)
        close(old_fd);
    return rc;
}

int bascule_xdp_detach(int ifindex, __u32 flags, int expected_fd)
{
    LIBBPF_OPTS(bpf_xdp_attach_opts, options, .old_prog_fd = expected_fd);
    return bpf_xdp_detach(ifindex, flags | XDP_FLAGS_REPLACE, &options);
}

int bascule_xdp_attached(int ifindex, __u32 flags, __u32 *id, char *name)
{
    *id = 0;
    name[0] = 0;
    int rc = bpf_xdp_query_id(ifindex, flags & XDP_FLAGS_MODES, id);
    if (rc < 0)
        return rc;
    if (*id == 0)
        return 0;
    int fd = bpf_prog_get_fd_by_id(*id);
    if (fd < 0)
        return -errno;
    struct bpf_prog_info info;
    memset(&info, 0, sizeof(info));
    __u32 length = sizeof(info);
    rc = bpf_obj_get_info_by_fd(fd, &info, &length);
    if (rc == 0)
        memcpy(name, info.name, BPF_OBJ_NAME_LEN);
    close(fd);
    return rc < 0 ? -errno : 0;
}
