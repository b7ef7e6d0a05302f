"""Setup's Azure steps as Prefect tasks: read the state, then create or update."""

from __future__ import annotations

from prefect import get_run_logger, task

from blocks.arm import AzureResourceManager
from imagerelay import clients
from imagerelay.arm_access import ArmAccess
from imagerelay.provision import apply_azure, plan_azure
from imagerelay.provision_plan import AzureSpec, Step
from imagerelay.settings import get_settings
from tasks.retry import transient_only


async def arm_access() -> ArmAccess:
    """ARM settings and credential: the configured block's, else the settings'."""
    settings = get_settings()
    if settings.arm_block:
        block = await AzureResourceManager.load(settings.arm_block)
        return ArmAccess(block.apply_to(settings), block.credential())
    return ArmAccess(settings, clients.arm_credential())


@task(
    name="plan-azure",
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=transient_only,
)
async def plan_azure_resources(spec: AzureSpec) -> list[Step]:
    """Read every group, account and container the inventory needs."""
    access = await arm_access()
    async with access.credential:
        return await plan_azure(access, spec)


@task(
    name="apply-azure",
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=transient_only,
)
async def apply_azure_resources(spec: AzureSpec, steps: list[Step]) -> None:
    """Create and update groups, accounts and containers; safe to run again."""
    access = await arm_access()
    async with access.credential:
        await apply_azure(access, spec, steps)
    changed = sum(1 for step in steps if step.action in ("create", "update"))
    get_run_logger().info("%d Azure resources created or updated", changed)
