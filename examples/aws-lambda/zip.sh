#!/bin/sh
# Builds the Lambda deployment package: this handler, the SDK's single-file bundle (ws and
# jose compiled in) and the heap-floor wrapper script, nothing else. Prints the zip's path.
#   examples/aws-lambda/zip.sh [OUT.zip]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-"$here/function.zip"}
case $out in /*) ;; *) out="$PWD/$out" ;; esac
node "$root/scripts/build.mjs" 2>/dev/null
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$here/index.mjs" "$here/heap-floor" "$root/dist/client/flock-client.mjs" "$stage/"
rm -f "$out"
(cd "$stage" && zip -q -X "$out" index.mjs flock-client.mjs heap-floor)
echo "$out"
