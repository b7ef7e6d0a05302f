"""Validation of an image PUT: the name and the body, before any blob is read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from devstack.compute.errors import ArmError
from devstack.compute.source_blob import normalize_location

IMAGE_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$")
OS_TYPES = {"windows": "Windows", "linux": "Linux"}
OS_STATES = {"generalized": "Generalized", "specialized": "Specialized"}
GENERATIONS = {"v1": "V1", "v2": "V2"}
CACHING = {"none": "None", "readonly": "ReadOnly", "readwrite": "ReadWrite"}


@dataclass(frozen=True)
class ImageRequest:
    """What an image PUT asks for, in Azure's canonical spelling."""

    location: str
    tags: dict[str, str]
    os_type: str
    os_state: str
    blob_uri: str
    caching: str
    storage_account_type: str
    hyper_v_generation: str


def check_image_name(name: str) -> None:
    """Refuse a name outside Azure's rule for Microsoft.Compute/images."""
    if not IMAGE_NAME.match(name):
        raise ArmError(
            400,
            "InvalidParameter",
            f"The entity name '{name}' is invalid according to its validation rule: "
            "1-80 characters of letters, digits, '_', '.' and '-', starting with a "
            "letter or digit and ending with a letter, digit or '_'.",
            target="imageName",
        )


def _required(mapping: dict[str, Any], key: str, path: str) -> Any:
    value = mapping.get(key)
    if value is None or value == "":
        raise ArmError(
            400,
            "InvalidParameter",
            f"Required parameter '{path}' is missing (null).",
            target=path,
        )
    return value


def _object(mapping: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = _required(mapping, key, path)
    if not isinstance(value, dict):
        raise ArmError(
            400,
            "InvalidParameter",
            f"Parameter '{path}' must be an object, got {value!r}.",
            target=path,
        )
    return value


def _choice(
    mapping: dict[str, Any], key: str, path: str, allowed: dict[str, str]
) -> str:
    value = _required(mapping, key, path)
    canonical = allowed.get(str(value).lower())
    if canonical is None:
        raise ArmError(
            400,
            "InvalidParameter",
            f"The value '{value}' of parameter '{path}' is not allowed; allowed "
            f"values are {', '.join(allowed.values())}.",
            target=path,
        )
    return canonical


def parse_image_request(body: Any) -> ImageRequest:
    """The image request in a PUT body, or the ArmError Azure answers."""
    if not isinstance(body, dict):
        raise ArmError(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: "
            "expected a JSON object.",
        )
    location = body.get("location")
    if not location or not isinstance(location, str):
        raise ArmError(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        )

    properties = _object(body, "properties", "properties")
    storage_profile = _object(properties, "storageProfile", "storageProfile")
    os_disk = _object(storage_profile, "osDisk", "storageProfile.osDisk")
    blob_uri = _required(os_disk, "blobUri", "storageProfile.osDisk.blobUri")
    if not isinstance(blob_uri, str):
        raise ArmError(
            400,
            "InvalidParameter",
            f"Parameter 'storageProfile.osDisk.blobUri' must be a string, got "
            f"{blob_uri!r}.",
            target="storageProfile.osDisk.blobUri",
        )
    tags = body.get("tags") or {}
    if not isinstance(tags, dict):
        raise ArmError(
            400, "InvalidParameter", f"Tags must be an object, got {tags!r}.", "tags"
        )

    return ImageRequest(
        location=normalize_location(location),
        tags={str(key): str(value) for key, value in tags.items()},
        os_type=_choice(os_disk, "osType", "storageProfile.osDisk.osType", OS_TYPES),
        os_state=_choice(
            os_disk, "osState", "storageProfile.osDisk.osState", OS_STATES
        ),
        blob_uri=blob_uri,
        caching=_choice(
            {"caching": os_disk.get("caching") or "ReadWrite"},
            "caching",
            "storageProfile.osDisk.caching",
            CACHING,
        ),
        storage_account_type=str(os_disk.get("storageAccountType") or "Standard_LRS"),
        hyper_v_generation=_choice(
            {"hyperVGeneration": properties.get("hyperVGeneration") or "V1"},
            "hyperVGeneration",
            "hyperVGeneration",
            GENERATIONS,
        ),
    )
