"""`imagerelay inventory generate`: names, merging, and refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from imagerelay.cli import app
from imagerelay.inventory import InventoryError, load_inventory
from imagerelay.inventory_generate import (
    account_name,
    check_prefix,
    read_regions,
    read_subscriptions,
    unique_account_name,
)

SUB1 = "11111111-1111-4111-8111-111111111111"
SUB2 = "22222222-2222-4222-8222-222222222222"
runner = CliRunner()


def generate(path: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["inventory", "generate", "--output", str(path), *args])
    return result.exit_code, result.output


def test_account_names_are_valid_stable_and_distinct() -> None:
    names = {
        account_name("imgrelay", sub, region)
        for sub in (SUB1, SUB2)
        for region in ("westeurope", "northeurope", "eastus")
    }

    assert len(names) == 6
    assert all(3 <= len(n) <= 24 and n.isalnum() and n.islower() for n in names)
    assert account_name("imgrelay", SUB1, "eastus") == account_name(
        "imgrelay", SUB1.upper(), "eastus"
    )
    assert account_name("a", SUB1, "eastus") != account_name("b", SUB1, "eastus")


def test_a_taken_name_moves_to_the_next_deterministic_one() -> None:
    first = account_name("ir", SUB1, "eastus")

    chosen = unique_account_name("ir", SUB1, "eastus", {first})

    assert chosen != first
    assert chosen == account_name("ir", SUB1, "eastus", attempt=1)


@pytest.mark.parametrize("prefix", ["", "Ir", "ir-x", "1ir", "a" * 15])
def test_bad_prefixes_are_refused_with_the_rule(prefix: str) -> None:
    with pytest.raises(InventoryError, match="1-14 lowercase letters and digits"):
        check_prefix(prefix)


def test_subscriptions_from_ids_text_file_and_az_json(tmp_path: Path) -> None:
    text = tmp_path / "subs.txt"
    text.write_text(f"# platform subscriptions\n{SUB1}\n\n{SUB2.upper()}  # sandbox\n")
    az = tmp_path / "subs.json"
    az.write_text(json.dumps([{"id": SUB2, "name": "two"}]))

    assert read_subscriptions([str(text)]) == [SUB1, SUB2]
    assert read_subscriptions([f"{SUB2},{SUB1}", str(az)]) == [SUB2, SUB1]
    with pytest.raises(InventoryError, match="neither a subscription id"):
        read_subscriptions(["not-a-guid"])
    assert read_regions(["westeurope,North Europe", "westeurope"]) == [
        "westeurope",
        "northeurope",
    ]


def test_generate_writes_every_pair_and_a_rerun_keeps_entries(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"

    code, output = generate(
        path, "--subscriptions", f"{SUB1},{SUB2}", "--regions", "westeurope",
        "--regions", "northeurope", "--prefix", "ir",
    )  # fmt: skip
    assert code == 0, output
    first = load_inventory(path)
    assert {(t.subscription_id, t.region) for t in first.targets} == {
        (s, r) for s in (SUB1, SUB2) for r in ("westeurope", "northeurope")
    }
    assert first.tier0.subscription_id == SUB1
    assert "4 targets added, 0 kept" in output

    document = yaml.safe_load(path.read_text())
    document["targets"][0]["enabled"] = False
    document["targets"][1]["storage_account"] = "handpicked1"
    path.write_text(yaml.safe_dump(document))

    code, output = generate(
        path, "--subscriptions", f"{SUB1},{SUB2}", "--regions",
        "westeurope,northeurope,eastus", "--prefix", "other",
    )  # fmt: skip
    assert code == 0, output
    second = load_inventory(path)
    assert second.targets[:4] == [
        t.model_copy(update={"enabled": i != 0})
        if i != 1
        else t.model_copy(update={"storage_account": "handpicked1"})
        for i, t in enumerate(first.targets)
    ]
    assert [t.region for t in second.targets[4:]] == ["eastus", "eastus"]
    assert all(t.storage_account.startswith("other") for t in second.targets[4:])
    assert second.tier0 == first.tier0
    assert "2 targets added, 4 kept" in output


def test_generate_refuses_bad_input_and_leaves_the_file(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    assert generate(path, "--subscriptions", SUB1, "--regions", "eastus",
                    "--prefix", "ir")[0] == 0  # fmt: skip
    before = path.read_text()

    code, output = generate(
        path, "--subscriptions", SUB2, "--regions", "eastus", "--prefix", "IR!"
    )
    assert code == 2
    assert "prefix 'IR!' is invalid" in output

    code, output = generate(
        path, "--subscriptions", "missing.txt", "--regions", "eastus", "--prefix", "ir"
    )
    assert code == 2
    assert "neither a subscription id" in output
    assert path.read_text() == before
    assert list(tmp_path.iterdir()) == [path]


def test_a_rerun_keeps_the_files_text_and_mode_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    assert generate(path, "--subscriptions", SUB1, "--regions", "eastus",
                    "--prefix", "ir")[0] == 0  # fmt: skip
    text = path.read_text().replace(
        "targets:\n", "# owned by the platform team\ntargets:\n"
    )
    text = text.replace(SUB1, SUB1.upper(), 1).replace(
        "    region: eastus\n",
        "    region: eastus  # first region\n    enabled: true\n",
    )
    path.write_text(text)
    path.chmod(0o640)

    code, output = generate(
        path, "--subscriptions", SUB1, "--regions", "eastus,westus", "--prefix", "ir"
    )

    assert code == 0, output
    assert path.read_text().startswith(text), "the operator's text is kept as is"
    assert "westus" in path.read_text()[len(text) :]
    assert path.stat().st_mode & 0o777 == 0o640
    assert [t.region for t in load_inventory(path).targets] == ["eastus", "westus"]


def test_subscriptions_from_arm_json_and_bad_files_are_named(tmp_path: Path) -> None:
    arm = tmp_path / "arm.json"
    arm.write_text(json.dumps({"value": [{"id": f"/subscriptions/{SUB1}",
                                          "subscriptionId": SUB1}]}))  # fmt: skip
    no_id = tmp_path / "no-id.json"
    no_id.write_text(json.dumps([{"name": "one"}]))
    latin = tmp_path / "subs.txt"
    latin.write_bytes(f"{SUB1}  # café\n".encode("latin-1"))

    assert read_subscriptions([str(arm)]) == [SUB1]
    with pytest.raises(InventoryError, match="entry 1 has no subscription id"):
        read_subscriptions([str(no_id)])
    with pytest.raises(InventoryError, match=f"{latin} is not UTF-8"):
        read_subscriptions([str(latin)])


def test_a_directory_or_unwritable_output_is_named(tmp_path: Path) -> None:
    code, output = generate(
        tmp_path, "--subscriptions", SUB1, "--regions", "eastus", "--prefix", "ir"
    )
    assert code == 2
    assert "is a directory; pass --output a file" in output

    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    code, output = generate(a_file / "inventory.yaml", "--subscriptions", SUB1,
                            "--regions", "eastus", "--prefix", "ir")  # fmt: skip
    assert code == 2
    assert f"{a_file} is not a directory; create it or pass another --output" in (
        output
    )
    assert sorted(tmp_path.iterdir()) == [a_file]

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    code, output = generate(fifo, "--subscriptions", SUB1, "--regions", "eastus",
                            "--prefix", "ir")  # fmt: skip
    assert code == 2
    assert f"{fifo} is not a regular file" in output


def test_a_bad_resource_group_option_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    for option in ("--image-resource-group", "--tier0-resource-group"):
        args = ["--subscriptions", SUB1, "--regions", "eastus", "--prefix", "ir"]
        code, output = generate(path, *args, option, "bad name!")

        assert code == 2
        assert "resource_group: String should match pattern" in output
        assert "pydantic" not in output
        assert not path.exists()


def test_regions_separated_by_a_space_are_refused_and_unknown_ones_warned(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inventory.yaml"
    assert read_regions(["North Europe", "West US 2"]) == ["northeurope", "westus2"]

    code, output = generate(path, "--subscriptions", SUB1, "--regions",
                            "westeurope northeurope", "--prefix", "ir")  # fmt: skip
    assert code == 2
    assert "separate them with commas (westeurope,northeurope)" in output
    assert not path.exists()

    code, output = generate(path, "--subscriptions", SUB1, "--regions",
                            "westeurope,westeuorpe", "--prefix", "ir")  # fmt: skip
    assert code == 0, output
    assert "warning: westeuorpe is not a region imagerelay knows" in output
    assert "westeurope is not" not in output


def test_a_symlink_skeleton_bom_and_crlf_file_are_extended_in_place(
    tmp_path: Path,
) -> None:
    real = tmp_path / "real.yaml"
    skeleton = (
        "# tier-0 only, targets to come\r\ntier0:\r\n  subscription_id: "
        f"{SUB1}\r\n  region: eastus\r\n  resource_group: rg0\r\n"
        "  storage_account: irzero\r\ntargets: []\r\n"
    )
    real.write_bytes(skeleton.encode("utf-8-sig"))
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    subs = tmp_path / "subs.json"
    subs.write_bytes(json.dumps([{"id": SUB2}]).encode("utf-8-sig"))

    args = ["--subscriptions", str(subs), "--regions", "eastus", "--prefix", "ir"]
    code, output = generate(link, *args, "--tier0-region", "westus")

    assert code == 0, output
    assert link.is_symlink()
    assert "the --tier0-* options are ignored" in output
    written = real.read_bytes()
    assert written.startswith(b"# tier-0 only, targets to come\r\ntier0:\r\n")
    assert b"\n" not in written.replace(b"\r\n", b"")
    plan = load_inventory(real)
    assert plan.tier0.storage_account == "irzero"
    assert [(t.subscription_id, t.region) for t in plan.targets] == [(SUB2, "eastus")]


def test_an_empty_file_is_new_and_a_tier0_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("")

    code, output = generate(path, "--subscriptions", SUB1, "--regions", "eastus",
                            "--prefix", "ir", "--tier0-subscription",
                            f"{SUB1},{SUB2}")  # fmt: skip
    assert code == 2
    assert "--tier0-subscription takes one value, not 2" in output

    code, output = generate(path, "--subscriptions", SUB1, "--regions", "eastus",
                            "--prefix", "ir")  # fmt: skip
    assert code == 0, output
    assert load_inventory(path).targets[0].region == "eastus"


def test_broken_yaml_is_one_line_with_the_place(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("tier0:\n  region: eastus\n  region: westus\ntargets: []\n")

    code, output = generate(path, "--subscriptions", SUB1, "--regions", "eastus",
                            "--prefix", "ir")  # fmt: skip

    assert code == 2
    assert output.strip() == (
        f"error: {path} is not valid YAML: line 3, column 3: key 'region' is "
        "repeated; keep one"
    )
