"""Resource groups, storage accounts and containers: read their state, then create.

Planning only reads; applying carries out a plan's create and update steps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.resource.resources.models import ResourceGroup
from azure.mgmt.storage.models import (
    BlobContainer,
    Sku,
    StorageAccount,
    StorageAccountCheckNameAvailabilityParameters,
    StorageAccountCreateParameters,
    StorageAccountPropertiesCreateParameters,
    StorageAccountPropertiesUpdateParameters,
    StorageAccountUpdateParameters,
)

from imagerelay.arm_access import ArmAccess, gather_bounded
from imagerelay.provision_plan import (
    ACCOUNT_SETTINGS,
    MANAGED_TAGS,
    AccountSpec,
    Action,
    AzureSpec,
    ContainerSpec,
    GroupSpec,
    Step,
    account_drift,
)

logger = logging.getLogger(__name__)


def group_step(spec: GroupSpec, kind: str, existing: ResourceGroup | None) -> Step:
    where = spec.subscription_id
    if existing is None:
        return Step(
            kind=kind,
            name=spec.name,
            where=where,
            action="create",
            detail=spec.location,
        )
    detail = existing.location or ""
    return Step(kind=kind, name=spec.name, where=where, action="keep", detail=detail)


def account_step(
    spec: AccountSpec, existing: StorageAccount | None, taken: bool
) -> Step:
    where = f"{spec.subscription_id}/{spec.resource_group}"
    if existing is None:
        if taken:
            return Step(
                kind="storage account",
                name=spec.name,
                where=where,
                action="refuse",
                detail="the name is taken by another subscription or group; pick "
                "another name in the inventory",
            )
        return Step(
            kind="storage account",
            name=spec.name,
            where=where,
            action="create",
            detail=spec.location,
        )
    if (existing.location or "").replace(" ", "").lower() != spec.location:
        return Step(
            kind="storage account",
            name=spec.name,
            where=where,
            action="refuse",
            detail=f"it is in {existing.location}, the inventory says "
            f"{spec.location}; fix the inventory's region",
        )
    props = existing.properties
    changes, refusal = account_drift(
        _text(existing.kind),
        _text(existing.sku.name) if existing.sku else None,
        props.enable_https_traffic_only if props else None,
        props.allow_blob_public_access if props else None,
        _text(props.minimum_tls_version) if props else None,
    )
    if refusal:
        return Step(
            kind="storage account",
            name=spec.name,
            where=where,
            action="refuse",
            detail=refusal,
        )
    if changes:
        return Step(
            kind="storage account",
            name=spec.name,
            where=where,
            action="update",
            detail="; ".join(changes),
        )
    return Step(kind="storage account", name=spec.name, where=where, action="keep")


def _text(value: object) -> str | None:
    """An SDK enum or string as Azure spells it."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


async def plan_azure(access: ArmAccess, spec: AzureSpec) -> list[Step]:
    """One step per group, account and container; reads Azure, changes nothing."""
    kinds = [("resource group", g) for g in spec.groups]
    kinds += [("image resource group", g) for g in spec.image_groups]
    group_steps = await gather_bounded(
        _plan_group(access, g, kind) for kind, g in kinds
    )
    account_steps = await gather_bounded(
        _plan_account(access, a) for a in spec.accounts
    )
    missing = {s.name for s in account_steps if s.action == "create"}
    container_steps = await gather_bounded(
        _plan_container(access, c, c.account in missing) for c in spec.containers
    )
    return group_steps + account_steps + container_steps


async def _plan_group(access: ArmAccess, group: GroupSpec, kind: str) -> Step:
    async with access.resources(group.subscription_id) as client:
        existing = None
        if await client.resource_groups.check_existence(group.name):
            existing = await client.resource_groups.get(group.name)
    return group_step(group, kind, existing)


async def _plan_account(access: ArmAccess, account: AccountSpec) -> Step:
    async with access.storage(account.subscription_id) as client:
        found = await _account(client, account)
        taken = False
        if found is None:
            answer = await client.storage_accounts.check_name_availability(
                StorageAccountCheckNameAvailabilityParameters(name=account.name)
            )
            taken = answer.name_available is False
    return account_step(account, found, taken)


async def _plan_container(
    access: ArmAccess, container: ContainerSpec, account_missing: bool
) -> Step:
    action: Action = "create"
    if not account_missing:
        async with access.storage(container.subscription_id) as client:
            if await _container_exists(client, container):
                action = "keep"
    return Step(
        kind="container",
        name=container.name,
        where=f"{container.subscription_id}/{container.account}",
        action=action,
    )


async def _account(client: Any, spec: AccountSpec) -> StorageAccount | None:
    try:
        return await client.storage_accounts.get_properties(
            spec.resource_group, spec.name
        )
    except ResourceNotFoundError:
        return None


async def _container_exists(client: Any, spec: ContainerSpec) -> bool:
    try:
        await client.blob_containers.get(spec.resource_group, spec.account, spec.name)
    except ResourceNotFoundError:
        return False
    return True


def _wanted(steps: Iterable[Step], kind: str, action: str) -> set[tuple[str, str]]:
    return {(s.where, s.name) for s in steps if s.kind == kind and s.action == action}


async def apply_azure(access: ArmAccess, spec: AzureSpec, steps: list[Step]) -> None:
    """Create and update what the plan says: groups, then accounts, then containers.

    A refused step must have stopped the run before this.
    """
    new_groups = _wanted(steps, "resource group", "create")
    new_groups |= _wanted(steps, "image resource group", "create")
    await gather_bounded(
        _create_group(access, group)
        for group in spec.groups + spec.image_groups
        if (group.subscription_id, group.name) in new_groups
    )

    create = _wanted(steps, "storage account", "create")
    update = _wanted(steps, "storage account", "update")

    def key(account: AccountSpec) -> tuple[str, str]:
        return (f"{account.subscription_id}/{account.resource_group}", account.name)

    await gather_bounded(
        _create_account(access, a) for a in spec.accounts if key(a) in create
    )
    await gather_bounded(
        _update_account(access, a) for a in spec.accounts if key(a) in update
    )

    new_containers = _wanted(steps, "container", "create")
    await gather_bounded(
        _create_container(access, c)
        for c in spec.containers
        if (f"{c.subscription_id}/{c.account}", c.name) in new_containers
    )


async def _create_group(access: ArmAccess, group: GroupSpec) -> None:
    async with access.resources(group.subscription_id) as client:
        await client.resource_groups.create_or_update(
            group.name, ResourceGroup(location=group.location, tags=MANAGED_TAGS)
        )
    logger.info("Created resource group %s/%s", group.subscription_id, group.name)


async def _create_container(access: ArmAccess, container: ContainerSpec) -> None:
    async with access.storage(container.subscription_id) as client:
        await client.blob_containers.create(
            container.resource_group, container.account, container.name, BlobContainer()
        )
    logger.info("Created container %s/%s", container.account, container.name)


async def _create_account(access: ArmAccess, account: AccountSpec) -> None:
    settings = ACCOUNT_SETTINGS
    parameters = StorageAccountCreateParameters(
        sku=Sku(name=settings.sku),
        kind=settings.kind,
        location=account.location,
        tags=MANAGED_TAGS,
        properties=StorageAccountPropertiesCreateParameters(
            enable_https_traffic_only=settings.https_only,
            allow_blob_public_access=settings.allow_blob_public_access,
            minimum_tls_version=settings.minimum_tls_version,
        ),
    )
    async with access.storage(account.subscription_id) as client:
        poller = await client.storage_accounts.begin_create(
            account.resource_group, account.name, parameters
        )
        await poller.result()
    logger.info("Created storage account %s in %s", account.name, account.location)


async def _update_account(access: ArmAccess, account: AccountSpec) -> None:
    settings = ACCOUNT_SETTINGS
    parameters = StorageAccountUpdateParameters(
        sku=Sku(name=settings.sku),
        kind=settings.kind,
        properties=StorageAccountPropertiesUpdateParameters(
            enable_https_traffic_only=settings.https_only,
            allow_blob_public_access=settings.allow_blob_public_access,
            minimum_tls_version=settings.minimum_tls_version,
        ),
    )
    async with access.storage(account.subscription_id) as client:
        await client.storage_accounts.update(
            account.resource_group, account.name, parameters
        )
    logger.info("Updated storage account %s", account.name)
