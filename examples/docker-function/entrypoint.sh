#!/bin/sh
# A function container with the original Flock relay's environment interface: one variable
# per PEM (FLOCK_URL, RELAY_CA, RELAY_CERT, RELAY_KEY, USER_CA, PARTY_CERT, PARTY_KEY) and
# DEST, the peer. The function itself (Python, examples/python-tunnel/function.py) knows
# nothing of Flock: it talks plain TCP to a local `flock tunnel --listen`, and any arguments
# given to the container go to it.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)

for name in FLOCK_URL RELAY_CA RELAY_CERT RELAY_KEY USER_CA PARTY_CERT PARTY_KEY DEST; do
  if eval "[ -z \"\${$name:-}\" ]"; then
    echo "entrypoint: $name is not set (the party's environment: flock env --user U --party P --dest D)" >&2
    exit 64
  fi
done

# The tunnel prints "listening on HOST:PORT" once it accepts connections; port 0 (the
# default) lets it pick a free one.
address_file=$(mktemp)
# The tunnel receives the peer's bytes over TLS: a floor under V8's old generation keeps it out
# of a mark-compact per scavenge (docs/sdk.md, "Bulk transfers and V8's heap");
# FLOCK_OLD_SPACE_FLOOR_MB sets another floor (MB), as for the Lambda example's heap-floor.
node --initial-old-space-size="${FLOCK_OLD_SPACE_FLOOR_MB:-64}" "$root/bin/flock.js" tunnel --quiet --listen "127.0.0.1:${TUNNEL_PORT:-0}" >"$address_file" &
tunnel=$!
trap 'kill "$tunnel" 2>/dev/null; rm -f "$address_file"' EXIT
tries=0
until grep -q '^listening on ' "$address_file"; do
  tries=$((tries + 1))
  if [ "$tries" -gt 300 ] || ! kill -0 "$tunnel" 2>/dev/null; then
    echo "entrypoint: flock tunnel did not start" >&2
    exit 69
  fi
  sleep 0.1
done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$address_file")

status=0
python3 "$root/examples/python-tunnel/function.py" --port "$port" "$@" || status=$?
exit "$status"
