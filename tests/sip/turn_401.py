#!/usr/bin/env python3
"""A TURN server that is there but never allocates, for tests.

    turn_401.py PORT

Listens on 127.0.0.1:PORT (UDP). A STUN request without
MESSAGE-INTEGRITY gets a 401 error response with REALM and NONCE, as a
TURN server with long-term credentials gives; a request with them gets
nothing. So a liveness check finds it answering, while an ICE agent's
authenticated Allocate waits until it gives up.
"""
import socket
import struct
import sys

MESSAGE_INTEGRITY = 0x0008


def has_integrity(attrs):
    i = 0
    while i + 4 <= len(attrs):
        kind, length = struct.unpack(">HH", attrs[i:i + 4])
        if kind == MESSAGE_INTEGRITY:
            return True
        i += 4 + ((length + 3) & ~3)
    return False


def main():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", int(sys.argv[1])))
    reason = b"Unauthorized"
    body = struct.pack(">HHHBB", 0x0009, 4 + len(reason), 0, 4, 1) + reason
    body += struct.pack(">HH", 0x0014, 1) + b"r\0\0\0"   # REALM
    body += struct.pack(">HH", 0x0015, 1) + b"n\0\0\0"   # NONCE
    while True:
        d, addr = s.recvfrom(2048)
        if len(d) < 20 or d[0] & 0xC0:
            continue
        kind, length = struct.unpack(">HH", d[:4])
        if kind & 0x0110 or has_integrity(d[20:20 + length]):
            continue            # not a request, or authenticated
        head = struct.pack(">HH", kind | 0x0110, len(body))
        s.sendto(head + d[4:20] + body, addr)


if __name__ == "__main__":
    main()
