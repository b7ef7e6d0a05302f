"""Typed state passed between the steps of a release."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

OsType = Literal["Linux", "Windows"]
HyperVGeneration = Literal["V1", "V2"]
OsState = Literal["Generalized", "Specialized"]


class SourceVhd(BaseModel):
    """The golden VHD in tier-0 as it was verified at the start of a release."""

    model_config = ConfigDict(frozen=True)

    account: str
    container: str
    blob: str
    size: int
    etag: str
    md5: str | None = None
    release: str | None = Field(
        default=None, description="Release id the upload was stamped with."
    )
    hyper_v_generation: HyperVGeneration | None = Field(
        default=None, description="Hyper-V generation the upload was stamped with."
    )


class Release(BaseModel):
    """One distribution of one VHD; every name it creates derives from `id`."""

    model_config = ConfigDict(frozen=True)

    id: str
    image_name: str
    os_type: OsType
    hyper_v_generation: HyperVGeneration = "V2"
    os_state: OsState = "Generalized"
    source: SourceVhd


class CopyResult(BaseModel):
    """A finished copy: where it went and how long Azure took."""

    model_config = ConfigDict(frozen=True)

    destination: str = Field(description="Destination blob URL, without any SAS.")
    size: int
    seconds: float
    skipped: bool = Field(description="True when an earlier run had already copied it.")


class ImageResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    image_id: str
    seconds: float
    skipped: bool


class TargetState(StrEnum):
    PENDING = "pending"
    COPYING = "copying"
    IMAGING = "imaging"
    DONE = "done"
    FAILED = "failed"
