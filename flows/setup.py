"""The setup flow: what a release needs before it runs, from the inventory."""

from __future__ import annotations

from prefect import flow

from imagerelay.inventory import load_inventory
from imagerelay.limits import planned_limits
from imagerelay.settings import get_settings
from tasks.automations import apply_automations
from tasks.limits import apply_limits


@flow(name="setup")
async def setup_flow(inventory: str | None = None) -> dict[str, int]:
    """Create or resize the concurrency limits the inventory's releases run under."""
    settings = get_settings()
    plan = load_inventory(inventory or settings.inventory)
    limits = planned_limits(plan, settings)
    await apply_limits(limits)
    await apply_automations(settings.notify_url)
    return limits
