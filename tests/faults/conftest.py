"""Fixtures for fault tests: a profile per test on the session stack, and settings."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from azure.data.tables import TableClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

from devstack import faults
from devstack.config import StackConfig
from devstack.faults import FaultProfile
from flows.setup import setup_flow
from imagerelay.inventory import load_inventory
from imagerelay.settings import get_settings
from tests.conftest import TEST_INVENTORY
from tests.flows.test_release import uploaded_vhd  # noqa: F401

SetProfile = Callable[[FaultProfile], None]
# Not test_release's id: its checks read every ledger row of their release.
RELEASE = "2026.11"


@pytest.fixture
def fault_profile(stack: StackConfig) -> Iterator[SetProfile]:
    """Switch the stack to a profile with fresh counters; no faults afterwards."""

    def apply(profile: FaultProfile) -> None:
        faults.set_profile(stack, profile)
        faults.reset_counters(stack)

    try:
        yield apply
    finally:
        faults.set_profile(stack, FaultProfile())


@pytest.fixture
async def settings_env(stack: StackConfig) -> AsyncIterator[Callable[..., None]]:
    """Set IMAGERELAY_* variables for one test; limits are set up again afterwards."""
    saved: dict[str, str | None] = {}

    def apply(**values: object) -> None:
        for name, value in values.items():
            key = f"IMAGERELAY_{name.upper()}"
            saved.setdefault(key, os.environ.get(key))
            os.environ[key] = str(value)
        get_settings.cache_clear()

    try:
        yield apply
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        if any(key.startswith("IMAGERELAY_LIMIT_") for key in saved):
            await setup_flow()


def ledger_entities(stack: StackConfig, release: str, image: str) -> list[dict]:
    """The ledger rows of one release and image, as the table holds them."""
    plan = load_inventory(TEST_INVENTORY)
    table = TableClient.from_connection_string(
        stack.connection_string(plan.tier0.storage_account), "imagerelayledger"
    )
    return [
        entity
        for entity in table.query_entities(f"PartitionKey eq '{release}'")
        if entity["image_name"] == image
    ]


async def artifact_rows(key: str) -> list[dict[str, str]]:
    """The newest table artifact under key."""
    import json

    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    assert artifacts, f"no artifact {key}"
    data = artifacts[0].data
    return json.loads(data) if isinstance(data, str) else data
