"""The release ledger: one Azure Table entity per (release, image, target)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient
from pydantic import BaseModel, ConfigDict

from imagerelay.errors import PermanentError
from imagerelay.inventory import Target
from imagerelay.models import Release, TargetState


class LedgerEntry(BaseModel):
    """What the ledger knows of one target in one release of one image."""

    model_config = ConfigDict(frozen=True)

    release: str
    image_name: str
    target_key: str
    subscription_id: str
    region: str
    storage_account: str
    image_resource_group: str
    state: TargetState
    source_md5: str = ""
    source_blob: str = ""
    destination_blob: str = ""
    image_id: str = ""
    copy_seconds: float | None = None
    copy_reused: bool = False
    image_seconds: float | None = None
    image_reused: bool = False
    error: str = ""
    updated: datetime | None = None


def row_key(image_name: str, target: Target) -> str:
    return f"{image_name}|{target.key}"


class Ledger:
    """Reads and writes ledger entities in an Azure Table."""

    def __init__(self, table: TableClient) -> None:
        self._table = table

    async def ensure_table(self) -> None:
        """Create the table on first use."""
        with contextlib.suppress(ResourceExistsError):
            await self._table.create_table()

    async def record(
        self, release: Release, target: Target, state: TargetState, **fields: Any
    ) -> None:
        """Merge the target's new state and any fields given into its entity."""
        entity = {
            "PartitionKey": release.id,
            "RowKey": row_key(release.image_name, target),
            "image_name": release.image_name,
            "target_key": target.key,
            "subscription_id": target.subscription_id,
            "region": target.region,
            "storage_account": target.storage_account,
            "image_resource_group": target.image_resource_group,
            "source_md5": release.source.md5 or "",
            "state": state.value,
            "updated": datetime.now(UTC),
            **{k: v for k, v in fields.items() if v is not None},
        }
        await self._table.upsert_entity(entity, mode=UpdateMode.MERGE)

    async def entries(self, release_id: str, image_name: str) -> list[LedgerEntry]:
        """Every entity of one image's release, ordered by target key."""
        return await self._query(
            "PartitionKey eq @release and image_name eq @image",
            {"release": release_id, "image": image_name},
        )

    async def release_entries(self, release_id: str) -> list[LedgerEntry]:
        """Every entity of one release, all image names."""
        return await self._query("PartitionKey eq @release", {"release": release_id})

    async def image_entries(self, image_name: str) -> list[LedgerEntry]:
        """Every entity of one image name, across all its releases."""
        return await self._query("image_name eq @image", {"image": image_name})

    async def all_entries(self) -> list[LedgerEntry]:
        """The whole ledger.

        Limitation: a full table scan; fine for thousands of rows, slow past that.
        """
        return await self._query(None, {})

    async def _query(
        self, where: str | None, parameters: dict[str, str]
    ) -> list[LedgerEntry]:
        query = (
            self._table.list_entities()
            if where is None
            else self._table.query_entities(where, parameters=parameters)
        )
        entries = [
            LedgerEntry(
                release=entity["PartitionKey"],
                **{k: v for k, v in entity.items() if k in LedgerEntry.model_fields},
            )
            async for entity in query
        ]
        return sorted(entries, key=lambda entry: (entry.release, entry.target_key))


class SourceChanged(PermanentError):
    """A release id was reused for a different VHD."""


def check_same_source(release: Release, earlier: list[LedgerEntry]) -> None:
    """Refuse to re-run a release from a VHD other than the one it started with."""
    for entry in earlier:
        if (
            entry.source_md5
            and release.source.md5
            and (entry.source_md5 != release.source.md5)
        ):
            raise SourceChanged(
                f"release {release.id} of {release.image_name} was distributed from "
                f"a VHD with MD5 {entry.source_md5}; {release.source.blob} has MD5 "
                f"{release.source.md5}. A release never changes its VHD: release it "
                "under a new release id"
            )
