"""The release-failed automation: a webhook hears of failed releases, not of others."""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect.states import Crashed, Running
from pydantic import SecretStr

from blocks.notify import NOTIFY_BLOCK, NOTIFY_BLOCK_TYPE
from devstack.config import StackConfig
from flows.release import release_flow
from flows.setup import setup_flow
from imagerelay.settings import get_settings
from tasks.automations import (
    AUTOMATIONS_DIR,
    AutomationFileError,
    apply_automations,
    plan_automations,
)
from tests.conftest import TEST_INVENTORY
from tests.flows.test_release import uploaded_vhd  # noqa: F401

# A release id of its own: the ledger partition of test_release stays its own.
RELEASE = "2026.10"
AUTOMATION = yaml.safe_load((AUTOMATIONS_DIR / "release-failed.yaml").read_text())[
    "name"
]
TOKEN = "hook-token-do-not-log"
WAIT_SECONDS = 60


class Receiver:
    """A local webhook endpoint that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                received.put({"path": self.path, **body})
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?token={TOKEN}"

    def wait_for(self, text: str, seen: list[dict[str, Any]]) -> dict[str, Any]:
        """The first notification whose text holds text; all are kept in seen."""
        for message in seen:
            if text in message.get("text", ""):
                return message
        deadline = time.monotonic() + WAIT_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.received.get(timeout=left)
            except queue.Empty:
                break
            seen.append(message)
            if text in message.get("text", ""):
                return message
        raise AssertionError(f"no notification about {text} in {WAIT_SECONDS} s")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


async def _remove_automation_and_block() -> None:
    async with get_client() as client:
        for automation in await client.read_automations_by_name(AUTOMATION):
            await client.delete_automation(automation.id)
        try:
            block = await client.read_block_document_by_name(
                NOTIFY_BLOCK, NOTIFY_BLOCK_TYPE, include_secrets=False
            )
        except ObjectNotFound:
            return
        await client.delete_block_document(block.id)


@pytest.fixture
async def clean(stack: StackConfig) -> AsyncIterator[None]:
    """No automation or notification block before the test, and none left after."""
    await _remove_automation_and_block()
    yield
    await _remove_automation_and_block()


@pytest.fixture
def one_target_inventory(tmp_path: Path) -> str:
    document = yaml.safe_load(TEST_INVENTORY.read_text())
    document["targets"] = document["targets"][:1]
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


async def test_without_a_notify_url_setup_makes_no_block_and_says_so(
    clean: None,
) -> None:
    done = await apply_automations(None)

    assert any("IMAGERELAY_NOTIFY_URL is unset" in line for line in done), done
    assert f"automation {AUTOMATION} not created" in done
    async with get_client() as client:
        assert await client.read_automations_by_name(AUTOMATION) == []
        with pytest.raises(ObjectNotFound):
            await client.read_block_document_by_name(NOTIFY_BLOCK, NOTIFY_BLOCK_TYPE)


async def test_the_setup_plan_shows_the_automation_and_notify_block(
    clean: None,
) -> None:
    unset = await plan_automations(None)
    wanted = await plan_automations(SecretStr("http://127.0.0.1:9/hook"))

    assert (unset[0].kind, unset[0].action) == ("notification block", "keep")
    assert "IMAGERELAY_NOTIFY_URL is unset" in unset[0].detail
    assert [(s.name, s.action) for s in unset[1:]] == [(AUTOMATION, "keep")]
    assert unset[1].detail.startswith("not created")
    assert [(s.name, s.action) for s in wanted[1:]] == [(AUTOMATION, "create")]
    async with get_client() as client:
        assert await client.read_automations_by_name(AUTOMATION) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"trigger": {"type": "event", "posture": "Sometimes"}}, "posture"),
        (
            {"actions": [{"type": "send-notification", "block_document_id": "x"}]},
            "'<block type slug>/<block name>'",
        ),
    ],
)
async def test_a_bad_automation_file_is_refused_before_anything_changes(
    clean: None, tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    document = yaml.safe_load((AUTOMATIONS_DIR / "release-failed.yaml").read_text())
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**document, **change}))

    with pytest.raises(AutomationFileError, match=problem) as refused:
        await apply_automations(SecretStr("http://127.0.0.1:9/hook"), folder=tmp_path)

    assert str(bad) in str(refused.value)
    async with get_client() as client:
        assert await client.read_automations_by_name(AUTOMATION) == []
        with pytest.raises(ObjectNotFound):
            await client.read_block_document_by_name(NOTIFY_BLOCK, NOTIFY_BLOCK_TYPE)


async def test_setup_is_idempotent_and_keeps_the_url_secret(
    clean: None, receiver: Receiver
) -> None:
    os.environ["IMAGERELAY_NOTIFY_URL"] = "http://127.0.0.1:9/old"
    get_settings.cache_clear()
    try:
        await setup_flow()
    finally:
        del os.environ["IMAGERELAY_NOTIFY_URL"]
        get_settings.cache_clear()
    done = await apply_automations(SecretStr(receiver.url))

    assert f"automation {AUTOMATION} updated" in done
    async with get_client() as client:
        automations = await client.read_automations_by_name(AUTOMATION)
        block = await client.read_block_document_by_name(
            NOTIFY_BLOCK, NOTIFY_BLOCK_TYPE, include_secrets=False
        )
        with_secrets = await client.read_block_document_by_name(
            NOTIFY_BLOCK, NOTIFY_BLOCK_TYPE, include_secrets=True
        )
    assert len(automations) == 1
    action = automations[0].actions[0]
    assert getattr(action, "block_document_id", None) == block.id
    assert TOKEN not in automations[0].model_dump_json()
    assert TOKEN not in json.dumps(block.data, default=str)
    assert with_secrets.data["secrets"]["url"] == receiver.url


async def test_a_failed_or_crashed_release_notifies_and_a_completed_one_does_not(
    clean: None,
    receiver: Receiver,
    uploaded_vhd: str,  # noqa: F811
    one_target_inventory: str,
) -> None:
    await apply_automations(SecretStr(receiver.url))

    completed = await release_flow(
        os_type="Linux",
        image_name="golden-linux-notify",
        release_id=RELEASE,
        vhd=uploaded_vhd,
        inventory=one_target_inventory,
        return_state=True,
    )
    assert completed.is_completed(), completed.message
    async with get_client() as client:
        # What the engine or a worker reports when a release's process dies.
        crashed = await client.create_flow_run(
            release_flow,
            name="release-crash-notify",
            parameters={"os_type": "Linux", "image_name": "golden-linux-notify"},
        )
        await client.set_flow_run_state(crashed.id, Running())
        await client.set_flow_run_state(crashed.id, Crashed(message="worker died"))
    failed = await release_flow(
        os_type="Linux", image_name="-bad", release_id=RELEASE, return_state=True
    )
    assert failed.is_failed()
    assert failed.state_details.flow_run_id is not None
    async with get_client() as client:
        failed_run = await client.read_flow_run(failed.state_details.flow_run_id)

    seen: list[dict[str, Any]] = []
    ui = os.environ["PREFECT_UI_URL"]
    message = receiver.wait_for(f"/runs/flow-run/{failed_run.id}", seen)
    receiver.wait_for(f"/runs/flow-run/{crashed.id}", seen)

    assert message["path"] == f"/hook?token={TOKEN}"
    assert f"{failed_run.name} ended Failed" in message["subject"]
    assert "image name '-bad' is invalid" in message["body"]
    assert f"{ui}/runs/flow-run/{failed_run.id}" in message["text"]
    # Events reach the automation in order: the completed run ended first, so its
    # notification, had there been one, would be here by now.
    completed_id = str(completed.state_details.flow_run_id)
    while not receiver.received.empty():
        seen.append(receiver.received.get_nowait())
    assert not [m for m in seen if completed_id in m.get("text", "")]
    assert len(seen) == 2, [m["subject"] for m in seen]
