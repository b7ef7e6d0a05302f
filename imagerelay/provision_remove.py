"""Tear down what setup created for an inventory, and nothing else.

Setup tags every resource group and storage account it creates with
imagerelay-managed=true; remove deletes only tagged ones. Images that releases made
(tagged imagerelay-release) are deleted from every image group, tagged or not; an
image group that also holds images imagerelay did not make is kept, with them.
"""

from __future__ import annotations

import logging

from azure.core.exceptions import ResourceNotFoundError

from imagerelay.arm_access import ArmAccess, gather_bounded
from imagerelay.images import SOURCE_MD5_TAG
from imagerelay.provision_plan import (
    AccountSpec,
    AzureSpec,
    GroupSpec,
    Step,
    is_managed,
)

logger = logging.getLogger(__name__)

RELEASE_TAG = "imagerelay-release"
NOT_OURS = "not created by setup (no imagerelay-managed tag): left alone"


async def _image_steps(
    access: ArmAccess, group: GroupSpec
) -> tuple[list[Step], list[str]]:
    """Delete steps for the images releases made, and the names of all others."""
    where = f"{group.subscription_id}/{group.name}"
    steps: list[Step] = []
    others: list[str] = []
    async with access.compute(group.subscription_id) as client:
        async for image in client.images.list_by_resource_group(group.name):
            tags = image.tags or {}
            if RELEASE_TAG in tags or SOURCE_MD5_TAG in tags:
                steps.append(
                    Step(
                        kind="image",
                        name=image.name,
                        where=where,
                        action="delete",
                        detail=f"release {tags.get(RELEASE_TAG, '?')}",
                    )
                )
            else:
                others.append(str(image.name))
    return steps, others


async def _group_steps(access: ArmAccess, group: GroupSpec, kind: str) -> list[Step]:
    async with access.resources(group.subscription_id) as client:
        if not await client.resource_groups.check_existence(group.name):
            return []
        found = await client.resource_groups.get(group.name)
    managed = is_managed(found.tags)
    detail = "with everything in it" if managed else NOT_OURS
    steps: list[Step] = []
    others: list[str] = []
    if kind == "image resource group":
        steps, others = await _image_steps(access, group)
    if managed and others:
        managed = False
        names = ", ".join(sorted(others)[:3]) + (", ..." if len(others) > 3 else "")
        detail = f"kept: holds {names}, not made by imagerelay"
    steps.append(
        Step(
            kind=kind,
            name=group.name,
            where=group.subscription_id,
            action="delete" if managed else "keep",
            detail=detail,
        )
    )
    return steps


async def _account_step(access: ArmAccess, account: AccountSpec) -> list[Step]:
    async with access.storage(account.subscription_id) as client:
        try:
            found = await client.storage_accounts.get_properties(
                account.resource_group, account.name
            )
        except ResourceNotFoundError:
            return []
    managed = is_managed(found.tags)
    return [
        Step(
            kind="storage account",
            name=account.name,
            where=f"{account.subscription_id}/{account.resource_group}",
            action="delete" if managed else "keep",
            detail="and all its blobs" if managed else NOT_OURS,
        )
    ]


async def plan_removal(access: ArmAccess, spec: AzureSpec) -> list[Step]:
    """What remove would delete (and keep); reads Azure, changes nothing."""
    kinds = [("image resource group", g) for g in spec.image_groups]
    kinds += [("resource group", g) for g in spec.groups]
    groups = await gather_bounded(_group_steps(access, g, kind) for kind, g in kinds)
    accounts = await gather_bounded(_account_step(access, a) for a in spec.accounts)
    return [step for steps in accounts + groups for step in steps]


async def apply_removal(access: ArmAccess, spec: AzureSpec, steps: list[Step]) -> None:
    """Delete images, then tagged accounts, then tagged groups (waiting for each)."""
    doomed = {(s.kind, s.where, s.name) for s in steps if s.action == "delete"}
    images = [s for s in steps if s.kind == "image" and s.action == "delete"]
    await gather_bounded(_delete_image(access, step) for step in images)

    def account_key(a: AccountSpec) -> tuple[str, str, str]:
        return ("storage account", f"{a.subscription_id}/{a.resource_group}", a.name)

    await gather_bounded(
        _delete_account(access, a) for a in spec.accounts if account_key(a) in doomed
    )
    groups = [("image resource group", g) for g in spec.image_groups]
    groups += [("resource group", g) for g in spec.groups]
    await gather_bounded(
        _delete_group(access, group)
        for kind, group in groups
        if (kind, group.subscription_id, group.name) in doomed
    )


async def _delete_image(access: ArmAccess, step: Step) -> None:
    subscription_id, group = step.where.split("/", 1)
    async with access.compute(subscription_id) as client:
        poller = await client.images.begin_delete(group, step.name)
        await poller.result()
    logger.info("Deleted image %s/%s", step.where, step.name)


async def _delete_account(access: ArmAccess, account: AccountSpec) -> None:
    async with access.storage(account.subscription_id) as client:
        await client.storage_accounts.delete(account.resource_group, account.name)
    logger.info("Deleted storage account %s", account.name)


async def _delete_group(access: ArmAccess, group: GroupSpec) -> None:
    async with access.resources(group.subscription_id) as client:
        poller = await client.resource_groups.begin_delete(group.name)
        await poller.result()
    logger.info("Deleted resource group %s/%s", group.subscription_id, group.name)
