#!/usr/bin/env python3
"""Clients of the XDP lab and tests, one per source address (each address is a different client
to Maglev). Prints one line per client: "SOURCE BACKEND SEEN-ADDRESS" (SEEN-ADDRESS: the
client address the backend saw), or "SOURCE fail REASON".

    client.py tcp|udp VIP PORT SOURCE...    one connection (or datagram) per source
    client.py hold VIP PORT SOURCE...       connections kept open; on SIGUSR1 each sends a line
                                            and prints "echo SOURCE BACKEND ok|fail", then
                                            "round done"; SIGTERM ends it
    client.py bulk VIP PORT SOURCE BYTES    asks for BYTES and prints "bulk RECEIVED"
"""
import signal
import socket
import sys

mode, vip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
family = socket.AF_INET6 if ":" in vip else socket.AF_INET

def greeting(sock):
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(200)
        if not chunk:
            raise ConnectionError("closed before the greeting")
        data += chunk
    return data.decode().split()

def tcp(source):
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(3)
    sock.bind((source, 0))
    sock.connect((vip, port))
    return sock, greeting(sock)

if mode in ("tcp", "udp"):
    for source in sys.argv[4:]:
        try:
            if mode == "tcp":
                sock, (backend, seen) = tcp(source)
                sock.close()
            else:
                with socket.socket(family, socket.SOCK_DGRAM) as sock:
                    sock.settimeout(3)
                    sock.bind((source, 0))
                    sock.sendto(b"hello\n", (vip, port))
                    data, peer = sock.recvfrom(200)
                    backend, seen = data.decode().split()
                    if peer[0] != vip:
                        raise ConnectionError(f"reply from {peer[0]}, not the virtual address")
            print(source, backend, seen, flush=True)
        except Exception as error:  # reported, not raised: the test counts failures
            print(source, "fail", type(error).__name__, flush=True)
elif mode == "hold":
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    held = []
    for source in sys.argv[4:]:
        sock, (backend, _) = tcp(source)
        held.append((source, backend, sock))
        print("open", source, backend, flush=True)
    print("held", len(held), flush=True)
    while True:
        signal.sigwait([signal.SIGUSR1])
        for source, backend, sock in held:
            try:
                sock.sendall(b"ping\n")
                ok = sock.recv(100) == b"ping\n"
            except OSError:
                ok = False
            print("echo", source, backend, "ok" if ok else "fail", flush=True)
        print("round done", flush=True)
elif mode == "bulk":
    source, size = sys.argv[4], int(sys.argv[5])
    sock, _ = tcp(source)
    sock.settimeout(10)
    sock.sendall(f"BULK {size}\n".encode())
    received = 0
    while received < size:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += len(chunk)
    print("bulk", received, flush=True)
