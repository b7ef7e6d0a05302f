"""Keep SAS tokens and keys out of anything a person or a log can read."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_SIG = re.compile(r"(?i)\b(sig|se|sv|sp|sr|skoid|sktid|skt|ske|sks|skv)=[^&\s\"']+")
_KEY = re.compile(r"(?i)(AccountKey|SharedAccessSignature)=[^;\s\"']+")


def redact_url(url: str) -> str:
    """The URL without its query string, which may carry a SAS."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def redact_text(text: str) -> str:
    """Text with SAS parameters and account keys blanked, e.g. from an exception."""
    return _KEY.sub(r"\1=REDACTED", _SIG.sub(r"\1=REDACTED", text))
