"""Read access to a managed disk that is always revoked, even on Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from azure.core.exceptions import AzureError, HttpResponseError
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.compute.models import GrantAccessData

from imagerelay.errors import PermanentError
from imagerelay.redact import redact_text

if TYPE_CHECKING:
    from imagerelay.disk_source import DiskId

logger = logging.getLogger(__name__)


class DiskAccessRefused(PermanentError, ValueError):
    """Azure refused to grant access to the disk; the message says why."""


@contextlib.asynccontextmanager
async def disk_access(
    compute: ComputeManagementClient, disk_id: DiskId, seconds: int
) -> AsyncIterator[str]:
    """A read SAS URL on the disk, revoked on the way out whatever happens."""
    granted = False
    try:
        poller = await compute.disks.begin_grant_access(
            disk_id.resource_group,
            disk_id.name,
            GrantAccessData(access="Read", duration_in_seconds=seconds),
        )
        granted = True
        access = await poller.result()
        logger.info("Granted read access on disk %s for %d s", disk_id.name, seconds)
        yield str(access.access_sas)
    except HttpResponseError as exc:
        if granted:
            raise
        raise DiskAccessRefused(
            f"Azure refused read access on disk {disk_id.name}: "
            f"{redact_text(str(exc.message or exc))}"
        ) from None
    finally:
        if granted:
            await _revoke(compute, disk_id)


async def _revoke(compute: ComputeManagementClient, disk_id: DiskId) -> None:
    """End the disk's access, even while the task is being cancelled."""
    revoking = asyncio.ensure_future(_end_access(compute, disk_id))
    try:
        await asyncio.shield(revoking)
    except asyncio.CancelledError:
        await revoking
        raise


async def _end_access(compute: ComputeManagementClient, disk_id: DiskId) -> None:
    try:
        await (
            await compute.disks.begin_revoke_access(
                disk_id.resource_group, disk_id.name
            )
        ).result()
    except AzureError as exc:
        logger.error(
            "Could not revoke access on disk %s: %s; run `az disk revoke-access "
            "--ids %s`",
            disk_id.name,
            redact_text(str(exc)),
            disk_id.resource_id,
        )
        raise
    logger.info("Revoked access on disk %s", disk_id.name)
