#!/usr/bin/env bash
# package.sh CONFIG [DEST] — the Lambda function package for cloudmux
# (custom runtime, provided.al2023): in DEST (default build-lambda/)
#   bootstrap              the static executable (Lambda starts it; it runs the runtime loop)
#   cloudmux.yaml          CONFIG (found through LAMBDA_TASK_ROOT)
#   ca-certificates.crt    the CA bundle (SSL_CERT_FILE in the template points at it)
#   pricing.yaml           the price list (CLOUDMUX_PRICING in the template)
# Then: sam deploy --guided -t deploy/lambda/template.yaml
set -euo pipefail

config=${1:?usage: package.sh CONFIG [DEST]}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dest=${2:-$root/build-lambda}
bin=${CLOUDMUX_STATIC_BIN:-$root/build-static/cloudmux}
ca=${CLOUDMUX_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

[ -x "$bin" ] || { echo "package.sh: no static executable at $bin (make static)" >&2; exit 1; }
if LC_ALL=C readelf -l "$bin" 2>/dev/null | grep -q 'program interpreter'; then
  echo "package.sh: $bin is dynamically linked; build it with: make static" >&2
  exit 1
fi
"$bin" check --config "$config" >/dev/null

rm -rf "$dest"
install -d "$dest"
install -m 0755 "$bin" "$dest/bootstrap"
install -m 0644 "$config" "$dest/cloudmux.yaml"
install -m 0644 "$ca" "$dest/ca-certificates.crt"
install -m 0644 "$root/data/pricing.yaml" "$dest/pricing.yaml"
echo "$dest: bootstrap, cloudmux.yaml, ca-certificates.crt, pricing.yaml"
