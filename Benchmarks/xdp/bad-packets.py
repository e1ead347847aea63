#!/usr/bin/env python3
"""Sends one hand-made Ethernet frame (AF_PACKET, so nothing on the way repairs or refuses it)
to the balancer, for the XDP program's bad-input handling. Run in the router's namespace.

    bad-packets.py DEV DST_MAC CASE      CASE: see CASES; prints "sent CASE BYTES"
"""
import socket
import struct
import sys

VIP4, VIP6 = "192.0.2.10", "2001:db8:f::10"
CLIENT4, CLIENT6 = "203.0.113.9", "2001:db8:c::9"

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF

def tcp(dport=80):
    return struct.pack("!HHIIBBHHH", 40000, dport, 1, 0, 5 << 4, 0x02, 65535, 0, 0)

def ipv4(payload, proto=6, ihl=5, frag=0, total=None, dst=VIP4, options=b""):
    header = struct.pack("!BBHHHBBH4s4s", (4 << 4) | ihl, 0, total or (ihl * 4 + len(payload)), 1, frag, 64, proto, 0,
                         socket.inet_aton(CLIENT4), socket.inet_aton(dst)) + options
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return 0x0800, header + payload

def ipv6(payload, nexthdr=6, length=None):
    header = struct.pack("!IHBB16s16s", 6 << 28, len(payload) if length is None else length, nexthdr, 64,
                         socket.inet_pton(socket.AF_INET6, CLIENT6), socket.inet_pton(socket.AF_INET6, VIP6))
    return 0x86DD, header + payload

CASES = {
    # To a VIP and not forwardable: dropped.
    "ipv4-options": lambda: ipv4(tcp(), ihl=6, options=b"\x01\x01\x01\x00"),
    "ipv4-first-fragment": lambda: ipv4(tcp(), frag=0x2000),
    "ipv4-later-fragment": lambda: ipv4(b"\0" * 16, frag=185),
    "ipv4-truncated-tcp": lambda: ipv4(tcp()[:8]),
    "ipv4-length-beyond-frame": lambda: ipv4(tcp(), total=400),
    "ipv4-bad-header-length": lambda: ipv4(tcp(), ihl=4),
    "ipv6-fragment": lambda: ipv6(struct.pack("!BBHI", 6, 0, 1, 7) + tcp(), nexthdr=44),
    "ipv6-hop-by-hop": lambda: ipv6(struct.pack("!BB6s", 6, 0, b"\x01\x04\0\0\0\0") + tcp(), nexthdr=0),
    "ipv6-length-beyond-frame": lambda: ipv6(tcp(), length=300),
    # Not ours: passed to the stack.
    "tcp-other-port": lambda: ipv4(tcp(dport=81)),
    "icmp-to-vip": lambda: ipv4(struct.pack("!BBHHH", 8, 0, 0, 1, 1), proto=1),
    "not-a-vip": lambda: ipv4(tcp(), dst="198.51.100.2"),
    "arp": lambda: (0x0806, b"\0\x01\x08\x00\x06\x04\0\x01" + b"\0" * 20),
    "ipv4-truncated-before-address": lambda: (0x0800, b"\x45\0\0\x28\0\x01\0\0\x40\x06"),
}

device, destination, case = sys.argv[1], sys.argv[2], sys.argv[3]
ethertype, payload = CASES[case]()
with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
    sock.bind((device, 0))
    source = sock.getsockname()[4]
    frame = bytes.fromhex(destination.replace(":", "")) + source + struct.pack("!H", ethertype) + payload
    sock.send(frame)
print("sent", case, len(frame), flush=True)
