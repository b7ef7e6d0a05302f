"""SAS tokens and account keys never survive redaction."""

from __future__ import annotations

import pytest

from imagerelay.redact import redact_text, redact_url
from imagerelay.source import SourceError, check_blob_path

SAS_URL = (
    "https://acct.blob.core.windows.net/c/b.vhd?sv=2025-01-05&st=2026-12-03T00%3A00Z"
    "&se=2026-12-03T08%3A00Z&sr=b&sp=r&sig=abcDEF%2Bghi%3D"
)


def test_redact_url_drops_the_query() -> None:
    assert redact_url(SAS_URL) == "https://acct.blob.core.windows.net/c/b.vhd"


def test_redact_text_blanks_signature_and_keys() -> None:
    text = f"copy from {SAS_URL} failed; AccountKey=c2VjcmV0a2V5PT0=;EndpointSuffix=x"

    redacted = redact_text(text)

    assert "abcDEF" not in redacted
    assert "c2VjcmV0a2V5PT0" not in redacted
    assert "sig=REDACTED" in redacted
    assert "acct.blob.core.windows.net/c/b.vhd" in redacted


def test_a_sas_url_as_the_release_source_is_refused_without_echoing_it() -> None:
    with pytest.raises(SourceError, match="not a URL") as refused:
        check_blob_path(SAS_URL)

    assert "abcDEF" not in str(refused.value)
    assert check_blob_path("/uploads/r/golden.vhd") == "uploads/r/golden.vhd"
