#!/usr/bin/env python3
"""Turns transmit checksum offload (and with it TSO/GSO) off on a veth, as `ethtool -K DEV tx off`
would, for machines without ethtool.

A veth hands the next namespace packets whose TCP/UDP checksum is left for "hardware" to fill
(CHECKSUM_PARTIAL); XDP sees raw frames without that note, so a packet it forwards would reach
the backend with a checksum never completed, and 64 KiB TSO super-packets too. Real NICs
deliver finished frames. So the lab's client sends finished ones.

    checksum-offload-off.py DEV
"""
import ctypes
import fcntl
import socket
import struct
import sys

SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x00000017

value = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
request = struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(value)).ljust(40, b"\0")
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, request)
