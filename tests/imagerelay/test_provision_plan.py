"""What setup provisions for an inventory, decided without Azure."""

from __future__ import annotations

from imagerelay.inventory import load_inventory
from imagerelay.provision_plan import account_drift, azure_spec, is_managed
from tests.conftest import PROVISION_INVENTORY, TEST_INVENTORY


def test_demo_spec_puts_accounts_in_their_image_groups() -> None:
    spec = azure_spec(load_inventory(TEST_INVENTORY))

    assert [g.name for g in spec.groups] == ["imagerelay-tier0"]
    assert sorted(g.name for g in spec.image_groups) == [
        "images-sub1",
        "images-sub2",
        "images-sub3",
    ]
    assert len(spec.accounts) == 7
    assert spec.accounts[0].name == "irtier0"
    assert {c.name for c in spec.containers} == {"golden", "vhds"}


def test_storage_groups_take_the_region_of_their_first_account() -> None:
    spec = azure_spec(load_inventory(PROVISION_INVENTORY))

    groups = {g.name: g.location for g in spec.groups}
    assert groups == {
        "provision-tier0": "westeurope",
        "provision-kept": "northeurope",
        "provision-storage5": "westeurope",
    }
    assert {g.name for g in spec.image_groups} == {
        "provision-images4",
        "provision-images5",
    }
    disabled = next(a for a in spec.accounts if a.name == "irprov5weu")
    assert disabled.resource_group == "provision-storage5"


def test_a_right_account_needs_no_change() -> None:
    assert account_drift("StorageV2", "Standard_LRS", True, False, "TLS1_2") == (
        [],
        None,
    )


def test_drifted_settings_are_listed_as_changes() -> None:
    changes, refusal = account_drift("Storage", "Standard_GRS", False, True, "TLS1_0")

    assert refusal is None
    assert changes == [
        "kind Storage -> StorageV2",
        "sku Standard_GRS -> Standard_LRS",
        "https only False -> True",
        "public blob access True -> False",
        "minimum TLS TLS1_0 -> TLS1_2",
    ]


def test_kinds_and_skus_azure_cannot_change_are_refused() -> None:
    _, kind = account_drift("BlockBlobStorage", "Premium_LRS", True, False, "TLS1_2")
    _, sku = account_drift("StorageV2", "Premium_LRS", True, False, "TLS1_2")

    assert kind is not None and "cannot change" in kind and "BlockBlobStorage" in kind
    assert sku is not None and "Premium_LRS" in sku


def test_only_tagged_resources_are_managed() -> None:
    assert is_managed({"imagerelay-managed": "true"})
    assert not is_managed({"imagerelay-managed": "false"})
    assert not is_managed(None)
