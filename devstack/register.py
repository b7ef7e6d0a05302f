"""Provision the stack with imagerelay's own setup flow.

Run as `python -m devstack.register` with PREFECT_API_URL and the stack's
IMAGERELAY_* settings in the environment, so the stack's own process need not
import Prefect against another API. Setup creates the inventory's resource groups,
storage accounts and containers in the ARM emulator (Azurite already serves those
accounts), the concurrency limits, the blocks and the work pool.
"""

from __future__ import annotations

import asyncio

from flows.setup import setup_flow


async def register() -> None:
    """Run setup; its plan says what it created and what it kept."""
    report = await setup_flow()
    changed = [s for s in report.steps if s.action != "keep"]
    for step in changed:
        print(f"{step.action} {step.kind} {step.name} ({step.where})")


if __name__ == "__main__":
    asyncio.run(register())
