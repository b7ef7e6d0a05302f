"""Read-only, one-blob, short-lived SAS URLs for copy sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
    permission = BlobSasPermissions(read=True)
    account_key = getattr(blob.credential, "account_key", None)
    if account_key:
        token = generate_blob_sas(
            blob.account_name or "",
            blob.container_name,
            blob.blob_name,
            account_key=account_key,
            permission=permission,
            start=start,
            expiry=expiry,
        )
    else:
        account_url = blob.url[: blob.url.index(f"/{blob.container_name}/")]
        async with BlobServiceClient(account_url, credential=blob.credential) as svc:
            delegation_key = await svc.get_user_delegation_key(start, expiry)
        token = generate_blob_sas(
            blob.account_name or "",
            blob.container_name,
            blob.blob_name,
            user_delegation_key=delegation_key,
            permission=permission,
            start=start,
            expiry=expiry,
        )
    return f"{blob.url}?{token}"
