#!/usr/bin/env bash
# build-image.sh — `make image`: builds the cloudmux image from the host's
# static executable, with docker or podman, whichever is installed, pulling
# nothing.  Expects build-static/cloudmux (make static).
#   CLOUDMUX_IMAGE        tag (default cloudmux:latest)
#   CLOUDMUX_ENGINE       docker or podman (default: the first one found)
#   CLOUDMUX_ENGINE_ARGS  global options for the engine, e.g.
#                         "--runtime runc --cgroup-manager cgroupfs" for podman
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image=${CLOUDMUX_IMAGE:-cloudmux:latest}
bin=${CLOUDMUX_STATIC_BIN:-$root/build-static/cloudmux}
ctx=${CLOUDMUX_IMAGE_CONTEXT:-$root/build-image}

engine=${CLOUDMUX_ENGINE:-}
if [ -z "$engine" ]; then
  for e in docker podman; do
    # A docker client without an engine behind it cannot build.
    if command -v "$e" >/dev/null && "$e" info >/dev/null 2>&1; then engine=$e; break; fi
  done
fi
[ -n "$engine" ] || { echo "build-image.sh: neither docker nor podman can run here" >&2; exit 1; }
[ -x "$bin" ] || { echo "build-image.sh: no static executable at $bin (make static)" >&2; exit 1; }

"$root/deploy/rootfs.sh" "$bin" "$ctx/rootfs"
format=()
# podman writes OCI images by default, which have no HEALTHCHECK.
[ "$engine" = podman ] && format=(--format docker)
# shellcheck disable=SC2086 # the engine's options are words on purpose
"$engine" ${CLOUDMUX_ENGINE_ARGS:-} build "${format[@]}" --build-arg ARTIFACTS=host \
  -f "$root/deploy/Dockerfile" -t "$image" "$ctx"
if [ "$engine" = podman ]; then
  # shellcheck disable=SC2086
  "$engine" ${CLOUDMUX_ENGINE_ARGS:-} image prune -f --filter label=io.cloudmux.stage=artifacts >/dev/null
fi
echo "built $image with $engine"
