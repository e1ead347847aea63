// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The backend side of Bascule's kernel data plane, for hosts whose kernel has no IP-in-IP
 * device (no CONFIG_NET_IPIP / CONFIG_IPV6_TUNNEL, as on some container kernels): takes the
 * outer header off IPv4-in-IPv4 and IPv6-in-IPv6 packets as they arrive and passes the inner
 * packet to the stack, as tunl0 / ip6tnl0 would. Everything else passes untouched.
 * Attached by `bascule xdp-decap attach --interface DEV` (deploy/xdp/backend-setup.sh).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Moves the Ethernet header `outer` bytes forward, over the outer IP header, and trims it. */
static __always_inline int strip(struct xdp_md *ctx, int outer, __u16 inner_proto)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) + outer > data_end)
        return XDP_PASS;
    struct ethhdr copy = *eth;
    copy.h_proto = bpf_htons(inner_proto);
    if (bpf_xdp_adjust_head(ctx, outer))
        return XDP_PASS;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    eth = data;
    if ((void *)(eth + 1) > data_end)
        return XDP_DROP;
    *eth = copy;
    return XDP_PASS;
}

SEC("xdp")
int bascule_decap(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        return XDP_PASS;
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > data_end || ip->ihl != 5 || ip->protocol != IPPROTO_IPIP)
            return XDP_PASS;
        /* A fragmented outer packet is left to the stack (which has no tunnel to give it to). */
        if (ip->frag_off & bpf_htons(0x3FFF))
            return XDP_PASS;
        return strip(ctx, sizeof(struct iphdr), ETH_P_IP);
    }
    if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > data_end || ip->nexthdr != IPPROTO_IPV6)
            return XDP_PASS;
        return strip(ctx, sizeof(struct ipv6hdr), ETH_P_IPV6);
    }
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
