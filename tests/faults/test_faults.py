"""Releases on a stack that fails the way Azure fails: limits, faults, timeouts."""

from __future__ import annotations

from collections.abc import Callable

from azure.storage.blob import BlobClient

from devstack import faults
from devstack.config import StackConfig
from devstack.faults import FaultProfile
from flows.release import release_flow
from flows.setup import setup_flow
from imagerelay.inventory import Target, load_inventory
from imagerelay.naming import (
    artifact_key,
    managed_image_name,
    tier1_blob_name,
    tier2_blob_name,
)
from tests.conftest import TEST_INVENTORY
from tests.faults.conftest import RELEASE, SetProfile, artifact_rows, ledger_entities
from tests.flows.test_release import uploaded_vhd  # noqa: F401

GOLDEN_MIB = 32  # the uploaded_vhd fixture's size


async def _release(vhd: str, image: str):  # type: ignore[no-untyped-def]
    return await release_flow(
        os_type="Linux",
        image_name=image,
        release_id=RELEASE,
        vhd=vhd,
        return_state=True,
    )


async def test_the_stack_never_sees_more_copies_than_the_limits(
    stack: StackConfig,
    uploaded_vhd: str,  # noqa: F811
    fault_profile: SetProfile,
    settings_env: Callable[..., None],
) -> None:
    plan = load_inventory(TEST_INVENTORY)
    settings_env(
        limit_copies=3, limit_copies_per_account=2, limit_images_per_subscription=1
    )
    await setup_flow()
    # Copies last 3 s, so they overlap even when a starved CPU starts the target
    # subflows slowly: one run that saw max_copies=1 proved nothing.
    fault_profile(FaultProfile(copy_mib_per_s=GOLDEN_MIB / 3, image_seconds=1.5))

    state = await _release(uploaded_vhd, "golden-limited")

    assert state.is_completed(), state.message
    seen = faults.read_counters(stack)
    assert seen.storage.max_copies <= 3
    assert max(seen.storage.max_copies_per_account.values()) <= 2
    assert seen.storage.max_copies >= 2, (
        "copies never overlapped: the test proves nothing"
    )
    per_subscription = seen.arm.max_image_operations_per_subscription
    assert per_subscription and max(per_subscription.values()) <= 1
    targets = len(plan.enabled_targets)
    assert seen.arm.images_created == targets


async def test_transient_faults_do_not_stop_a_release(
    stack: StackConfig,
    uploaded_vhd: str,  # noqa: F811
    fault_profile: SetProfile,
) -> None:
    plan = load_inventory(TEST_INVENTORY)
    fault_profile(
        FaultProfile(
            copy_mib_per_s=4 * GOLDEN_MIB,
            throttle_share=0.06,
            unavailable_share=0.04,
            error_share=0.03,
            drop_share=0.03,
            retry_after_seconds=0.2,
            seed=7,
        )
    )

    state = await _release(uploaded_vhd, "golden-faulty")

    assert state.is_completed(), state.message
    entities = ledger_entities(stack, RELEASE, "golden-faulty")
    assert len(entities) == len(plan.enabled_targets)
    assert {e["state"] for e in entities} == {"done"}
    seen = faults.read_counters(stack)
    assert sum(seen.storage.faults.values()) > 0, seen.storage.faults
    assert sum(seen.arm.faults.values()) > 0, seen.arm.faults


def _image_id(target: Target, image: str) -> str:
    name = managed_image_name(RELEASE, image, target.region)
    return (
        f"/subscriptions/{target.subscription_id}/resourceGroups/"
        f"{target.image_resource_group}/providers/Microsoft.Compute/images/{name}"
    )


async def test_failed_images_fail_their_targets_only(
    stack: StackConfig,
    uploaded_vhd: str,  # noqa: F811
    fault_profile: SetProfile,
) -> None:
    image = "golden-imagefail"
    targets = load_inventory(TEST_INVENTORY).enabled_targets
    # The first seed that fails some images and not all (the choice is per image).
    profile = next(
        candidate
        for seed in range(1000)
        if 0
        < sum(
            (candidate := FaultProfile(image_fail_share=0.4, seed=seed)).image_fails(
                _image_id(t, image)
            )
            for t in targets
        )
        < len(targets)
    )
    failing = {t.key for t in targets if profile.image_fails(_image_id(t, image))}
    fault_profile(profile)

    state = await _release(uploaded_vhd, image)

    assert state.is_failed()
    assert f"{len(failing)} of {len(targets)} targets failed" in (state.message or "")
    for target in targets:
        if target.key in failing:
            label = f"{target.subscription_id}/{target.region}/{target.storage_account}"
            assert label in (state.message or "")
    entities = {e["target_key"]: e for e in ledger_entities(stack, RELEASE, image)}
    for key, entity in entities.items():
        if key in failing:
            assert entity["state"] == "failed"
            assert "InvalidParameter: The VHD could not be read" in entity["error"]
        else:
            assert entity["state"] == "done", entity.get("error")
    rows = await artifact_rows(artifact_key(RELEASE, image, "targets"))
    failed_rows = [r for r in rows if r["state"] == "failed"]
    assert len(failed_rows) == len(failing)
    assert all("InvalidParameter" in r["error"] for r in failed_rows)
    assert faults.read_counters(stack).arm.images_failed == len(failing)


def _path(account: str, container: str, blob: str) -> str:
    return f"{account}/{container}/{blob}"


async def test_a_stalled_copy_is_aborted_and_redone_from_another_source(
    stack: StackConfig,
    uploaded_vhd: str,  # noqa: F811
    fault_profile: SetProfile,
    settings_env: Callable[..., None],
) -> None:
    image = "golden-stalled"
    plan = load_inventory(TEST_INVENTORY)
    tier0 = plan.tier0
    targets = plan.enabled_targets
    tier1 = [
        _path(
            tier0.storage_account, tier0.container, tier1_blob_name(RELEASE, image, i)
        )
        for i in range(tier0.tier1_copies)
    ]
    upload = _path(tier0.storage_account, tier0.container, uploaded_vhd)

    def destination(target: Target) -> str:
        blob = tier2_blob_name(RELEASE, image)
        return _path(target.storage_account, target.container, blob)

    def sources(index: int) -> list[str]:
        start = index % len(tier1)
        return tier1[start:] + tier1[:start]

    def fits(profile: FaultProfile) -> bool:
        seeding = [(upload, tier1[0])] + [(tier1[0], blob) for blob in tier1[1:]]
        if any(profile.copy_stalls(s, d) for s, d in seeding):
            return False
        firsts = [
            profile.copy_stalls(sources(i)[0], destination(t))
            for i, t in enumerate(targets)
        ]
        seconds = [
            profile.copy_stalls(sources(i)[1], destination(t))
            for i, t in enumerate(targets)
        ]
        return any(firsts) and not any(
            a and b for a, b in zip(firsts, seconds, strict=True)
        )

    profile = next(
        p
        for seed in range(5000)
        if fits(
            p := FaultProfile(
                copy_mib_per_s=4 * GOLDEN_MIB, copy_stall_share=0.3, seed=seed
            )
        )
    )
    stalled = {
        t.key
        for i, t in enumerate(targets)
        if profile.copy_stalls(sources(i)[0], destination(t))
    }
    settings_env(copy_timeout_minutes=0.05)
    fault_profile(profile)

    state = await _release(uploaded_vhd, image)

    assert state.is_completed(), state.message
    seen = faults.read_counters(stack)
    assert seen.storage.copies_aborted == len(stalled)
    for index, target in enumerate(targets):
        blob = BlobClient.from_connection_string(
            stack.connection_string(target.storage_account),
            target.container,
            tier2_blob_name(RELEASE, image),
        ).get_blob_properties()
        expected = sources(index)[1 if target.key in stalled else 0]
        assert blob.metadata["imagerelay_source"].endswith(expected.split("/", 2)[2])
        assert blob.copy.status == "success" and blob.size > 0
