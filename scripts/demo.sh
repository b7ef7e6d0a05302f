#!/usr/bin/env bash
# The demo: start the local stack, build a real golden disk, upload it, run the
# release deployment through the Prefect worker and list the images it made.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:$PATH"
RELEASE="${RELEASE:-$(date -u +%Y.%m)}"
VHD=.stack/golden/golden-linux.vhd

step() { printf '\n== %s\n' "$*"; }

step "Starting the local stack (Azurite, ARM emulator, Prefect server and worker)"
uv run imagerelay stack up

step "Building a golden Linux disk (partition table + ext4) as a fixed VHD"
if [ ! -f "$VHD" ]; then
  uv run python -m devstack.golden "$VHD" --size-mib 64
fi
ls -l "$VHD"

step "Uploading it to tier-0"
blob=$(uv run imagerelay upload "$VHD" --release "$RELEASE" --os-type linux)

step "Registering the deployments in prefect.yaml"
uv run prefect --no-prompt deploy --all >/dev/null
uv run prefect deployment ls

step "Running release $RELEASE with prefect deployment run"
status=0
uv run prefect deployment run release/golden \
  --param os_type=Linux --param image_name=golden-linux \
  --param release_id="\"$RELEASE\"" --param vhd="$blob" --watch \
  | tee .stack/logs/demo-run.log || status=$?
run_url=$(grep -o 'http://[^ ]*/runs/flow-run/[0-9a-f-]*' .stack/logs/demo-run.log | head -1)
if [ "$status" -ne 0 ]; then
  echo "The release did not complete; why, from its run ($run_url):"
  uv run prefect flow-run inspect "${run_url##*/}" | grep -m1 -A2 "message=" || true
  exit "$status"
fi

step "Managed images of release $RELEASE, read back from Azure Resource Manager"
uv run imagerelay images list --release "$RELEASE"

cat <<TXT

The release run, its per-target subflows and its artifacts (table and summary):
  $run_url
Stop the stack:  make stack-down   (data stays in .stack/ for the next run)
TXT
