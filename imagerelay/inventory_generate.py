"""Build an inventory from subscriptions x regions, keeping what a file already has."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from ruamel.yaml import YAML

from imagerelay.inventory import (
    Inventory,
    InventoryError,
    Target,
    Tier0,
    decode_inventory,
    describe_errors,
    load_yaml,
    parse_inventory,
)
from imagerelay.regions import is_known

ACCOUNT_NAME_LENGTH = 24
HASH_LENGTH = 10
PREFIX_PATTERN = r"^[a-z][a-z0-9]{0,13}$"
GUID_PATTERN = r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$"
REGION_PATTERN = r"^[a-z][a-z0-9]*$"
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
MAX_ATTEMPTS = 100


@dataclass(frozen=True)
class TargetDefaults:
    """What a generated target holds besides its subscription, region and account."""

    image_resource_group: str = "imagerelay-images"
    storage_resource_group: str | None = None
    container: str = "vhds"


def check_prefix(prefix: str) -> str:
    """The prefix of generated account names, refused unless Azure can use it."""
    if not re.match(PREFIX_PATTERN, prefix):
        raise InventoryError(
            f"prefix {prefix!r} is invalid: use 1-14 lowercase letters and digits, "
            f"starting with a letter (a {HASH_LENGTH}-character hash follows it, and "
            f"storage account names hold at most {ACCOUNT_NAME_LENGTH} characters)"
        )
    return prefix


def account_name(
    prefix: str, subscription_id: str, region: str, attempt: int = 0
) -> str:
    """prefix + a base-36 hash of (prefix, subscription, region): stable across runs."""
    seed = f"{prefix}|{subscription_id.lower()}|{region}|{attempt}".encode()
    number = int.from_bytes(hashlib.sha256(seed).digest()[:8], "big")
    digits = []
    for _ in range(HASH_LENGTH):
        number, digit = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return check_prefix(prefix) + "".join(digits)


def unique_account_name(
    prefix: str, subscription_id: str, region: str, taken: set[str]
) -> str:
    """The first name of the (prefix, subscription, region) sequence not yet taken."""
    for attempt in range(MAX_ATTEMPTS):
        name = account_name(prefix, subscription_id, region, attempt)
        if name not in taken:
            return name
    raise InventoryError(  # pragma: no cover - 100 hash collisions in a row
        f"no free storage account name for {subscription_id}/{region}; "
        "choose another prefix"
    )


def read_subscriptions(values: list[str]) -> list[str]:
    """Subscription ids from ids, comma lists, text files or `az account list` JSON."""
    found: list[str] = []
    for value in values:
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            if re.match(GUID_PATTERN, item):
                found.append(item.lower())
            elif Path(item).is_file():
                found += _subscriptions_in_file(Path(item))
            else:
                raise InventoryError(
                    f"{item!r} is neither a subscription id (a GUID) nor a file of "
                    "them; pass ids, or a file with one id per line"
                )
    if not found:
        raise InventoryError("no subscriptions given; pass --subscriptions ID or FILE")
    return list(dict.fromkeys(found))


def _subscriptions_in_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InventoryError(
            f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    if text.lstrip().startswith(("[", "{")):
        items = _subscriptions_in_json(path, text)
    else:
        items = [line.split("#")[0].strip() for line in text.splitlines()]
    ids = []
    for number, item in enumerate(items, start=1):
        if not item:
            continue
        if not re.match(GUID_PATTERN, item):
            raise InventoryError(
                f"{path} entry {number} ({item!r}) is not a subscription id (a GUID)"
            )
        ids.append(item.lower())
    return ids


def _subscriptions_in_json(path: Path, text: str) -> list[str]:
    """Ids from `az account list` (a list) or ARM's {"value": [...]} answer."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InventoryError(f"{path} is not valid JSON: {exc}") from None
    if isinstance(document, dict) and isinstance(document.get("value"), list):
        document = document["value"]
    if not isinstance(document, list):
        raise InventoryError(
            f"{path} holds JSON that is not a list of subscriptions; pass the output "
            "of `az account list`, or a file with one id per line"
        )
    items = []
    for number, entry in enumerate(document, start=1):
        value = entry
        if isinstance(entry, dict):
            value = entry.get("subscriptionId", entry.get("id"))
        if not isinstance(value, str):
            raise InventoryError(
                f"{path} entry {number} has no subscription id: expected a string or "
                "an object with 'id' or 'subscriptionId', as `az account list` prints"
            )
        items.append(value.removeprefix("/subscriptions/"))
    return items


def read_regions(values: list[str]) -> list[str]:
    """Region names as ARM spells them, from repeated or comma-separated values.

    A display name ("North Europe") becomes ARM's name; "westeurope northeurope"
    (two names separated by a space) is refused rather than glued into one.
    """
    regions = []
    for value in values:
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            words = item.lower().split()
            region = "".join(words)
            if len(words) > 1 and not is_known(region) and all(map(is_known, words)):
                raise InventoryError(
                    f"--regions {item!r} holds several regions; separate them with "
                    f"commas ({','.join(words)}) or repeat --regions"
                )
            if not re.match(REGION_PATTERN, region):
                raise InventoryError(
                    f"region {item!r} is invalid: use ARM's name, e.g. westeurope"
                )
            regions.append(region)
    if not regions:
        raise InventoryError("no regions given; pass --regions, e.g. westeurope")
    return list(dict.fromkeys(regions))


def unknown_regions(regions: list[str]) -> list[str]:
    """Regions not in imagerelay's list of Azure regions: likely misspelt."""
    return [region for region in regions if not is_known(region)]


def extend_inventory(
    subscriptions: list[str],
    regions: list[str],
    prefix: str,
    existing: Inventory | None,
    tier0: Tier0 | None = None,
    defaults: TargetDefaults | None = None,
) -> tuple[Inventory, list[Target]]:
    """Every subscription x region as a target; existing ones kept as they are.

    Returns the inventory and the targets that were added.
    """
    check_prefix(prefix)
    defaults = defaults or TargetDefaults()
    kept = list(existing.targets) if existing else []
    tier0 = existing.tier0 if existing else tier0
    if tier0 is None:
        raise InventoryError("a new inventory needs tier-0 settings")
    have = {(t.subscription_id, t.region) for t in kept}
    taken = {t.storage_account for t in kept} | {tier0.storage_account}

    added: list[Target] = []
    try:
        for subscription_id in subscriptions:
            for region in regions:
                if (subscription_id.lower(), region) in have:
                    continue
                name = unique_account_name(prefix, subscription_id, region, taken)
                taken.add(name)
                added.append(
                    Target(
                        subscription_id=subscription_id,
                        region=region,
                        storage_account=name,
                        storage_resource_group=defaults.storage_resource_group,
                        container=defaults.container,
                        image_resource_group=defaults.image_resource_group,
                    )
                )
        inventory = Inventory(tier0=tier0, targets=kept + added)
    except ValidationError as exc:
        raise InventoryError(
            f"the generated inventory is invalid: {describe_errors(exc)}"
        ) from None
    return inventory, added


def new_tier0(
    prefix: str, subscription_id: str, region: str, resource_group: str
) -> Tier0:
    """Tier-0 settings for a new inventory, its account named like the targets'."""
    name = account_name(prefix, subscription_id, f"tier0-{region}")
    try:
        return Tier0(
            subscription_id=subscription_id,
            region=region,
            resource_group=resource_group,
            storage_account=name,
        )
    except ValidationError as exc:
        message = f"tier-0 settings are invalid: {describe_errors(exc)}"
        raise InventoryError(message) from None


@dataclass(frozen=True)
class ExistingFile:
    """What --output already holds: an inventory, or only tier-0 settings."""

    path: Path
    inventory: Inventory | None = None
    tier0: Tier0 | None = None
    text: str | None = None
    crlf: bool = False


def read_existing(path: Path) -> ExistingFile:
    """The file's inventory (a symlink is followed), or nothing when it is new.

    A file with tier-0 settings and no targets yet is a start to extend; an empty
    file counts as new.
    """
    path = path.resolve() if path.is_symlink() else path
    if path.is_dir():
        raise InventoryError(
            f"{path} is a directory; pass --output a file, e.g. {path}/inventory.yaml"
        )
    if not path.parent.is_dir():
        raise InventoryError(
            f"{path.parent} is not a directory; create it or pass another --output"
        )
    if not path.exists():
        return ExistingFile(path)
    if not path.is_file():
        raise InventoryError(f"{path} is not a regular file; pass --output a file")
    raw = path.read_bytes()
    text = decode_inventory(raw, path)
    crlf = b"\r\n" in raw
    if not text.strip():
        return ExistingFile(path)
    document = load_yaml(text, str(path))
    if (
        isinstance(document, dict)
        and "tier0" in document
        and not document.get("targets")
    ):
        try:
            tier0 = Tier0.model_validate(document["tier0"])
        except ValidationError as exc:
            message = f"{path} is invalid: tier0: {describe_errors(exc)}"
            raise InventoryError(message) from None
        return ExistingFile(path, tier0=tier0, text=text, crlf=crlf)
    inventory = parse_inventory(text, source=str(path))
    return ExistingFile(path, inventory, inventory.tier0, text, crlf)


def inventory_yaml(inventory: Inventory, added: list[Target], old: str | None) -> str:
    """The inventory as YAML, fields at their defaults left out.

    With the file's old text, only the added targets are appended to it: its
    comments, order and spelling stay as the operator wrote them.
    """
    round_trip = YAML()
    round_trip.indent(mapping=2, sequence=4, offset=2)
    round_trip.width = 4096
    if old is None:
        document = inventory.model_dump(mode="json", exclude_defaults=True)
    else:
        document = round_trip.load(old)
        if not document.get("targets"):
            document["targets"] = []
        for target in added:
            document["targets"].append(
                target.model_dump(mode="json", exclude_defaults=True)
            )
    stream = io.StringIO()
    round_trip.dump(document, stream)
    return stream.getvalue()


def write_inventory(
    existing: ExistingFile, inventory: Inventory, added: list[Target]
) -> None:
    """Validate the YAML, then replace the file in one rename, keeping its mode.

    An existing file keeps its text (and line endings); only `added` targets are
    appended.
    """
    path = existing.path
    text = inventory_yaml(inventory, added, existing.text)
    if parse_inventory(text, source=str(path)) != inventory:
        raise InventoryError(  # pragma: no cover - a round-trip bug, not input
            f"{path} would not read back as the generated inventory; not written"
        )
    try:
        mode = path.stat().st_mode & 0o7777 if path.exists() else _new_file_mode()
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise InventoryError(f"cannot write {path}: {exc.strerror}") from None
    try:
        newline = "\r\n" if existing.crlf else "\n"
        with os.fdopen(handle, "w", encoding="utf-8", newline=newline) as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise InventoryError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _new_file_mode() -> int:
    """0o666 less the umask, as open() would create the file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
