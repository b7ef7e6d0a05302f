"""The checks Azure makes on the source blob of an image, run against Azurite."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobClient

from devstack.compute.errors import ArmError
from devstack.compute.vhd_check import FOOTER_SIZE, VhdRejected, check_fixed_vhd
from devstack.config import StackAccount, StackConfig

logger = logging.getLogger(__name__)

PUBLIC_BLOB_SUFFIX = ".blob.core.windows.net"


@dataclass(frozen=True)
class BlobAddress:
    """Account, container and blob named by a blob URI."""

    account: str
    container: str
    blob: str


def parse_blob_uri(blob_uri: str) -> BlobAddress:
    """Read the account from a path-style (Azurite) or a public Azure blob URL."""
    url = urlsplit(blob_uri)
    if url.query:
        # Never store or log a SAS: the image reads the blob with its own access.
        raise ArmError(
            400,
            "InvalidParameter",
            "The blob URI carries a query string; pass the plain blob URL "
            "without a SAS token.",
            target="blobUri",
        )
    host = (url.hostname or "").lower()
    segments = [unquote(part) for part in url.path.split("/") if part]

    if host.endswith(PUBLIC_BLOB_SUFFIX):
        account = host.removesuffix(PUBLIC_BLOB_SUFFIX)
    elif segments:
        account, segments = segments[0], segments[1:]
    else:
        account = ""

    if url.scheme not in ("http", "https") or not account or len(segments) < 2:
        raise ArmError(
            400,
            "InvalidParameter",
            f"The blob URI {blob_uri} is not a valid blob URL; expected "
            "https://<account>.blob.core.windows.net/<container>/<blob>.vhd.",
            target="blobUri",
        )
    blob = "/".join(segments[1:])
    if not blob.lower().endswith(".vhd"):
        raise ArmError(
            400,
            "InvalidParameter",
            f"Blob name in URL {blob_uri} must end with '.vhd' extension.",
            target="blobUri",
        )
    return BlobAddress(account=account, container=segments[0], blob=blob)


def source_account(
    config: StackConfig, blob_uri: str, subscription_id: str, location: str
) -> tuple[StackAccount, BlobAddress]:
    """The blob's storage account, refused unless in the image's sub and region."""
    address = parse_blob_uri(blob_uri)
    account = config.account(address.account)
    if account is None:
        raise ArmError(
            400,
            "InvalidParameter",
            f"The source blob {blob_uri} is not accessible: storage account "
            f"'{address.account}' does not exist.",
            target="blobUri",
        )
    if account.subscription_id.lower() != subscription_id.lower():
        raise ArmError(
            400,
            "InvalidParameter",
            f"The storage account '{account.name}' of source blob {blob_uri} is in "
            f"subscription '{account.subscription_id}', not in the image's "
            f"subscription '{subscription_id}'. Copy the VHD to an account in that "
            "subscription first.",
            target="blobUri",
        )
    if normalize_location(account.region) != location:
        raise ArmError(
            400,
            "BadRequest",
            f"The source blob {blob_uri} does not belong to the same region as the "
            f"image: storage account '{account.name}' is in '{account.region}', the "
            f"image in '{location}'. Copy the VHD to an account in '{location}' first.",
            target="blobUri",
        )
    return account, address


def normalize_location(location: str) -> str:
    """Azure's canonical region name: 'West Europe' becomes 'westeurope'."""
    return location.replace(" ", "").lower()


def check_source_blob(
    config: StackConfig, account: StackAccount, address: BlobAddress, blob_uri: str
) -> int:
    """Virtual size of the blob's fixed VHD, or the ArmError Azure would answer."""
    # Azure reads the blob from inside, past the fault proxy's throttling.
    # Limitation: so a blob whose copy the proxy still shows pending reads as
    # complete here, where Azure would refuse the image.
    client = BlobClient(
        account_url=f"http://{config.host}:{config.azurite_blob_port}/{account.name}",
        container_name=address.container,
        blob_name=address.blob,
        credential={"account_name": account.name, "account_key": account.key},
        connection_timeout=10,
        read_timeout=30,
    )
    try:
        with client:
            properties = client.get_blob_properties()
            blob_type = str(
                getattr(properties.blob_type, "value", properties.blob_type)
            )
            size = int(properties.size)
            copy_status = properties.copy.status if properties.copy else None
            footer = b""
            if blob_type.lower() == "pageblob" and size >= FOOTER_SIZE:
                footer = client.download_blob(
                    offset=size - FOOTER_SIZE, length=FOOTER_SIZE
                ).readall()
    except ResourceNotFoundError as exc:
        raise ArmError(
            400,
            "InvalidParameter",
            f"The source blob {blob_uri} is not accessible: it does not exist.",
            target="disks",
        ) from exc
    except AzureError as exc:
        logger.warning("Reading source blob %s failed: %s", blob_uri, exc)
        raise ArmError(
            400,
            "InvalidParameter",
            f"The source blob {blob_uri} is not accessible.",
            target="disks",
        ) from exc

    if copy_status is not None and str(copy_status) != "success":
        raise ArmError(
            400,
            "InvalidParameter",
            f"The source blob {blob_uri} is not accessible: a copy into it is "
            f"'{copy_status}'. Wait for the copy to succeed.",
            target="disks",
        )
    if blob_type.lower() != "pageblob":
        raise ArmError(
            400,
            "InvalidParameter",
            f"The source blob {blob_uri} is a {blob_type}; only page "
            "blobs can be used as a VHD. Upload it as a page blob.",
            target="disks",
        )
    try:
        return check_fixed_vhd(footer, size, blob_uri).virtual_size
    except VhdRejected as exc:
        raise ArmError(400, "InvalidVhd", str(exc)) from exc
