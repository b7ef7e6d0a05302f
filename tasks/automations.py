"""Automations: create or update the ones kept in deployments/automations/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from prefect import get_run_logger, task
from prefect.client.orchestration import PrefectClient, get_client
from prefect.events.schemas.automations import AutomationCore
from prefect.exceptions import ObjectNotFound
from pydantic import SecretStr

from blocks.notify import NOTIFY_BLOCK, NOTIFY_BLOCK_TYPE, release_webhook

AUTOMATIONS_DIR = Path(__file__).resolve().parents[1] / "deployments" / "automations"
NOTIFY_SETTING = "IMAGERELAY_NOTIFY_URL"


class AutomationFileError(ValueError):
    """An automation file that Prefect would not accept, or that names no block."""


@task(name="apply-automations")
async def apply_automations(
    notify_url: SecretStr | None, folder: Path = AUTOMATIONS_DIR
) -> list[str]:
    """Save the notification block, then create or update each automation by name.

    Without a notify URL no block is saved and automations that notify are not
    created; ones an earlier setup created are left as they are. Returns one line
    per thing done, also logged.
    """
    logger = get_run_logger()
    done: list[str] = []
    async with get_client() as client:
        if notify_url is None:
            done.append(
                f"no notification block: {NOTIFY_SETTING} is unset, so failed "
                "releases notify nobody"
            )
        else:
            await release_webhook(notify_url).save(NOTIFY_BLOCK, overwrite=True)
            done.append(f"notification block {NOTIFY_BLOCK_TYPE}/{NOTIFY_BLOCK} saved")

        for path in sorted(folder.glob("*.yaml")):
            document = yaml.safe_load(path.read_text())
            if notify_url is None and _block_refs(document):
                exists = await client.read_automations_by_name(document["name"])
                left = "left as it is" if exists else "not created"
                done.append(f"automation {document['name']} {left}")
                continue
            automation = await _resolve(client, path, document)
            done.append(await _upsert(client, automation))

    for line in done:
        logger.info("%s", line)
    return done


def _block_refs(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The actions of an automation document that name a notification block."""
    return [a for a in document.get("actions", []) if "block_document_id" in a]


async def _resolve(
    client: PrefectClient, path: Path, document: dict[str, Any]
) -> AutomationCore:
    """Replace "<block type>/<block name>" references by block ids, then validate."""
    for action in _block_refs(document):
        reference = str(action["block_document_id"])
        block_type, _, name = reference.partition("/")
        if not name:
            raise AutomationFileError(
                f"{path}: block_document_id {reference!r} must be "
                "'<block type slug>/<block name>', e.g. "
                f"'{NOTIFY_BLOCK_TYPE}/{NOTIFY_BLOCK}'"
            )
        try:
            block = await client.read_block_document_by_name(
                name, block_type, include_secrets=False
            )
        except ObjectNotFound:
            raise AutomationFileError(
                f"{path}: notification block {reference} does not exist; create it "
                "(or set IMAGERELAY_NOTIFY_URL for the imagerelay one) and run setup"
            ) from None
        action["block_document_id"] = str(block.id)
    try:
        return AutomationCore.model_validate(document)
    except ValueError as exc:
        raise AutomationFileError(
            f"{path} is not a valid Prefect automation: {exc}"
        ) from exc


async def _upsert(client: PrefectClient, automation: AutomationCore) -> str:
    """Create the automation, or update the one of that name and drop duplicates."""
    existing = await client.read_automations_by_name(automation.name)
    if not existing:
        await client.create_automation(automation)
        return f"automation {automation.name} created"

    keep, *duplicates = existing
    await client.update_automation(keep.id, automation)
    for duplicate in duplicates:
        await client.delete_automation(duplicate.id)
    removed = f", {len(duplicates)} duplicates removed" if duplicates else ""
    return f"automation {automation.name} updated{removed}"
