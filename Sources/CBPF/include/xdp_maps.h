/*
 * The layout of the maps shared by the XDP program (Sources/BasculeXDP/BPF/xdp_forward.c) and
 * its loader (Sources/BasculeXDP): one header, so the two sides cannot disagree on a field.
 * Addresses and ports are in network byte order; an IPv4 address is address[0].
 */
#ifndef BASCULE_XDP_MAPS_H
#define BASCULE_XDP_MAPS_H

#include <linux/types.h>

/* Services one program serves; backends per service (a backend's map key is
 * slot * BASCULE_MAX_BACKENDS + its position in the service's configuration). */
#define BASCULE_MAX_SERVICES 16
#define BASCULE_MAX_BACKENDS 1024
/* Slots reserved per Maglev table half: the largest table an XDP service may have (the
 * default 65537, which also covers 100 × 655 backends). */
#define BASCULE_MAGLEV_STRIDE 65537

#define SERVICE_AFFINITY_NETWORK 1u
/* The backend keeps the flows it has (up, draining or disabled; not down, unless the
 * service keeps connections to a down backend: "onBackendDown": "keep"). */
#define BACKEND_TAKES_FLOWS 1u

struct service_key {
    __u32 address[4];
    __u16 port;
    __u8 protocol;
    __u8 family;
};

struct service_value {
    __u32 slot;
    /* 0: no eligible backend (packets are dropped and counted). */
    __u32 table_size;
    __u32 table_half;
    __u32 flags;
    /* Outer source address: this node's own on the interface. */
    __u32 source[4];
    /* Largest outer packet (IP header included) the interface sends. */
    __u32 mtu;
    __u32 reserved;
};

struct vip_key {
    __u32 address[4];
    __u32 family;
};

struct backend_value {
    __u32 address[4];
    __u32 flags;
    __u32 reserved;
};

struct flow_key {
    __u32 source[4];
    __u32 destination[4];
    __u16 source_port;
    __u16 destination_port;
    __u8 protocol;
    __u8 pad[3];
};

struct flow_value {
    __u32 backend;
    __u32 reserved;
};

struct traffic_counter {
    __u64 packets;
    __u64 bytes;
};

/* Per-CPU counters of what happened to each packet (`verdicts` map). Names in
 * Sources/BasculeXDP/XDPVerdict.swift, in this order. */
enum bascule_verdict {
    VERDICT_TX = 0,
    VERDICT_REDIRECT,
    VERDICT_PASS_NOT_IP,
    VERDICT_PASS_MALFORMED,
    VERDICT_PASS_NOT_VIP,
    VERDICT_PASS_VIP_OTHER,
    VERDICT_DROP_MALFORMED,
    VERDICT_DROP_TRUNCATED,
    VERDICT_DROP_IP_OPTIONS,
    VERDICT_DROP_FRAGMENT,
    VERDICT_DROP_NO_BACKEND,
    VERDICT_DROP_NO_ROUTE,
    VERDICT_DROP_NO_NEIGHBOUR,
    VERDICT_DROP_TOO_BIG,
    VERDICT_DROP_NO_ROOM,
    VERDICT_COUNT
};

#endif
