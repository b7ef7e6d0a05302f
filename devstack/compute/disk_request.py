"""Creating a managed disk: Import from a VHD blob, checked as Azure does, or Empty."""

from __future__ import annotations

import json
import uuid
from typing import Any

from devstack.compute import disk_blobs
from devstack.compute.disk_store import GIB, Disk
from devstack.compute.errors import ArmError
from devstack.compute.image_request import GENERATIONS, OS_TYPES
from devstack.compute.source_blob import (
    check_source_blob,
    normalize_location,
    parse_blob_uri,
)
from devstack.compute.storage_accounts import account_body
from devstack.config import StackAccount, StackConfig

MAX_DISK_GB = 32767


def invalid(message: str, target: str) -> ArmError:
    """Azure's 400 InvalidParameter for one parameter."""
    return ArmError(400, "InvalidParameter", message, target=target)


def json_body(body: bytes) -> dict[str, Any]:
    """The request's JSON object, or Azure's InvalidRequestContent."""
    try:
        parsed = json.loads(body or b"null")
    except ValueError as exc:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The request content was invalid and could not be deserialized: {exc}",
        ) from exc
    if not isinstance(parsed, dict):
        raise ArmError(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: "
            "expected a JSON object.",
        )
    return parsed


def _choice(value: object, allowed: dict[str, str], target: str) -> str | None:
    if value in (None, ""):
        return None
    canonical = allowed.get(str(value).lower())
    if canonical is None:
        raise invalid(
            f"The value '{value}' of parameter '{target}' is not allowed; allowed "
            f"values are {', '.join(allowed.values())}.",
            target,
        )
    return canonical


def new_disk(
    config: StackConfig,
    sub: str,
    rg: str,
    name: str,
    location: str,
    tags: dict[str, str],
    properties: dict[str, Any],
    body: dict[str, Any],
    now: float,
) -> Disk:
    """A new disk for a validated PUT, its blob written to Azurite."""
    creation = properties.get("creationData") or {}
    option = str(creation.get("createOption") or "")
    container = f"md-{uuid.uuid4().hex[:12]}"
    source_uri = storage_account_id = None
    if option.lower() == "import":
        source_uri = creation.get("sourceUri")
        storage_account_id = creation.get("storageAccountId")
        account, size = _import(config, location, container, creation)
    elif option.lower() == "empty":
        size_gb = properties.get("diskSizeGB")
        if not isinstance(size_gb, int) or not 0 < size_gb <= MAX_DISK_GB:
            raise invalid(
                f"diskSizeGB must be a whole number from 1 to {MAX_DISK_GB} for "
                f"an empty disk, got {size_gb!r}.",
                "diskSizeGB",
            )
        account = _home_account(config, location)
        size = size_gb * GIB
        disk_blobs.create_empty(config, account, container, size)
    else:
        raise invalid(
            f"createOption '{option}' is not served by the local emulator; use "
            "Import (from a VHD blob) or Empty.",
            "creationData.createOption",
        )
    return Disk(
        subscription_id=sub,
        resource_group=rg,
        name=name,
        location=location,
        tags=tags,
        sku=str((body.get("sku") or {}).get("name") or "Standard_LRS"),
        os_type=_choice(properties.get("osType"), OS_TYPES, "osType"),
        hyper_v_generation=_choice(
            properties.get("hyperVGeneration"), GENERATIONS, "hyperVGeneration"
        ),
        create_option="Import" if option.lower() == "import" else "Empty",
        source_uri=source_uri,
        storage_account_id=storage_account_id,
        size_bytes=size,
        unique_id=str(uuid.uuid4()),
        created_at=now,
        ready_at=now + config.image_seconds,
        account=account.name,
        container=container,
        # Limitation: there is no VM API; a PUT's managedBy models an attached disk.
        managed_by=body.get("managedBy") or None,
    )


def _import(
    config: StackConfig,
    location: str,
    container: str,
    creation: dict[str, Any],
) -> tuple[StackAccount, int]:
    """Check the source blob as Azure does and copy it; the account and size."""
    source_uri = creation.get("sourceUri")
    if not isinstance(source_uri, str) or not source_uri:
        raise invalid(
            "Required parameter 'creationData.sourceUri' is missing (null).",
            "creationData.sourceUri",
        )
    address = parse_blob_uri(source_uri)
    account = config.account(address.account)
    wanted_id = str(creation.get("storageAccountId") or "")
    if not wanted_id:
        raise invalid(
            "Required parameter 'creationData.storageAccountId' is missing (null); "
            "it must name the storage account that holds the VHD.",
            "creationData.storageAccountId",
        )
    if account is None or str(account_body(config, account)["id"]).lower() != (
        wanted_id.lower()
    ):
        raise invalid(
            f"The source blob {source_uri} is not in storage account {wanted_id}.",
            "creationData.sourceUri",
        )
    if normalize_location(account.region) != location:
        raise ArmError(
            400,
            "BadRequest",
            f"The storage account '{account.name}' of source blob {source_uri} "
            f"is in '{account.region}', not in the disk's region '{location}'. "
            "Copy the VHD to an account in the disk's region first.",
            target="creationData.sourceUri",
        )
    size = check_source_blob(config, account, address, source_uri)
    disk_blobs.import_blob(
        config, account, container, account, address.container, address.blob
    )
    return account, size


def _home_account(config: StackConfig, location: str) -> StackAccount:
    # Limitation: an empty disk's blob lives in any stack account of its region.
    for account in config.accounts:
        if normalize_location(account.region) == location:
            return account
    return config.accounts[0]
