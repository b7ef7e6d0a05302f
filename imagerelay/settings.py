"""Runtime settings, read from IMAGERELAY_* environment variables and ./.env."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from dotenv import load_dotenv
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where Azure is and how imagerelay talks to it.

    In Azure only `inventory` usually changes; the local stack writes the rest to .env.
    """

    model_config = SettingsConfigDict(
        env_prefix="IMAGERELAY_", env_file=".env", extra="ignore"
    )

    inventory: Path = Field(
        default=Path("inventory.yaml"), description="Inventory YAML file."
    )
    tier0_block: str = Field(
        default="imagerelay-tier0",
        description="Name of the Tier0Storage block the flows read tier-0 from.",
    )
    tier0_connection_string: SecretStr | None = Field(
        default=None,
        description="Tier-0 connection string for the CLI; unset to use Entra ID.",
    )
    blob_endpoint: str = Field(
        default="https://{account}.blob.core.windows.net",
        description="Blob endpoint of a storage account; {account} is replaced.",
    )
    storage_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Account keys by account name; accounts not listed use Entra ID.",
    )
    arm_endpoint: str = Field(
        default="https://management.azure.com",
        description="Azure Resource Manager endpoint.",
    )
    arm_ca_bundle: Path | None = Field(
        default=None,
        description="CA bundle that signs the ARM endpoint's certificate, if private.",
    )
    arm_polling_interval: float = Field(
        default=15.0,
        gt=0,
        description="Seconds between polls of a long-running ARM operation, unless "
        "Azure sends Retry-After.",
    )
    copy_poll_seconds: float = Field(
        default=10.0, gt=0, description="Seconds between checks of a pending copy."
    )
    storage_retry_backoff_seconds: int = Field(
        default=15,
        ge=0,
        description="First wait before a failed storage request is retried (then "
        "exponential, as the storage SDK does); a Retry-After from Azure wins.",
    )
    copy_timeout_minutes: float = Field(
        default=240.0,
        gt=0,
        description="A copy pending longer than this is aborted and the target fails.",
    )
    limit_copies: int = Field(
        default=150,
        ge=1,
        description="Copies running at once across all storage accounts.",
    )
    limit_copies_per_account: int = Field(
        default=20,
        ge=1,
        description="Copies reading from or writing to one storage account at once.",
    )
    limit_images_per_subscription: int = Field(
        default=20,
        ge=1,
        description="Image creations running at once in one subscription.",
    )
    upload_threads: int = Field(
        default=8, ge=1, le=64, description="Parallel page writes during upload."
    )
    cleanup_tier1: bool = Field(
        default=False,
        description="Cleanup deletes the tier-1 copies of every completed release.",
    )
    cleanup_tier2: bool = Field(
        default=False,
        description="Cleanup deletes the VHDs a completed release copied to the "
        "targets' accounts; managed images do not need them once made.",
    )
    cleanup_keep_images: int | None = Field(
        default=None,
        ge=1,
        description="Cleanup keeps this many newest images per target and image "
        "name and deletes older ones; unset keeps every image.",
    )
    notify_url: SecretStr | None = Field(
        default=None,
        description="Webhook that failed or crashed releases are posted to (JSON with "
        "text, subject, body); setup saves it in the imagerelay-notify block. "
        "Unset: no notifications.",
    )
    ui_url: str | None = Field(
        default=None,
        description="Prefect UI base URL printed with runs; PREFECT_UI_URL if unset.",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for this process; .env is also exported so Azure SDKs see it."""
    load_dotenv(".env", override=False)
    return Settings()
