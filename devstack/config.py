"""The local stack's configuration, written to <state>/stack.json by `stack up`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from imagerelay.inventory import Inventory

STACK_FILE = "stack.json"


class StackAccount(BaseModel):
    """A storage account Azurite serves, with the ARM facts Azure would hold."""

    name: str
    key: str
    subscription_id: str
    region: str
    resource_group: str


class ResourceGroup(BaseModel):
    subscription_id: str
    name: str
    region: str


class StackConfig(BaseModel):
    """Ports, keys and the ARM view of the accounts for one running stack."""

    state_dir: Path
    host: str = "127.0.0.1"
    blob_port: int
    azurite_port: int | None = None
    queue_port: int
    table_port: int
    arm_port: int
    identity_port: int
    identity_header: str
    prefect_port: int
    accounts: list[StackAccount]
    resource_groups: list[ResourceGroup]
    extra_accounts: list[StackAccount] = []
    image_seconds: float = 1.0

    @property
    def azurite_blob_port(self) -> int:
        """Azurite's own blob port; blob_port is the fault proxy's when there is one."""
        return self.azurite_port or self.blob_port

    @property
    def storage_proxy(self) -> bool:
        """Whether the fault proxy stands in front of Azurite's blob service."""
        return self.azurite_port is not None

    @property
    def cert_path(self) -> Path:
        return self.state_dir / "arm" / "cert.pem"

    @property
    def key_path(self) -> Path:
        return self.state_dir / "arm" / "key.pem"

    @property
    def blob_endpoint(self) -> str:
        return f"http://{self.host}:{self.blob_port}/{{account}}"

    @property
    def arm_endpoint(self) -> str:
        return f"https://{self.host}:{self.arm_port}"

    @property
    def identity_endpoint(self) -> str:
        return f"http://{self.host}:{self.identity_port}/msi/token"

    @property
    def prefect_api_url(self) -> str:
        return f"http://{self.host}:{self.prefect_port}/api"

    @property
    def served_accounts(self) -> list[StackAccount]:
        """Every account Azurite serves: the inventory's, then the extra ones."""
        return self.accounts + self.extra_accounts

    def account(self, name: str) -> StackAccount | None:
        return next((a for a in self.served_accounts if a.name == name), None)

    def connection_string(self, name: str) -> str:
        account = self.account(name)
        if account is None:
            raise KeyError(name)
        base = f"http://{self.host}"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={name};AccountKey={account.key};"
            f"BlobEndpoint={base}:{self.blob_port}/{name};"
            f"QueueEndpoint={base}:{self.queue_port}/{name};"
            f"TableEndpoint={base}:{self.table_port}/{name};"
        )

    def save(self) -> Path:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / STACK_FILE
        path.write_text(self.model_dump_json(indent=2))
        path.chmod(0o600)
        return path

    @classmethod
    def load(cls, state_dir: Path) -> StackConfig:
        return cls.model_validate_json((state_dir / STACK_FILE).read_text())


def accounts_from_inventory(
    inventory: Inventory, keys: dict[str, str]
) -> tuple[list[StackAccount], list[ResourceGroup]]:
    """The accounts and resource groups an inventory expects to exist in Azure."""
    tier0 = inventory.tier0
    accounts = {
        tier0.storage_account: StackAccount(
            name=tier0.storage_account,
            key=keys[tier0.storage_account],
            subscription_id=tier0.subscription_id,
            region=tier0.region,
            resource_group=tier0.resource_group,
        )
    }
    groups = {
        (tier0.subscription_id, tier0.resource_group): ResourceGroup(
            subscription_id=tier0.subscription_id,
            name=tier0.resource_group,
            region=tier0.region,
        )
    }
    for target in inventory.targets:
        accounts.setdefault(
            target.storage_account,
            StackAccount(
                name=target.storage_account,
                key=keys[target.storage_account],
                subscription_id=target.subscription_id,
                region=target.region,
                resource_group=target.account_resource_group,
            ),
        )
        for name in {target.image_resource_group, target.account_resource_group}:
            groups.setdefault(
                (target.subscription_id, name),
                ResourceGroup(
                    subscription_id=target.subscription_id,
                    name=name,
                    region=target.region,
                ),
            )
    return list(accounts.values()), list(groups.values())
