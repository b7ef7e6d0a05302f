"""Start the release deployment after an upload, and print where to watch it."""

from __future__ import annotations

import asyncio

from imagerelay.commands import make_console
from imagerelay.settings import Settings

RELEASE_DEPLOYMENT = "release/golden"

console = make_console(stderr=True)


def start_release(
    settings: Settings,
    release: str,
    image: str,
    os_type: str,
    generation: str,
    vhd: str,
) -> None:
    """Start the release deployment and print the flow run's UI address.

    Prefect is imported here only, so the rest of the CLI runs without it.
    """
    from prefect.deployments.flow_runs import arun_deployment
    from prefect.settings import PREFECT_UI_URL

    coroutine = arun_deployment(
        RELEASE_DEPLOYMENT,
        parameters={
            "release_id": release,
            "image_name": image,
            "os_type": os_type,
            "hyper_v_generation": generation,
            "vhd": vhd,
        },
        timeout=0,
    )
    flow_run = asyncio.run(coroutine)
    ui = settings.ui_url or PREFECT_UI_URL.value()
    console.print(f"release {release} started: {ui}/runs/flow-run/{flow_run.id}")
