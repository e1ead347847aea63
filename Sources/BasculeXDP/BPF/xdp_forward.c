// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Bascule's kernel data plane: an XDP program that forwards packets addressed to a service's
 * virtual address (VIP, port, TCP or UDP) to one of its backends, encapsulated IP-in-IP
 * (IPv4 in IPv4, IPv6 in IPv6), so the backend answers the client directly (direct server
 * return). Compiled by clang for the BPF target as part of `swift build` (Plugins/BPFObject)
 * and loaded by libbpf (Sources/BasculeXDP); the control plane fills every map.
 *
 * What happens to each packet (the `verdict_*` counters say which, per CPU):
 * - not IPv4/IPv6, truncated before the destination address, or not to a VIP: XDP_PASS, the
 *   node's own traffic (health checks, ARP, ND, SSH) is not ours to judge;
 * - to a VIP but another port or protocol (ICMP included): XDP_PASS;
 * - to a VIP and malformed or not forwardable: XDP_DROP, never forwarded: truncated IP or
 *   L4 header, IPv4 options, fragments, IPv6 extension headers (Katran drops the same);
 * - to a service: one backend by flow table then Maglev, encapsulated, next hop from the
 *   kernel's FIB (bpf_fib_lookup), XDP_TX (or redirect when the route leaves by another
 *   device); dropped when no backend, no route or no neighbour entry, or too big for the MTU.
 *
 * The hash MUST stay identical to Sources/BasculeBalancing (ClientHash, StableHash.mix64,
 * StableHash.reduce, MaglevTable.lookup): a proxy node and an XDP node agree on every client.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdp_maps.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, BASCULE_MAX_SERVICES * 2);
    __type(key, struct service_key);
    __type(value, struct service_value);
} services SEC(".maps");

/* Every VIP address, so a fragment or an IPv4 option packet for one is dropped (not passed
 * to the stack, which would route it back out) before its ports are known. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, BASCULE_MAX_SERVICES * 2);
    __type(key, struct vip_key);
    __type(value, __u32);
} vips SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, BASCULE_MAX_SERVICES * BASCULE_MAX_BACKENDS);
    __type(key, __u32);
    __type(value, struct backend_value);
} backends SEC(".maps");

/* Two halves per service: the control plane writes the one not in use, then flips
 * `service_value.table_half`, so a packet never sees half an old and half a new table. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, BASCULE_MAX_SERVICES * 2 * BASCULE_MAGLEV_STRIDE);
    __type(key, __u32);
    __type(value, __u32);
} maglev SEC(".maps");

/* Flow -> backend, so a flow stays where it started when the pool changes. LRU: when full
 * the least recently seen flow is forgotten, and its next packet is placed by Maglev again
 * (the same backend unless the pool changed meanwhile). Size set by the loader. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 131072);
    __type(key, struct flow_key);
    __type(value, struct flow_value);
} flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, BASCULE_MAX_SERVICES * BASCULE_MAX_BACKENDS);
    __type(key, __u32);
    __type(value, struct traffic_counter);
} backend_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, BASCULE_MAX_SERVICES);
    __type(key, __u32);
    __type(value, struct traffic_counter);
} service_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, VERDICT_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} verdicts SEC(".maps");

static __always_inline int count(__u32 verdict, int action)
{
    __u64 *value = bpf_map_lookup_elem(&verdicts, &verdict);
    if (value)
        *value += 1;
    return action;
}

/* StableHash.mix64: the splitmix64 finaliser. */
static __always_inline __u64 mix64(__u64 z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* StableHash.reduce: the high 64 bits of value × bound (bound < 2^32), without 128-bit
 * arithmetic, which the BPF target lacks. */
static __always_inline __u32 reduce(__u64 value, __u32 bound)
{
    __u64 high = (value >> 32) * bound;
    __u64 low = (value & 0xFFFFFFFFULL) * bound;
    return (__u32)((high + (low >> 32)) >> 32);
}

/* ClientHash.ipv4 / ClientHash.ipv6 over the client's address. */
static __always_inline __u64 client_hash_v4(__be32 address, int network)
{
    __u32 key = bpf_ntohl(address);
    if (network)
        key &= 0xFFFFFF00;
    return mix64((__u64)key ^ 0x6970763400000000ULL);
}

static __always_inline __u64 load_be64(const __u32 *words)
{
    return ((__u64)bpf_ntohl(words[0]) << 32) | bpf_ntohl(words[1]);
}

static __always_inline __u64 client_hash_v6(const __u32 *address, int network)
{
    __u64 prefix = mix64(load_be64(address) ^ 0x6970763600000000ULL);
    return network ? prefix : mix64(prefix ^ load_be64(address + 2));
}

static __always_inline void count_traffic(void *map, __u32 key, __u64 bytes)
{
    struct traffic_counter *counter = bpf_map_lookup_elem(map, &key);
    if (counter) {
        counter->packets += 1;
        counter->bytes += bytes;
    }
}

/* The backend for this flow: the one it already has while that backend takes existing flows,
 * else the Maglev table's (recorded for the next packets). Returns the global backend key, or
 * a negative verdict. */
static __always_inline __s64 choose_backend(const struct service_value *service, struct flow_key *flow,
                                            __u64 client_hash)
{
    struct flow_value *known = bpf_map_lookup_elem(&flows, flow);
    if (known) {
        struct backend_value *backend = bpf_map_lookup_elem(&backends, &known->backend);
        if (backend && (backend->flags & BACKEND_TAKES_FLOWS))
            return known->backend;
    }
    if (service->table_size == 0 || service->table_size > BASCULE_MAGLEV_STRIDE)
        return -VERDICT_DROP_NO_BACKEND;
    __u32 slot = reduce(mix64(client_hash), service->table_size);
    __u32 index = (service->slot * 2 + (service->table_half & 1)) * BASCULE_MAGLEV_STRIDE + slot;
    __u32 *position = bpf_map_lookup_elem(&maglev, &index);
    if (!position || *position >= BASCULE_MAX_BACKENDS)
        return -VERDICT_DROP_NO_BACKEND;
    struct flow_value chosen = { .backend = service->slot * BASCULE_MAX_BACKENDS + *position };
    bpf_map_update_elem(&flows, flow, &chosen, BPF_ANY);
    return chosen.backend;
}

/* Ethernet addresses of the next hop towards `fib->ipv4_dst` / `ipv6_dst`, from the kernel's
 * routing table and neighbour cache: the action to take, or a negative verdict. */
static __always_inline int next_hop(struct xdp_md *ctx, struct bpf_fib_lookup *fib, struct ethhdr *eth)
{
    int rc = bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
    if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
        return -VERDICT_DROP_NO_NEIGHBOUR;
    if (rc != BPF_FIB_LKUP_RET_SUCCESS)
        return -VERDICT_DROP_NO_ROUTE;
    __builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
    __builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
    if (fib->ifindex == ctx->ingress_ifindex)
        return XDP_TX;
    return bpf_redirect(fib->ifindex, 0);
}

static __always_inline __u16 ipv4_checksum(struct iphdr *ip)
{
    __u32 sum = 0;
    __u16 *words = (__u16 *)ip;
#pragma unroll
    for (int i = 0; i < (int)(sizeof(*ip) / 2); i++)
        sum += words[i];
    sum = (sum & 0xFFFF) + (sum >> 16);
    sum = (sum & 0xFFFF) + (sum >> 16);
    return (__u16)~sum;
}

static __always_inline int forward_v4(struct xdp_md *ctx, const struct service_value *service,
                                      const struct backend_value *backend, __u64 bytes)
{
    if (bytes + sizeof(struct iphdr) > service->mtu)
        return -VERDICT_DROP_TOO_BIG;
    if (bpf_xdp_adjust_head(ctx, 0 - (int)sizeof(struct iphdr)))
        return -VERDICT_DROP_NO_ROOM;
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *outer = data + sizeof(struct ethhdr);
    struct iphdr *inner = data + sizeof(struct ethhdr) + sizeof(struct iphdr);
    if ((void *)(inner + 1) > data_end)
        return -VERDICT_DROP_NO_ROOM;
    eth->h_proto = bpf_htons(ETH_P_IP);
    outer->version = 4;
    outer->ihl = 5;
    outer->tos = inner->tos;
    outer->tot_len = bpf_htons(bpf_ntohs(inner->tot_len) + sizeof(struct iphdr));
    outer->id = 0;
    /* DF as the client set it: a client doing path MTU discovery gets its answer. */
    outer->frag_off = inner->frag_off & bpf_htons(0x4000);
    outer->ttl = 64;
    outer->protocol = IPPROTO_IPIP;
    outer->saddr = service->source[0];
    outer->daddr = backend->address[0];
    outer->check = 0;
    outer->check = ipv4_checksum(outer);

    struct bpf_fib_lookup fib = {};
    fib.family = AF_INET;
    fib.l4_protocol = IPPROTO_IPIP;
    fib.tot_len = bpf_ntohs(outer->tot_len);
    fib.ipv4_src = outer->saddr;
    fib.ipv4_dst = outer->daddr;
    fib.ifindex = ctx->ingress_ifindex;
    return next_hop(ctx, &fib, eth);
}

static __always_inline int forward_v6(struct xdp_md *ctx, const struct service_value *service,
                                      const struct backend_value *backend, __u64 bytes, __u64 hash)
{
    if (bytes + sizeof(struct ipv6hdr) > service->mtu)
        return -VERDICT_DROP_TOO_BIG;
    if (bpf_xdp_adjust_head(ctx, 0 - (int)sizeof(struct ipv6hdr)))
        return -VERDICT_DROP_NO_ROOM;
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct ipv6hdr *outer = data + sizeof(struct ethhdr);
    struct ipv6hdr *inner = data + sizeof(struct ethhdr) + sizeof(struct ipv6hdr);
    if ((void *)(inner + 1) > data_end)
        return -VERDICT_DROP_NO_ROOM;
    eth->h_proto = bpf_htons(ETH_P_IPV6);
    outer->version = 6;
    outer->priority = inner->priority;
    /* The flow label carries the client's hash, so routers between here and the backend
     * that hash on it (ECMP) keep one flow on one path. */
    outer->flow_lbl[0] = (hash >> 16) & 0x0F;
    outer->flow_lbl[1] = (hash >> 8) & 0xFF;
    outer->flow_lbl[2] = hash & 0xFF;
    outer->payload_len = bpf_htons(bpf_ntohs(inner->payload_len) + sizeof(struct ipv6hdr));
    outer->nexthdr = IPPROTO_IPV6;
    outer->hop_limit = 64;
    __builtin_memcpy(&outer->saddr, service->source, 16);
    __builtin_memcpy(&outer->daddr, backend->address, 16);

    struct bpf_fib_lookup fib = {};
    fib.family = AF_INET6;
    fib.l4_protocol = IPPROTO_IPV6;
    fib.tot_len = bpf_ntohs(outer->payload_len) + sizeof(struct ipv6hdr);
    __builtin_memcpy(fib.ipv6_src, service->source, 16);
    __builtin_memcpy(fib.ipv6_dst, backend->address, 16);
    fib.ifindex = ctx->ingress_ifindex;
    return next_hop(ctx, &fib, eth);
}

/* The packet's service, backend and forwarding, once its headers are known to be whole.
 * `l4` points at the TCP or UDP header (its ports first in both). */
static __always_inline int forward(struct xdp_md *ctx, struct service_key *key, struct flow_key *flow, __u64 bytes)
{
    struct service_value *service = bpf_map_lookup_elem(&services, key);
    if (!service)
        return count(VERDICT_PASS_VIP_OTHER, XDP_PASS);
    int network = service->flags & SERVICE_AFFINITY_NETWORK;
    __u64 hash = key->family == AF_INET ? client_hash_v4(flow->source[0], network)
                                        : client_hash_v6(flow->source, network);
    __s64 chosen = choose_backend(service, flow, hash);
    if (chosen < 0)
        return count((__u32)-chosen, XDP_DROP);
    __u32 backend_key = (__u32)chosen;
    struct backend_value *backend = bpf_map_lookup_elem(&backends, &backend_key);
    if (!backend)
        return count(VERDICT_DROP_NO_BACKEND, XDP_DROP);
    __u32 service_slot = service->slot;
    int action = key->family == AF_INET ? forward_v4(ctx, service, backend, bytes)
                                        : forward_v6(ctx, service, backend, bytes, hash);
    if (action < 0)
        return count((__u32)-action, XDP_DROP);
    count_traffic(&service_stats, service_slot, bytes);
    count_traffic(&backend_stats, backend_key, bytes);
    return count(action == XDP_TX ? VERDICT_TX : VERDICT_REDIRECT, action);
}

static __always_inline int is_vip(__u32 family, const __u32 *address)
{
    struct vip_key key = { .family = family };
    if (family == AF_INET)
        key.address[0] = address[0];
    else
        __builtin_memcpy(key.address, address, 16);
    return bpf_map_lookup_elem(&vips, &key) != NULL;
}

static __always_inline int handle_ipv4(struct xdp_md *ctx, void *data, void *data_end)
{
    struct iphdr *ip = data + sizeof(struct ethhdr);
    if ((void *)(ip + 1) > data_end)
        return count(VERDICT_PASS_MALFORMED, XDP_PASS);
    if (!is_vip(AF_INET, &ip->daddr))
        return count(VERDICT_PASS_NOT_VIP, XDP_PASS);
    if (ip->version != 4 || ip->ihl < 5)
        return count(VERDICT_DROP_MALFORMED, XDP_DROP);
    if (ip->ihl != 5)
        return count(VERDICT_DROP_IP_OPTIONS, XDP_DROP);
    if (ip->frag_off & bpf_htons(0x3FFF))
        return count(VERDICT_DROP_FRAGMENT, XDP_DROP);
    __u16 total = bpf_ntohs(ip->tot_len);
    if (total < sizeof(*ip) || (void *)ip + total > data_end)
        return count(VERDICT_DROP_TRUNCATED, XDP_DROP);
    if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
        return count(VERDICT_PASS_VIP_OTHER, XDP_PASS);
    __u16 *ports = (void *)(ip + 1);
    __u32 l4_size = ip->protocol == IPPROTO_TCP ? sizeof(struct tcphdr) : sizeof(struct udphdr);
    if ((void *)(ip + 1) + l4_size > data_end || sizeof(*ip) + l4_size > total)
        return count(VERDICT_DROP_TRUNCATED, XDP_DROP);
    if (ip->protocol == IPPROTO_TCP) {
        struct tcphdr *tcp = (void *)(ip + 1);
        if ((void *)(tcp + 1) > data_end || tcp->doff < 5)
            return count(VERDICT_DROP_MALFORMED, XDP_DROP);
    }
    if ((void *)(ports + 2) > data_end)
        return count(VERDICT_DROP_TRUNCATED, XDP_DROP);

    struct service_key key = { .port = ports[1], .protocol = ip->protocol, .family = AF_INET };
    key.address[0] = ip->daddr;
    struct flow_key flow = { .source_port = ports[0], .destination_port = ports[1], .protocol = ip->protocol };
    flow.source[0] = ip->saddr;
    flow.destination[0] = ip->daddr;
    return forward(ctx, &key, &flow, total);
}

static __always_inline int handle_ipv6(struct xdp_md *ctx, void *data, void *data_end)
{
    struct ipv6hdr *ip = data + sizeof(struct ethhdr);
    if ((void *)(ip + 1) > data_end)
        return count(VERDICT_PASS_MALFORMED, XDP_PASS);
    if (!is_vip(AF_INET6, (__u32 *)&ip->daddr))
        return count(VERDICT_PASS_NOT_VIP, XDP_PASS);
    if (ip->version != 6)
        return count(VERDICT_DROP_MALFORMED, XDP_DROP);
    __u32 total = (__u32)bpf_ntohs(ip->payload_len) + sizeof(*ip);
    if ((void *)ip + total > data_end)
        return count(VERDICT_DROP_TRUNCATED, XDP_DROP);
    if (ip->nexthdr == 44)
        return count(VERDICT_DROP_FRAGMENT, XDP_DROP);
    if (ip->nexthdr == 0 || ip->nexthdr == 43 || ip->nexthdr == 60 || ip->nexthdr == 51 || ip->nexthdr == 50)
        return count(VERDICT_DROP_IP_OPTIONS, XDP_DROP);
    if (ip->nexthdr != IPPROTO_TCP && ip->nexthdr != IPPROTO_UDP)
        return count(VERDICT_PASS_VIP_OTHER, XDP_PASS);
    __u16 *ports = (void *)(ip + 1);
    __u32 l4_size = ip->nexthdr == IPPROTO_TCP ? sizeof(struct tcphdr) : sizeof(struct udphdr);
    if ((void *)(ip + 1) + l4_size > data_end || sizeof(*ip) + l4_size > total)
        return count(VERDICT_DROP_TRUNCATED, XDP_DROP);
    if (ip->nexthdr == IPPROTO_TCP) {
        struct tcphdr *tcp = (void *)(ip + 1);
        if ((void *)(tcp + 1) > data_end || tcp->doff < 5)
            return count(VERDICT_DROP_MALFORMED, XDP_DROP);
    }
    if ((void *)(ports + 2) > data_end)
        return count(VERDICT_DROP_TRUNCATED, XDP_DROP);

    struct service_key key = { .port = ports[1], .protocol = ip->nexthdr, .family = AF_INET6 };
    __builtin_memcpy(key.address, &ip->daddr, 16);
    struct flow_key flow = { .source_port = ports[0], .destination_port = ports[1], .protocol = ip->nexthdr };
    __builtin_memcpy(flow.source, &ip->saddr, 16);
    __builtin_memcpy(flow.destination, &ip->daddr, 16);
    return forward(ctx, &key, &flow, total);
}

SEC("xdp")
int bascule_xdp(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        return count(VERDICT_PASS_MALFORMED, XDP_PASS);
    if (eth->h_proto == bpf_htons(ETH_P_IP))
        return handle_ipv4(ctx, data, data_end);
    if (eth->h_proto == bpf_htons(ETH_P_IPV6))
        return handle_ipv6(ctx, data, data_end);
    return count(VERDICT_PASS_NOT_IP, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
