#!/usr/bin/env bash
# rootfs.sh BINARY DEST — lays out everything the cloudmux image holds, in DEST:
#   usr/local/bin/cloudmux               the static executable (refused if dynamic)
#   etc/ssl/certs/ca-certificates.crt    the CA bundle for provider TLS
#   usr/share/cloudmux/pricing.yaml      the price list
#   etc/cloudmux/cloudmux.yaml           the default config (a mock demo; mount yours over it)
#   etc/passwd, etc/group                root and the non-root user nonroot (65532)
# The Dockerfile's final stage copies DEST as it is, whether DEST was made on
# the host (make image) or in the Dockerfile's own build stage.
set -euo pipefail

bin=${1:?usage: rootfs.sh BINARY DEST}
dest=${2:?usage: rootfs.sh BINARY DEST}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ca=${CLOUDMUX_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

# A dynamic executable would not start in an image with no libc.
if LC_ALL=C readelf -l "$bin" 2>/dev/null | grep -q 'program interpreter'; then
  echo "rootfs.sh: $bin is dynamically linked; build it with: make static" >&2
  exit 1
fi
[ -s "$ca" ] || { echo "rootfs.sh: no CA bundle at $ca (Debian: ca-certificates)" >&2; exit 1; }

rm -rf "$dest"
install -d -m 0755 "$dest/usr/local/bin" "$dest/etc/ssl/certs" "$dest/usr/share/cloudmux" \
  "$dest/etc/cloudmux"
install -m 0755 "$bin" "$dest/usr/local/bin/cloudmux"
install -m 0644 "$ca" "$dest/etc/ssl/certs/ca-certificates.crt"
install -m 0644 "$root/data/pricing.yaml" "$dest/usr/share/cloudmux/pricing.yaml"
install -m 0644 "$root/deploy/cloudmux.yaml" "$dest/etc/cloudmux/cloudmux.yaml"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
  >"$dest/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$dest/etc/group"
chmod 0644 "$dest/etc/passwd" "$dest/etc/group"
