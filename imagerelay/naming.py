"""Every name a release creates, derived from the release id and the inventory."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

RELEASE_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z._-]{0,39}$"
IMAGE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,78}[A-Za-z0-9_]$|^[A-Za-z0-9]$"
UPLOAD_FILE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$"
METADATA_PREFIX = "imagerelay_"


class NamingError(ValueError):
    """A release id or image name Azure or Prefect would refuse."""


def check_release(release: str) -> str:
    if not re.match(RELEASE_PATTERN, release):
        raise NamingError(
            f"release id {release!r} is invalid: use 1-40 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit, e.g. 2026.12 (with `prefect "
            "deployment run`, quote it: --param release_id='\"2026.12\"')"
        )
    return release


def check_image_name(name: str) -> str:
    if not re.match(IMAGE_NAME_PATTERN, name):
        raise NamingError(
            f"image name {name!r} is invalid: Azure image names are 1-80 letters, "
            "digits, '_', '.' or '-', start with a letter or digit and end with a "
            "letter, digit or '_'"
        )
    return name


def upload_blob_name(release: str, filename: str) -> str:
    """Where `imagerelay upload` puts a VHD in the tier-0 container."""
    stem = PurePosixPath(filename).name
    if not re.match(UPLOAD_FILE_PATTERN, stem):
        raise NamingError(
            f"file name {stem!r} cannot be a tier-0 blob name a release accepts: "
            "rename the file to letters, digits, '.', '_' and '-' (starting with a "
            "letter or digit, at most 200 characters), e.g. golden-linux.vhd"
        )
    if not stem.lower().endswith(".vhd"):
        stem += ".vhd"
    return f"uploads/{check_release(release)}/{stem}"


def tier1_blob_name(release: str, image_name: str, index: int) -> str:
    """The index-th tier-1 copy of a release's VHD, inside the tier-0 container."""
    return f"tier1/{release}/{image_name}-{index:02d}.vhd"


def tier2_blob_name(release: str, image_name: str) -> str:
    """The VHD a target's image is made from, inside the target's container."""
    return f"{release}/{image_name}.vhd"


def managed_image_name(release: str, image_name: str, region: str) -> str:
    """The managed image a release creates in a target.

    The region is part of the name because one resource group may hold the images
    of several regions, and names are unique per resource group.
    """
    return check_image_name(f"{image_name}-{release}-{region}")


def artifact_key(release: str, image_name: str, kind: str) -> str:
    """Prefect artifact keys allow only lowercase letters, digits and dashes."""
    raw = f"release-{release}-{image_name}-{kind}".lower()
    slug = re.sub(r"[^a-z0-9-]+", "-", raw)
    return re.sub(r"-{2,}", "-", slug).strip("-")
