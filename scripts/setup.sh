#!/usr/bin/env bash
# Install what imagerelay needs on a fresh Debian/Ubuntu machine: uv, the Python
# environment, Azurite (npm) and the disk tools the demo and tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:$PATH"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v qemu-img >/dev/null || missing+=(qemu-utils)
command -v sfdisk >/dev/null || [ -x /sbin/sfdisk ] || [ -x /usr/sbin/sfdisk ] || missing+=(fdisk)
command -v mkfs.ext4 >/dev/null || [ -x /sbin/mkfs.ext4 ] || [ -x /usr/sbin/mkfs.ext4 ] || missing+=(e2fsprogs)
command -v node >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt-get"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v uv >/dev/null; then
  echo "setup: installing uv"
  python3 -m pip install --quiet --user uv 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages --user uv
fi

uv sync --frozen --quiet
if [ ! -x node_modules/.bin/azurite ]; then
  echo "setup: installing Azurite (npm ci)"
  npm ci --no-audit --no-fund --silent
fi
