"""The upload flow: a disk file the worker can read, sent to tier-0, as by the CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from pydantic import BaseModel

from imagerelay.intake import IntakeRequest, take_in
from imagerelay.models import HyperVGeneration, OsType
from imagerelay.naming import artifact_key
from imagerelay.settings import get_settings

PROGRESS_STEP = 5.0


class UploadSummary(BaseModel):
    """What the flow left in tier-0; bytes are 0 when tier-0 already held the file."""

    blob: str
    image_name: str
    hyper_v_generation: HyperVGeneration
    size: int = 0
    bytes_sent: int = 0
    bytes_kept: int = 0
    resumed: bool = False
    md5: str | None = None


class UploadProgress:
    """A Prefect progress artifact, updated every PROGRESS_STEP percent at most.

    The Prefect calls are parameters, so a test can record them.
    """

    def __init__(
        self,
        key: str,
        description: str,
        create: Callable[..., UUID] = create_progress_artifact,
        update: Callable[[UUID, float], object] = update_progress_artifact,
    ) -> None:
        self.key = key
        self.description = description
        self._create = create
        self._update = update
        self.artifact_id: UUID | None = None
        self.shown = -PROGRESS_STEP

    def __call__(self, done: int, total: int) -> None:
        """Show done/total as a percentage when it moved a step, or reached 100."""
        percent = round(100.0 * done / total, 1) if total else 100.0
        if percent < 100.0 and percent - self.shown < PROGRESS_STEP:
            return
        if self.artifact_id is None:
            self.artifact_id = self._create(
                percent, key=self.key, description=self.description
            )
        elif percent != self.shown:
            self._update(self.artifact_id, percent)
        self.shown = percent


@flow(name="upload", flow_run_name="upload-{release}-{os_type}")
def upload_flow(
    file: str,
    release: str,
    os_type: OsType,
    hyper_v_generation: HyperVGeneration | None = None,
    image_name: str | None = None,
    resize: bool = False,
    replace: bool = False,
    threads: int | None = None,
    inventory: str | None = None,
) -> UploadSummary:
    """Check a disk file on the worker, upload it to tier-0 and stamp it.

    An interrupted run leaves an unstamped partial blob; running the flow again with
    the same parameters sends only what is missing.
    """
    logger = get_run_logger()
    request = IntakeRequest(
        file=Path(file),
        release=release,
        os_type=os_type,
        hyper_v_generation=hyper_v_generation,
        image_name=image_name,
        resize=resize,
        replace=replace,
        threads=threads,
        inventory=Path(inventory) if inventory else None,
    )
    image = image_name or f"golden-{os_type.lower()}"
    progress = UploadProgress(
        artifact_key(release, image, "upload"),
        f"Upload of {request.file.name} to tier-0 for release {release}",
    )

    outcome = take_in(request, get_settings(), logger.info, progress)

    summary = UploadSummary(
        blob=outcome.blob_name,
        image_name=outcome.image_name,
        hyper_v_generation=outcome.hyper_v_generation,
    )
    result = outcome.result
    if result is None:
        progress(1, 1)
        return summary
    logger.info(
        "Uploaded %s: %.1f MiB sent, %.1f MiB kept from an interrupted upload, "
        "%.1f s, MD5 %s",
        outcome.blob_name,
        result.bytes_sent / 2**20,
        result.bytes_kept / 2**20,
        result.seconds,
        result.md5,
    )
    return summary.model_copy(
        update={
            "size": result.size,
            "bytes_sent": result.bytes_sent,
            "bytes_kept": result.bytes_kept,
            "resumed": result.resumed,
            "md5": result.md5,
        }
    )
