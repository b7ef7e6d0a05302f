"""The qemu-img commands that error messages suggest to make a VHD Azure takes."""

from __future__ import annotations

import shlex

FIX = "qemu-img convert -f {fmt} -O vpc -o subformat=fixed,force_size=on {src} {dst}"
RAW_FIX = FIX.format(fmt="raw", src="disk.raw", dst="disk.vhd")
RESIZE = (
    "qemu-img convert -f vpc -O raw {name} disk.raw && "
    "qemu-img resize -f raw disk.raw {mib}M && "
    "qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on disk.raw {out}"
)


def convert_fix(fmt: str, src: str, dst: str) -> str:
    """The qemu-img command that turns `src` in format `fmt` into a fixed VHD.

    The output never overwrites the input: a clash gets a -fixed name.
    """
    if dst == src:
        dst = f"{dst.removesuffix('.vhd')}-fixed.vhd"
    return FIX.format(fmt=fmt, src=shlex.quote(src), dst=shlex.quote(dst))


def resize_fix(name: str, mib: int) -> str:
    """Commands that resize a VHD into a new file, leaving the original alone."""
    out = f"{name.rsplit('/', 1)[-1].removesuffix('.vhd')}-{mib}M.vhd"
    return RESIZE.format(name=shlex.quote(name), mib=mib, out=shlex.quote(out))
