"""The inventory: tier-0 settings plus every target a release distributes to."""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

StorageAccountName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]{3,24}$",
        description="Storage account name: 3-24 lowercase letters and digits.",
    ),
]
ContainerName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9](-?[a-z0-9])+$",
        min_length=3,
        max_length=63,
        description="Blob container name: 3-63 lowercase letters, digits and dashes.",
    ),
]
SubscriptionId = Annotated[
    str,
    AfterValidator(str.lower),
    Field(
        pattern=r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$",
        description="Azure subscription id (a GUID).",
    ),
]
Region = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]+$",
        description="Azure region name as ARM spells it, e.g. westeurope.",
    ),
]
ResourceGroupName = Annotated[
    str,
    Field(
        pattern=r"^[-\w._()]{0,89}[-\w_()]$",
        description="Resource group name: up to 90 letters, digits, . _ - ( ).",
    ),
]


class InventoryError(ValueError):
    """The inventory file cannot be used; the message names the field and the fix."""


class Tier0(BaseModel):
    """Where the golden VHD is uploaded and where tier-1 copies are made."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subscription_id: SubscriptionId = Field(
        description="Subscription of the tier-0 storage account."
    )
    region: Region = Field(description="Region of the tier-0 storage account.")
    resource_group: ResourceGroupName = Field(
        description="Resource group of the tier-0 storage account."
    )
    storage_account: StorageAccountName = Field(
        description="Tier-0 storage account: uploads, tier-1 copies, the ledger."
    )
    container: ContainerName = Field(
        default="golden",
        description="Container for uploads (uploads/) and tier-1 copies (tier1/).",
    )
    tier1_copies: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Copies of the VHD inside tier-0 that tier-2 copies read from.",
    )


class Target(BaseModel):
    """One place a release delivers a managed image to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subscription_id: SubscriptionId = Field(
        description="Subscription the images are delivered to."
    )
    region: Region = Field(
        description="Region of the images; the storage account must be in it."
    )
    storage_account: StorageAccountName = Field(
        description="Tier-2 account in that subscription and region that receives "
        "the VHD; unique per target."
    )
    storage_resource_group: ResourceGroupName | None = Field(
        default=None,
        description="Resource group of the storage account; the image group if unset.",
    )
    container: ContainerName = Field(
        default="vhds", description="Container the VHD is copied into."
    )
    image_resource_group: ResourceGroupName = Field(
        description="Resource group the managed images are created in."
    )
    enabled: bool = Field(
        default=True,
        description="false skips the target from the next release on; its images stay.",
    )

    @property
    def account_resource_group(self) -> str:
        return self.storage_resource_group or self.image_resource_group

    @property
    def key(self) -> str:
        """A stable id for this target, safe as an Azure Table row key."""
        return f"{self.subscription_id}_{self.region}_{self.storage_account}"

    @property
    def label(self) -> str:
        return f"{self.subscription_id[:8]}/{self.region}/{self.storage_account}"


class Inventory(BaseModel):
    """Tier-0 settings and the targets of every release."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tier0: Tier0 = Field(description="Where golden VHDs are uploaded.")
    targets: list[Target] = Field(
        min_length=1, description="Every place a release delivers images to."
    )

    @model_validator(mode="after")
    def _targets_are_unique(self) -> Inventory:
        seen: set[str] = set()
        for index, target in enumerate(self.targets):
            if target.key in seen:
                raise ValueError(
                    f"targets[{index}] repeats subscription {target.subscription_id}, "
                    f"region {target.region} and account {target.storage_account}; "
                    "remove the duplicate"
                )
            seen.add(target.key)
        return self

    @model_validator(mode="after")
    def _images_have_one_target(self) -> Inventory:
        """Image names carry release and region only, so two targets would clash."""
        seen: dict[tuple[str, str, str], int] = {}
        for index, target in enumerate(self.targets):
            where = (
                target.subscription_id.lower(),
                target.region,
                target.image_resource_group.lower(),
            )
            first = seen.setdefault(where, index)
            if first != index:
                raise ValueError(
                    f"targets[{index}] and targets[{first}] both create images in "
                    f"subscription {target.subscription_id}, region {target.region} "
                    f"and resource group {target.image_resource_group}, so their "
                    "images would have the same names; keep one of them or give one "
                    "its own image_resource_group"
                )
        return self

    @model_validator(mode="after")
    def _accounts_have_one_home(self) -> Inventory:
        homes: dict[str, tuple[str, str]] = {
            self.tier0.storage_account: (self.tier0.subscription_id, self.tier0.region)
        }
        for index, target in enumerate(self.targets):
            home = (target.subscription_id, target.region)
            known = homes.setdefault(target.storage_account, home)
            if known != home:
                raise ValueError(
                    f"targets[{index}] puts storage account {target.storage_account} "
                    f"in {home[0]}/{home[1]}, but it is also listed in "
                    f"{known[0]}/{known[1]}; account names are unique across Azure, "
                    "give each subscription and region its own account"
                )
        return self

    @property
    def enabled_targets(self) -> list[Target]:
        return [target for target in self.targets if target.enabled]

    @property
    def storage_accounts(self) -> list[str]:
        names = [self.tier0.storage_account]
        names += [t.storage_account for t in self.targets]
        return list(dict.fromkeys(names))


def describe_errors(error: ValidationError) -> str:
    """One 'field: problem' clause per validation error."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = re.sub(r"^Value error, ", "", item["msg"])
        lines.append(f"{where}: {message}")
    return "; ".join(lines)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key repeated in one mapping.

    A repeated key (two `enabled:` lines in a target) would silently keep the last.
    """

    def construct_mapping(
        self, node: yaml.MappingNode, deep: bool = False
    ) -> dict[Hashable, Any]:
        keys: set[Hashable] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in keys:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} is repeated; keep one",
                    key_node.start_mark,
                )
            keys.add(key)
        return super().construct_mapping(node, deep)


def load_yaml(text: str, source: str = "inventory") -> object:
    """The YAML document in `text`, or one InventoryError line naming where not."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise InventoryError(f"{source} is not valid YAML:{where} {problem}") from None
    except yaml.YAMLError as exc:
        message = " ".join(str(exc).split())
        raise InventoryError(f"{source} is not valid YAML: {message}") from None


def parse_inventory(text: str, source: str = "inventory") -> Inventory:
    """Validate inventory YAML text, raising InventoryError naming each bad field."""
    document = load_yaml(text, source)
    if not isinstance(document, dict):
        raise InventoryError(
            f"{source} must be a mapping with 'tier0' and 'targets' keys"
        )
    try:
        return Inventory.model_validate(document)
    except ValidationError as exc:
        raise InventoryError(f"{source} is invalid: {describe_errors(exc)}") from None


def load_inventory(path: Path | str) -> Inventory:
    """Read and validate an inventory file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InventoryError(
            f"cannot read inventory {path}: {exc.strerror}; "
            "pass --inventory or set IMAGERELAY_INVENTORY"
        ) from None
    return parse_inventory(decode_inventory(raw, path), source=str(path))


def decode_inventory(raw: bytes, path: Path) -> str:
    """An inventory file's text: UTF-8, a byte-order mark dropped, LF line ends."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InventoryError(
            f"inventory {path} is not UTF-8 text (byte {exc.start}); save it as "
            "UTF-8 YAML"
        ) from None
    return text.replace("\r\n", "\n")
