"""The ARM operations the emulator serves, as functions of a parsed request."""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import replace

from devstack.compute.arm_http import ArmRequest, ArmResponse, Handler
from devstack.compute.errors import (
    ArmError,
    resource_group_not_found,
    resource_not_found,
    subscription_not_found,
)
from devstack.compute.image_request import check_image_name, parse_image_request
from devstack.compute.images import ImageStore, image_from_request
from devstack.compute.operations import Operation, OperationLog
from devstack.compute.resource_groups import GroupStore, ResourceGroupRoutes
from devstack.compute.source_blob import check_source_blob, source_account
from devstack.compute.state_files import StateTable
from devstack.compute.storage_accounts import AccountStore, has_subscription
from devstack.compute.storage_routes import StorageRoutes
from devstack.config import StackConfig

logger = logging.getLogger(__name__)

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourcegroups/(?P<rg>[^/]+)"
COMPUTE = r"/providers/microsoft\.compute"


class ArmRoutes:
    """Dispatches ARM paths to image, operation and storage account handlers."""

    def __init__(
        self, config: StackConfig, images: ImageStore, operations: OperationLog
    ) -> None:
        self.config = config
        self.images = images
        self.operations = operations
        arm_dir = config.state_dir / "arm"
        self.groups = GroupStore(
            StateTable(arm_dir, "resource_groups"), config.image_seconds
        )
        self.storage = StorageRoutes(
            config,
            self.groups,
            AccountStore(StateTable(arm_dir, "storage_accounts")),
            operations,
            config.image_seconds,
        )
        group_routes = ResourceGroupRoutes(
            self.groups, operations, config.image_seconds, self._delete_group_content
        )
        routes: list[tuple[str, dict[str, Handler]]] = [
            (
                RG + COMPUTE + r"/images/(?P<name>[^/]+)",
                {"GET": self.get_image, "PUT": self.put_image, "DELETE": self.delete},
            ),
            (RG + COMPUTE + r"/images", {"GET": self.list_images}),
            (SUB + COMPUTE + r"/images", {"GET": self.list_images}),
            (
                SUB + COMPUTE + r"/locations/(?P<loc>[^/]+)/operations/(?P<op>[^/]+)",
                {"GET": self.get_operation},
            ),
            *self.storage.routes(SUB, RG),
            *group_routes.routes(SUB),
        ]
        from devstack.compute.disks import DiskApi  # disks.py builds on this module

        routes += DiskApi(config, operations).routes()
        self._routes = [
            (re.compile(f"^{pattern}/?$", re.IGNORECASE), methods)
            for pattern, methods in routes
        ]

    def dispatch(
        self, method: str, path: str, query: dict[str, str], origin: str, body: bytes
    ) -> ArmResponse:
        """Run the handler for the path, or answer ARM's not-found refusals."""
        for pattern, methods in self._routes:
            match = pattern.match(path)
            if not match:
                continue
            handler = methods.get(method)
            if handler is None:
                raise ArmError(
                    405,
                    "MethodNotAllowed",
                    f"The HTTP method '{method}' is not supported for {path}.",
                )
            params = {key: value for key, value in match.groupdict().items() if value}
            if not has_subscription(
                self.config, params["sub"], self.groups.subscriptions()
            ):
                raise subscription_not_found(params["sub"])
            request = ArmRequest(
                method, params, query, query["api-version"], origin, body
            )
            return handler(request)
        raise ArmError(
            404,
            "InvalidResourceType",
            f"The resource type of '{path}' is not served by the local ARM emulator.",
        )

    def _async_headers(
        self, request: ArmRequest, operation: Operation, monitor: bool = False
    ) -> dict[str, str]:
        status_url = f"{request.origin}{operation.url_path()}"
        version = f"api-version={request.api_version}"
        headers = {
            "Azure-AsyncOperation": f"{status_url}?{version}",
            "Retry-After": "1",
        }
        if monitor:
            headers["Location"] = f"{status_url}?monitor=true&{version}"
        return headers

    def _image_group(self, request: ArmRequest) -> tuple[str, str]:
        sub, rg = request.params["sub"], request.params["rg"]
        if not self.groups.exists(sub, rg):
            raise resource_group_not_found(rg)
        return sub, rg

    def _delete_group_content(self, subscription_id: str, resource_group: str) -> None:
        """What deleting a resource group deletes with it: accounts and images."""
        self.storage.delete_group_accounts(subscription_id, resource_group)
        now = time.time()
        for image in self.images.list(subscription_id, resource_group):
            if image.deleted_at is None:
                self.images.start_delete(image, now)

    def get_image(self, request: ArmRequest) -> ArmResponse:
        """GET one image."""
        sub, rg = self._image_group(request)
        image = self.images.get(sub, rg, request.params["name"])
        if image is None:
            raise resource_not_found(
                "Microsoft.Compute/images", request.params["name"], rg
            )
        return ArmResponse(200, image.body(time.time()))

    def list_images(self, request: ArmRequest) -> ArmResponse:
        """GET the images of a resource group or of a subscription."""
        if "rg" in request.params:
            sub, rg = self._image_group(request)
        else:
            sub, rg = request.params["sub"], None
        now = time.time()
        images = self.images.list(sub, rg)
        return ArmResponse(200, {"value": [image.body(now) for image in images]})

    def put_image(self, request: ArmRequest) -> ArmResponse:
        """Validate like Azure, then create (201) or update (200) the image."""
        sub, rg = self._image_group(request)
        name = request.params["name"]
        check_image_name(name)
        try:
            body = json.loads(request.body or b"null")
        except ValueError as exc:
            raise ArmError(
                400,
                "InvalidRequestContent",
                f"The request content was invalid and could not be deserialized: {exc}",
            ) from exc
        wanted = parse_image_request(body)
        now = time.time()

        existing = self.images.get(sub, rg, name)
        if existing is not None and existing.deleted_at is None:
            if existing.location != wanted.location:
                raise ArmError(
                    409,
                    "InvalidResourceLocation",
                    f"The resource '{name}' already exists in location "
                    f"'{existing.location}' in resource group '{rg}'. A resource with "
                    f"the same name cannot be created in location '{wanted.location}'.",
                )
            for prop, old, new in (
                ("osDisk.blobUri", existing.blob_uri, wanted.blob_uri),
                ("osDisk.osType", existing.os_type, wanted.os_type),
                ("osDisk.osState", existing.os_state, wanted.os_state),
                (
                    "hyperVGeneration",
                    existing.hyper_v_generation,
                    wanted.hyper_v_generation,
                ),
            ):
                if old != new:
                    raise ArmError(
                        409,
                        "PropertyChangeNotAllowed",
                        f"Changing property '{prop}' is not allowed: the image has "
                        f"'{old}', the request asks for '{new}'.",
                        target=prop,
                    )
            updated = replace(existing, tags=wanted.tags, caching=wanted.caching)
            self.images.put(updated)
            operation = self.operations.start(
                sub,
                wanted.location,
                max(0.0, existing.ready_at - now),
                error=existing.error,
            )
            logger.info("Updated image %s", updated.resource_id)
            return ArmResponse(
                200, updated.body(now), self._async_headers(request, operation)
            )

        account, address = source_account(
            self.config, wanted.blob_uri, sub, wanted.location
        )
        virtual_size = check_source_blob(self.config, account, address, wanted.blob_uri)
        faults = self.operations.faults
        seconds = faults.image_seconds(self.config.image_seconds)
        image = image_from_request(sub, rg, name, wanted, virtual_size, now + seconds)
        image = replace(image, error=faults.image_failure(image.resource_id))
        self.images.put(image)
        faults.image_created(failed=image.error is not None)
        operation = self.operations.start(
            sub, wanted.location, seconds, error=image.error
        )
        logger.info(
            "Creating image %s from %s (%d MiB, ready in %.1f s)",
            image.resource_id,
            wanted.blob_uri,
            virtual_size // (1024 * 1024),
            seconds,
        )
        return ArmResponse(
            201, image.body(now), self._async_headers(request, operation)
        )

    def delete(self, request: ArmRequest) -> ArmResponse:
        """Start deleting the image (202), or 204 when there is none."""
        sub, rg = self._image_group(request)
        image = self.images.get(sub, rg, request.params["name"])
        if image is None:
            return ArmResponse(204, None)
        now = time.time()
        deleted_at = image.deleted_at
        if deleted_at is None:
            image = self.images.start_delete(image, now)
            deleted_at = now
        seconds = max(0.0, deleted_at + self.config.image_seconds - now)
        operation = self.operations.start(sub, image.location, seconds)
        logger.info("Deleting image %s", image.resource_id)
        return ArmResponse(202, None, self._async_headers(request, operation, True))

    def get_operation(self, request: ArmRequest) -> ArmResponse:
        """GET the status of an asynchronous operation."""
        operation = self.operations.get(request.params["sub"], request.params["op"])
        if operation is None:
            raise ArmError(
                404,
                "NotFound",
                f"The operation '{request.params['op']}' was not found.",
            )
        now = time.time()
        if request.query.get("monitor", "").lower() == "true":
            if now < operation.done_at:
                return ArmResponse(202, None, {"Retry-After": "1"})
            return ArmResponse(200, None)
        retry = {"Retry-After": "1"} if now < operation.done_at else {}
        return ArmResponse(200, operation.body(now), retry)
