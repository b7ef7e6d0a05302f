"""The setup flow: everything a release needs, provisioned from the inventory."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from pydantic import BaseModel

from blocks.inventory import load_run_inventory
from imagerelay.errors import PermanentError
from imagerelay.limits import planned_limits
from imagerelay.provision_plan import Step, azure_spec, refusals
from imagerelay.settings import get_settings
from tasks.automations import apply_automations, plan_automations
from tasks.limits import apply_limits, plan_limits
from tasks.provision import apply_azure_resources, plan_azure_resources
from tasks.provision_prefect import apply_blocks, plan_blocks

ACTIONS = ("create", "update", "keep")


class SetupRefused(PermanentError):
    """A resource is in a state setup cannot fix; the message names it and why."""


class SetupReport(BaseModel):
    """The plan setup made, whether it was carried out, and the limits it set."""

    steps: list[Step]
    applied: bool
    limits: dict[str, int]


@flow(name="setup")
async def setup_flow(
    inventory: str | None = None, dry_run: bool = False
) -> SetupReport:
    """Create or update resource groups, storage accounts, containers, concurrency
    limits, blocks and the work pool; with dry_run, only plan.

    Args:
        inventory: Inventory file; the inventory block or IMAGERELAY_INVENTORY if
            omitted.
        dry_run: Plan and report (create / keep / update per resource), change
            nothing.
    """
    logger = get_run_logger()
    settings = get_settings()
    plan = await load_run_inventory(inventory)
    spec = azure_spec(plan)
    limits = planned_limits(plan, settings)

    azure_steps = await plan_azure_resources(spec)
    prefect_steps = await plan_limits(limits) + await plan_blocks(settings, plan)
    automation_steps = await plan_automations(settings.notify_url)
    steps = azure_steps + prefect_steps + automation_steps
    await acreate_table_artifact(
        key="setup-plan",
        table=[step.model_dump() for step in steps],
        description=f"Setup plan{' (dry run)' if dry_run else ''}",
    )
    counts = {
        a: sum(s.action == a for s in steps) for a in ("create", "update", "keep")
    }
    logger.info(
        "Setup plan: %d to create, %d to update, %d to keep",
        counts["create"],
        counts["update"],
        counts["keep"],
    )

    refused = refusals(steps)
    if refused:
        shown = "; ".join(f"{s.kind} {s.name}: {s.detail}" for s in refused)
        raise SetupRefused(f"setup cannot fix {len(refused)} resources: {shown}")
    if dry_run:
        return SetupReport(steps=steps, applied=False, limits=limits)

    await apply_azure_resources(spec, azure_steps)
    await apply_limits(limits)
    await apply_blocks(settings, plan, prefect_steps)
    await apply_automations(settings.notify_url)
    return SetupReport(steps=steps, applied=True, limits=limits)
