#!/usr/bin/env python3
"""A backend for the XDP lab and tests: on TCP port PORT (IPv4 and IPv6, any address, so the
virtual address on lo too) it greets each connection with "NAME CLIENT-ADDRESS\\n" and then
echoes what it receives ("BULK n" instead gets n bytes back); on UDP it answers each datagram with the same greeting, from the address the
datagram was sent to (IP_PKTINFO): a UDP service behind direct server return must answer from
the virtual address, which a socket bound to the wildcard would not. NAME tells the
client which backend it reached, CLIENT-ADDRESS which source address the backend saw.

    responder.py NAME PORT
"""
import selectors
import socket
import sys

name, port = sys.argv[1], int(sys.argv[2])
selector = selectors.DefaultSelector()
IP_PKTINFO = 8

def greeting(peer):
    return f"{name} {peer[0]}\n".encode()

def listen(family, kind):
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if kind == socket.SOCK_DGRAM:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
    if kind == socket.SOCK_STREAM:
        sock.listen(1024)
    sock.setblocking(False)
    selector.register(sock, selectors.EVENT_READ, kind)

for family in (socket.AF_INET, socket.AF_INET6):
    listen(family, socket.SOCK_STREAM)
    listen(family, socket.SOCK_DGRAM)
print("ready", flush=True)

while True:
    for key, _ in selector.select():
        sock = key.fileobj
        if key.data == socket.SOCK_DGRAM:
            data, ancillary, _, peer = sock.recvmsg(2048, 256)
            reply = []
            for level, kind, payload in ancillary:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                    # in_pktinfo: ifindex, spec_dst, addr; answer from addr (the VIP).
                    reply = [(level, kind, b"\0\0\0\0" + payload[8:12] + b"\0\0\0\0")]
                elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
                    reply = [(level, kind, payload[:16] + b"\0\0\0\0")]
            sock.sendmsg([greeting(peer)], reply, 0, peer)
        elif key.data == socket.SOCK_STREAM:
            try:
                conn, peer = sock.accept()
            except BlockingIOError:
                continue
            conn.setblocking(True)
            conn.sendall(greeting(peer))
            conn.setblocking(False)
            selector.register(conn, selectors.EVENT_READ, "conn")
        else:
            try:
                data = sock.recv(65536)
            except (BlockingIOError, ConnectionResetError):
                data = b""
            if data.startswith(b"BULK "):
                # "BULK n": n bytes back, so a test can see a large reply bypass the balancer.
                sock.setblocking(True)
                sock.sendall(b"x" * int(data.split()[1]))
                sock.setblocking(False)
            elif data:
                sock.setblocking(True)
                sock.sendall(data)
                sock.setblocking(False)
            else:
                selector.unregister(sock)
                sock.close()
