"""The peer of the example: a plain TCP service that knows nothing of Flock.

Each connection is read to its end and everything is sent back, then the connection is
closed: a client that half-closes gets its bytes back, which proves the tunnel carries the
half-close. Run it behind `flock tunnel --forward 127.0.0.1:PORT`.

    python3 echo_server.py --port 7000      # --port 0 picks a free port and prints it
"""

import argparse
import socketserver
import sys

CHUNK_BYTES = 64 * 1024


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        received = bytearray()
        while True:
            chunk = self.request.recv(CHUNK_BYTES)
            if not chunk:
                break
            received += chunk
        self.request.sendall(received)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000)
    args = parser.parse_args()
    with Server((args.host, args.port), Echo) as server:
        print(f"listening on {args.host}:{server.server_address[1]}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
