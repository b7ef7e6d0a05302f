"""Register the stack's Prefect objects: the tier-0 block and the work pool.

Run as `python -m devstack.register POOL TEMPLATE` with PREFECT_API_URL and
IMAGERELAY_TIER0_CONNECTION_STRING set, so the stack's own process need not
import Prefect against another API.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect_azure.credentials import AzureBlobStorageCredentials

from blocks.tier0 import Tier0Storage
from flows.setup import setup_flow


async def register(pool: str, template: Path) -> None:
    """Save the tier-0 block, run the setup flow, create or update the work pool."""
    credentials = AzureBlobStorageCredentials(
        connection_string=os.environ["IMAGERELAY_TIER0_CONNECTION_STRING"]
    )
    await Tier0Storage(credentials=credentials).save(
        os.environ.get("IMAGERELAY_TIER0_BLOCK", "imagerelay-tier0"), overwrite=True
    )
    await setup_flow()
    async with get_client() as client:
        await client.create_work_pool(
            WorkPoolCreate(
                name=pool,
                type="process",
                base_job_template=json.loads(template.read_text()),
            ),
            overwrite=True,
        )


if __name__ == "__main__":
    asyncio.run(register(sys.argv[1], Path(sys.argv[2])))
