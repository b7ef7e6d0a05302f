"""Image retention: keep the newest K images per target and image name."""

from __future__ import annotations

import re

from azure.mgmt.compute.aio import ComputeManagementClient
from pydantic import BaseModel, ConfigDict

from imagerelay.cleanup import Deletion, DeletionKind
from imagerelay.inventory import Target
from imagerelay.naming import IMAGE_NAME_PATTERN

RELEASE_TAG = "imagerelay-release"


class ReleasedImage(BaseModel):
    """A managed image imagerelay made: its name, tag and location agree."""

    model_config = ConfigDict(frozen=True)

    subscription_id: str
    resource_group: str
    region: str
    name: str
    image_name: str
    release: str


def released_image(
    subscription_id: str,
    resource_group: str,
    name: str,
    location: str,
    tags: dict[str, str],
) -> ReleasedImage | None:
    """Read an image as <image name>-<release>-<region>, or None if not ours."""
    release = tags.get(RELEASE_TAG)
    suffix = f"-{release}-{location}"
    if not release or not name.endswith(suffix):
        return None
    image_name = name[: -len(suffix)]
    if not re.match(IMAGE_NAME_PATTERN, image_name):
        return None
    return ReleasedImage(
        subscription_id=subscription_id,
        resource_group=resource_group,
        region=location,
        name=name,
        image_name=image_name,
        release=release,
    )


def release_order(release: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key reading release ids as versions: 2026.9 < 2026.10 < 2026.10-fix.

    Limitation: ids of different shapes (hotfix1 against 2026.12) order by shape,
    words after numbers, not by when they were released.
    """
    parts = re.findall(r"\d+|[A-Za-z]+", release)
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts)


def expired(images: list[ReleasedImage], keep: int) -> list[Deletion]:
    """The images beyond the newest `keep` of each (group, region, image name)."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, not {keep}")
    groups: dict[tuple[str, str, str, str], list[ReleasedImage]] = {}
    for image in images:
        key = (image.subscription_id, image.resource_group, image.region)
        groups.setdefault((*key, image.image_name), []).append(image)
    deletions = []
    for members in groups.values():
        newest_first = sorted(
            members, key=lambda image: release_order(image.release), reverse=True
        )
        deletions += [
            Deletion(
                kind=DeletionKind.IMAGE,
                release=image.release,
                image_name=image.image_name,
                subscription_id=image.subscription_id,
                scope=image.resource_group,
                name=image.name,
                reason=f"older than the newest {keep}",
            )
            for image in newest_first[keep:]
        ]
    return deletions


async def images_in_group(
    compute: ComputeManagementClient,
    subscription_id: str,
    resource_group: str,
    targets: list[Target],
) -> list[ReleasedImage]:
    """imagerelay's images in one resource group, in the targets' regions."""
    regions = {t.region for t in targets}
    found = []
    async for image in compute.images.list_by_resource_group(resource_group):
        if image.location not in regions or not image.name:
            continue
        released = released_image(
            subscription_id,
            resource_group,
            image.name,
            image.location,
            image.tags or {},
        )
        if released is not None:
            found.append(released)
    return found
