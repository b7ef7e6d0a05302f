"""Compare imagerelay's upload with azure-storage-blob's own page-blob upload.

Usage: uv run python bench/upload.py [--threads 8]

On a fresh local stack, in one run: a dense 512 MiB fixed VHD, a 2 GiB fixed VHD
with 10 % data (1 MiB of random bytes every 10 MiB) and that same disk as a dynamic
VHD. For each it prints seconds, MiB/s and MiB sent for imagerelay's upload_vhd and
for BlobClient.upload_blob(blob_type=PAGEBLOB, max_concurrency=<threads>), and the
ratio of their times. The SDK cannot read a dynamic VHD, so it uploads the fixed
conversion of the same disk there (what an operator would have to make first).
Last, the dense disk's upload is stopped at half and resumed: the resume reads back
the half already in tier-0 and sends the rest; its time is compared with a whole
upload's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from azure.storage.blob import BlobClient, BlobType  # noqa: E402

from devstack import stack as devstack  # noqa: E402
from imagerelay.upload import upload_vhd  # noqa: E402
from imagerelay.vhd import build_footer  # noqa: E402

MIB = 2**20


def dense_vhd(path: Path, mib: int) -> Path:
    with path.open("wb") as file:
        for _ in range(mib):
            file.write(os.urandom(MIB))
        file.write(build_footer(mib * MIB))
    return path


def tenth_full_vhd(path: Path, mib: int) -> Path:
    with path.open("wb") as file:
        file.truncate(mib * MIB)
        for offset in range(0, mib, 10):
            file.seek(offset * MIB)
            file.write(os.urandom(MIB))
        file.seek(mib * MIB)
        file.write(build_footer(mib * MIB))
    return path


def as_dynamic(fixed: Path, path: Path) -> Path:
    subprocess.run(
        ["qemu-img", "convert", "-q", "-f", "vpc", "-O", "vpc",
         "-o", "subformat=dynamic,force_size=on", str(fixed), str(path)],
        check=True,
    )  # fmt: skip
    return path


def sdk_upload(path: Path, blob: BlobClient, threads: int) -> tuple[float, int]:
    started = time.perf_counter()
    with path.open("rb") as data:
        blob.upload_blob(
            data,
            blob_type=BlobType.PAGEBLOB,
            length=path.stat().st_size,
            max_concurrency=threads,
            overwrite=True,
        )
    sent = sum(r["end"] - r["start"] + 1 for r in blob.get_page_ranges()[0])
    return time.perf_counter() - started, sent


class Stop(Exception):
    """Raised from the progress callback to interrupt an upload."""


def interrupted_then_resumed(path: Path, blob: BlobClient, threads: int) -> None:
    """Stop an upload at half, resume it, print what the resume sent and kept."""
    half = path.stat().st_size // 2

    def stop_at_half(done: int) -> None:
        if done >= half:
            raise Stop

    with contextlib.suppress(Stop):
        upload_vhd(path, blob, metadata={}, threads=threads, progress=stop_at_half)
    resumed = upload_vhd(path, blob, metadata={}, threads=threads)
    print(
        f"{'dense, resumed at ~half':<26}{'imagerelay':<12}{resumed.seconds:8.1f}"
        f"{resumed.size / MIB / resumed.seconds:8.0f}"
        f"{resumed.bytes_sent / MIB:10.0f}   {resumed.bytes_kept / MIB:.0f} MiB "
        "read back and kept"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    inventory = PROJECT_ROOT / "inventories" / "demo.yaml"

    with tempfile.TemporaryDirectory(prefix="imagerelay-bench-") as scratch:
        root = Path(scratch)
        config = devstack.up(root / "stack", inventory, worker=False, env_file=None)
        try:
            tier0 = config.accounts[0]

            def blob(name: str) -> BlobClient:
                return BlobClient.from_connection_string(
                    config.connection_string(tier0.name), "golden", f"bench/{name}"
                )

            dense = dense_vhd(root / "dense.vhd", 512)
            tenth = tenth_full_vhd(root / "tenth.vhd", 2048)
            dynamic = as_dynamic(tenth, root / "tenth-dynamic.vhd")
            cases = [
                ("dense 512 MiB fixed", dense, dense),
                ("2 GiB fixed, 10% data", tenth, tenth),
                ("2 GiB dynamic, 10% data", dynamic, tenth),
            ]
            print(f"{'case':<26}{'tool':<12}{'seconds':>8}{'MiB/s':>8}{'MiB sent':>10}")
            for label, ours_file, sdk_file in cases:
                ours = upload_vhd(
                    ours_file, blob(f"ours-{ours_file.name}"), metadata={},
                    threads=args.threads,
                )  # fmt: skip
                sdk_seconds, sdk_sent = sdk_upload(
                    sdk_file, blob(f"sdk-{sdk_file.name}"), args.threads
                )
                size_mib = ours.size / MIB
                print(
                    f"{label:<26}{'imagerelay':<12}{ours.seconds:8.1f}"
                    f"{size_mib / ours.seconds:8.0f}{ours.bytes_sent / MIB:10.0f}"
                )
                print(
                    f"{'':<26}{'sdk':<12}{sdk_seconds:8.1f}"
                    f"{size_mib / sdk_seconds:8.0f}{sdk_sent / MIB:10.0f}"
                    f"   ratio {ours.seconds / sdk_seconds:.2f}"
                )
            interrupted_then_resumed(dense, blob("resumed-dense.vhd"), args.threads)
        finally:
            devstack.down(root / "stack", env_file=None)


if __name__ == "__main__":
    main()
