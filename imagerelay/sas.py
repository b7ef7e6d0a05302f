"""Read-only, one-blob, short-lived SAS URLs for copy sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from azure.storage.blob import BlobSasPermissions, generate_blob_sas
from azure.storage.blob.aio import BlobClient, BlobServiceClient

CLOCK_SKEW = timedelta(minutes=5)


async def read_sas_url(blob: BlobClient, lifetime: timedelta) -> str:
    """The blob's URL with a SAS that can only read this blob, for `lifetime`.

    With an account key the SAS is signed by the key; with Entra ID it is signed by a
    user delegation key, so no account key is needed in Azure.
    """
    now = datetime.now(UTC)
    start, expiry = now - CLOCK_SKEW, now + lifetime
    account_key = getattr(blob.credential, "account_key", None)
    signer: dict[str, Any] = {"account_key": account_key}
    if not account_key:
        account_url = blob.url[: blob.url.index(f"/{blob.container_name}/")]
        async with BlobServiceClient(account_url, credential=blob.credential) as svc:
            signer = {
                "user_delegation_key": await svc.get_user_delegation_key(start, expiry)
            }
    token = generate_blob_sas(
        blob.account_name or "",
        blob.container_name,
        blob.blob_name,
        permission=BlobSasPermissions(read=True),
        start=start,
        expiry=expiry,
        **signer,
    )
    return f"{blob.url}?{token}"
