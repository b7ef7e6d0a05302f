"""Automations: create or update the ones kept in deployments/automations/."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from prefect import get_run_logger, task
from prefect.client.orchestration import PrefectClient, get_client
from prefect.events.schemas.automations import AutomationCore
from prefect.exceptions import ObjectNotFound
from pydantic import SecretStr

from blocks.notify import NOTIFY_BLOCK, NOTIFY_BLOCK_TYPE, release_webhook
from imagerelay.provision_plan import Action, Step

AUTOMATIONS_DIR = Path(__file__).resolve().parents[1] / "deployments" / "automations"
NOTIFY_SETTING = "IMAGERELAY_NOTIFY_URL"
SUFFIXES = (".yaml", ".yml", ".json")


class AutomationFileError(ValueError):
    """An automation file that Prefect would not accept, or whose block is missing."""


@task(name="apply-automations")
async def apply_automations(
    notify_url: SecretStr | None, folder: Path = AUTOMATIONS_DIR
) -> list[str]:
    """Save the notification block, then create or update each automation by name.

    Every file is checked before anything changes. Without a notify URL no block is
    saved and automations that notify are not created; ones an earlier setup created
    are left as they are. Returns one line per thing done, also logged.
    """
    documents = [(path, load_automation(path)) for path in automation_files(folder)]
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

        for path, document in documents:
            if notify_url is None and _needs_notify_block(path, document):
                exists = await client.read_automations_by_name(document["name"])
                left = "left as it is" if exists else "not created"
                done.append(f"automation {document['name']} {left}")
                continue
            automation = await _resolve(client, path, document)
            done.append(await _upsert(client, automation))

    logger = get_run_logger()
    for line in done:
        logger.info("%s", line)
    return done


@task(name="plan-automations")
async def plan_automations(
    notify_url: SecretStr | None, folder: Path = AUTOMATIONS_DIR
) -> list[Step]:
    """What apply_automations would do, as plan rows; changes nothing."""
    unset = f"{NOTIFY_SETTING} is unset: failed releases notify nobody"
    steps = [
        Step(
            kind="notification block",
            name=NOTIFY_BLOCK,
            where="prefect",
            action="keep" if notify_url is None else "update",
            detail=unset if notify_url is None else "saved from the setting",
        )
    ]
    async with get_client() as client:
        for path in automation_files(folder):
            document = load_automation(path)
            exists = bool(await client.read_automations_by_name(document["name"]))
            if notify_url is None and _needs_notify_block(path, document):
                action: Action = "keep"
                detail = f"{'left as it is' if exists else 'not created'}: {unset}"
            else:
                action = "update" if exists else "create"
                detail = path.name
            steps.append(
                Step(
                    kind="automation",
                    name=document["name"],
                    where="prefect",
                    action=action,
                    detail=detail,
                )
            )
    return steps


def automation_files(folder: Path) -> list[Path]:
    """The automation files of a folder, in name order."""
    return sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES)


def load_automation(path: Path) -> dict[str, Any]:
    """Read one automation file and check Prefect would accept it."""
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise AutomationFileError(f"{path} is not YAML or JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise AutomationFileError(f"{path} must hold one automation (a mapping)")

    checked = copy.deepcopy(document)
    for action in _block_refs(checked):
        _split_reference(path, action["block_document_id"])
        action["block_document_id"] = str(UUID(int=0))
    _validate(path, checked)
    return document


def _block_refs(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The actions of an automation document that name a notification block."""
    actions = document.get("actions") or []
    return [a for a in actions if isinstance(a, dict) and "block_document_id" in a]


def _needs_notify_block(path: Path, document: dict[str, Any]) -> bool:
    """Whether an automation sends through the block IMAGERELAY_NOTIFY_URL makes."""
    ours = (NOTIFY_BLOCK_TYPE, NOTIFY_BLOCK)
    return any(
        _split_reference(path, a["block_document_id"]) == ours
        for a in _block_refs(document)
    )


def _split_reference(path: Path, reference: object) -> tuple[str, str]:
    """'<block type slug>/<block name>' as its two parts."""
    block_type, _, name = str(reference).partition("/")
    if not block_type or not name:
        raise AutomationFileError(
            f"{path}: block_document_id {reference!r} must name a block as "
            f"'<block type slug>/<block name>', e.g. "
            f"'{NOTIFY_BLOCK_TYPE}/{NOTIFY_BLOCK}'"
        )
    return block_type, name


def _validate(path: Path, document: dict[str, Any]) -> AutomationCore:
    try:
        return AutomationCore.model_validate(document)
    except ValueError as exc:
        raise AutomationFileError(
            f"{path} is not a valid Prefect automation: {exc}"
        ) from exc


async def _resolve(
    client: PrefectClient, path: Path, document: dict[str, Any]
) -> AutomationCore:
    """Replace block references by the ids of the blocks on this server."""
    resolved = copy.deepcopy(document)
    for action in _block_refs(resolved):
        block_type, name = _split_reference(path, action["block_document_id"])
        try:
            block = await client.read_block_document_by_name(
                name, block_type, include_secrets=False
            )
        except ObjectNotFound:
            raise AutomationFileError(
                f"{path}: notification block {block_type}/{name} does not exist; "
                "create it, then run setup again"
            ) from None
        action["block_document_id"] = str(block.id)
    return _validate(path, resolved)


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
