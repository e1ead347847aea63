/*
 * libbpf for Bascule's kernel data plane (Sources/BasculeXDP): the calls Swift cannot make
 * itself (libbpf's variadic print callback, option structs built with LIBBPF_OPTS) and the
 * layouts shared with the XDP program.
 */
#ifndef CBPF_H
#define CBPF_H

#include <stddef.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include "xdp_maps.h"

/* From now on libbpf's messages (the verifier's log among them) are kept, not printed, so a
 * failed load can report them; the last 64 KiB are kept. Control thread only. */
void bascule_bpf_keep_messages(void);
const char *bascule_bpf_messages(void);
void bascule_bpf_clear_messages(void);

/* Opens an ELF object from memory; NULL (errno set) when libbpf rejects it. */
struct bpf_object *bascule_bpf_open(const void *bytes, size_t size, const char *name);

/* Attaches `prog_fd` to `ifindex` with XDP_FLAGS_* `flags`; when `expected_id` is not 0 the
 * kernel replaces that program only if it is still the one attached (XDP_FLAGS_REPLACE).
 * 0 or -errno. */
int bascule_xdp_attach(int ifindex, int prog_fd, __u32 flags, __u32 expected_id);

/* Detaches whatever program `flags`' mode has on `ifindex` if it is still `expected_fd`'s. */
int bascule_xdp_detach(int ifindex, __u32 flags, int expected_fd);

/* The id of the program attached on `ifindex` in `flags`' mode (0: none), and its name into
 * `name` (BPF_OBJ_NAME_LEN bytes). 0 or -errno. */
int bascule_xdp_attached(int ifindex, __u32 flags, __u32 *id, char *name);

#endif
