"""The inventory model: what it accepts and how it names what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from imagerelay.inventory import InventoryError, load_inventory, parse_inventory

DEMO = Path(__file__).resolve().parents[2] / "inventories" / "demo.yaml"


def _demo() -> dict:
    return yaml.safe_load(DEMO.read_text())


def test_demo_inventory_has_six_targets_one_disabled() -> None:
    inventory = load_inventory(DEMO)

    assert len(inventory.targets) == 6
    assert len(inventory.enabled_targets) == 5
    assert len({t.subscription_id for t in inventory.targets}) == 3
    assert len({t.region for t in inventory.targets}) == 2


def test_storage_accounts_lists_tier0_first_without_repeats() -> None:
    inventory = load_inventory(DEMO)

    assert inventory.storage_accounts[0] == inventory.tier0.storage_account
    assert len(inventory.storage_accounts) == len(set(inventory.storage_accounts))


def test_storage_resource_group_defaults_to_image_group() -> None:
    target = load_inventory(DEMO).targets[0]

    assert target.account_resource_group == target.image_resource_group


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["targets"][0].update(subscription_id="nope"),
            "targets.0.subscription_id",
        ),
        (
            lambda d: d["targets"][1].update(storage_account="Bad_Name"),
            "targets.1.storage_account",
        ),
        (lambda d: d["tier0"].update(tier1_copies=0), "tier0.tier1_copies"),
        (lambda d: d["targets"][0].update(colour="blue"), "targets.0.colour"),
        (lambda d: d["targets"].append(dict(d["targets"][0])), "repeats subscription"),
        (lambda d: d.pop("tier0"), "tier0: Field required"),
        (lambda d: d.update(targets=[]), "targets"),
    ],
)
def test_bad_fields_are_named(change, expected: str) -> None:
    document = _demo()
    change(document)

    with pytest.raises(InventoryError, match=expected.replace(".", r"\.")):
        parse_inventory(yaml.safe_dump(document), source="inv.yaml")


def test_malformed_yaml_is_refused() -> None:
    with pytest.raises(InventoryError, match="not valid YAML"):
        parse_inventory("tier0: [unclosed", source="inv.yaml")


def test_a_list_is_not_an_inventory() -> None:
    with pytest.raises(InventoryError, match="must be a mapping"):
        parse_inventory("- a\n- b\n")


def test_missing_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="IMAGERELAY_INVENTORY"):
        load_inventory(tmp_path / "missing.yaml")


def test_subscription_ids_compare_without_case() -> None:
    document = _demo()
    twin = dict(document["targets"][0])
    twin["subscription_id"] = twin["subscription_id"].upper()
    document["targets"].append(twin)

    with pytest.raises(InventoryError, match="repeats subscription"):
        parse_inventory(yaml.safe_dump(document))


def test_an_account_lives_in_one_subscription_and_region() -> None:
    document = _demo()
    document["targets"][1]["storage_account"] = document["targets"][0][
        "storage_account"
    ]

    with pytest.raises(InventoryError, match="account names are unique across Azure"):
        parse_inventory(yaml.safe_dump(document))


def test_two_targets_may_not_create_images_of_the_same_name() -> None:
    document = _demo()
    twin = dict(document["targets"][0])
    twin["storage_account"] = "othername01"
    twin["image_resource_group"] = twin["image_resource_group"].upper()
    document["targets"].append(twin)

    with pytest.raises(InventoryError, match="images would have the same names"):
        parse_inventory(yaml.safe_dump(document))


def test_a_repeated_key_is_refused_not_read_as_the_last() -> None:
    text = DEMO.read_text().replace(
        "    enabled: false\n", "    enabled: false\n    enabled: true\n", 1
    )
    assert text != DEMO.read_text()

    with pytest.raises(InventoryError, match="key 'enabled' is repeated"):
        parse_inventory(text)


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(DEMO.read_bytes() + "# café\n".encode("latin-1"))

    with pytest.raises(InventoryError, match=f"inventory {path} is not UTF-8"):
        load_inventory(path)
