"""Which concurrency limits an inventory needs, and how big."""

from __future__ import annotations

from imagerelay.inventory import load_inventory
from imagerelay.limits import (
    ALL_COPIES,
    account_copies,
    copy_limits,
    image_limits,
    planned_limits,
    subscription_images,
)
from imagerelay.settings import Settings
from tests.conftest import TEST_INVENTORY


def test_every_account_and_subscription_gets_a_limit() -> None:
    plan = load_inventory(TEST_INVENTORY)
    settings = Settings(
        limit_copies=7, limit_copies_per_account=3, limit_images_per_subscription=2
    )

    limits = planned_limits(plan, settings)

    assert limits[ALL_COPIES] == 7
    for account in plan.storage_accounts:
        assert limits[account_copies(account)] == 3
    subscriptions = {t.subscription_id for t in plan.targets}
    for subscription in subscriptions:
        assert limits[subscription_images(subscription)] == 2
    assert len(limits) == 1 + len(plan.storage_accounts) + len(subscriptions)


def test_a_copy_holds_the_total_and_both_accounts() -> None:
    assert copy_limits("src", "dst") == [
        ALL_COPIES,
        account_copies("src"),
        account_copies("dst"),
    ]
    assert copy_limits("src", "src") == [ALL_COPIES, account_copies("src")]
    assert image_limits("sub") == [subscription_images("sub")]
