#!/usr/bin/env bash
# Build one main package of a Go module pinned by a wrapper go.mod (tools/go/<name>/) into the tools
# folder. The wrapper pins the version and carries the module's own non-local `replace` lines.
#   build_go_tool.sh WRAPPER_DIR PACKAGE OUTPUT [VERSION_VAR]
# VERSION_VAR (optional) is the Go variable that receives the pinned version through -ldflags -X.
# Runs under `nice` and prints progress (packages compiled), since a cold build takes minutes.
set -euo pipefail
dir=$1 pkg=$2 out=$3 version_var=${4:-}
out=$(realpath -m "$out")
cd "$dir"
read -r module version < <(go list -f '{{.Module.Path}} {{.Module.Version}}' "$pkg")
ldflags="-s -w"
[ -n "$version_var" ] && ldflags="$ldflags -X $version_var=$version"
echo "building $pkg@$version -> $out"
mkdir -p "$(dirname "$out")"
CGO_ENABLED=0 nice -n 10 go build -v -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg" 2>&1 |
  awk '/^(#|go: |[^ ]+\.go:)/ {print; next} {n++; if (n % 100 == 0) {print "  " n " packages compiled"; fflush()}}'
mv "$out.tmp" "$out"
echo "built $out"
