"""A Python function that talks to its peer through `flock tunnel --listen`.

Opens several connections at once to the tunnel's local port, sends each its own random
bytes, half-closes, and checks that exactly the same bytes come back. Prints one JSON line
with what it moved; exits 1 if any connection came back different.

    python3 function.py --port 7001 --connections 8 --bytes 1000000
"""

import argparse
import hashlib
import json
import os
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

CHUNK_BYTES = 64 * 1024


def exchange(host, port, size):
    payload = os.urandom(size)
    with socket.create_connection((host, port)) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        received = bytearray()
        while True:
            chunk = conn.recv(CHUNK_BYTES)
            if not chunk:
                break
            received += chunk
    return {
        "sent": len(payload),
        "received": len(received),
        "same": hashlib.sha256(payload).digest() == hashlib.sha256(received).digest(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--bytes", type=int, default=1_000_000)
    args = parser.parse_args()
    with ThreadPoolExecutor(max_workers=args.connections) as pool:
        sizes = [args.bytes + i for i in range(args.connections)]
        results = list(pool.map(lambda size: exchange(args.host, args.port, size), sizes))
    ok = all(r["same"] for r in results)
    print(json.dumps({
        "connections": len(results),
        "bytes": sum(r["sent"] for r in results),
        "byteExact": ok,
    }))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
