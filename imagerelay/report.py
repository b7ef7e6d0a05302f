"""What a release did, as table rows and a markdown summary for people."""

from __future__ import annotations

from imagerelay.ledger import LedgerEntry
from imagerelay.models import Release, TargetState
from imagerelay.redact import redact_text


def target_rows(entries: list[LedgerEntry]) -> list[dict[str, str]]:
    """One row per target: where it is, how its copy and image went."""
    return [
        {
            "subscription": entry.subscription_id,
            "region": entry.region,
            "account": entry.storage_account,
            "state": entry.state.value,
            "copy": _step(entry.copy_seconds, entry.copy_reused),
            "image": _step(entry.image_seconds, entry.image_reused),
            "image id": entry.image_id,
            "error": redact_text(entry.error),
        }
        for entry in entries
    ]


def failed_targets(entries: list[LedgerEntry]) -> list[LedgerEntry]:
    return [entry for entry in entries if entry.state is not TargetState.DONE]


def summary_markdown(
    release: Release, entries: list[LedgerEntry], tier1_copies: int
) -> str:
    """A short markdown account of the release for the Prefect UI."""
    failed = failed_targets(entries)
    done = len(entries) - len(failed)
    copy_times = [
        e.copy_seconds for e in entries if e.copy_seconds and not e.copy_reused
    ]
    reused = sum(1 for e in entries if e.image_reused)
    lines = [
        f"# Release {release.id}: {release.image_name}",
        "",
        f"- Source: `{release.source.container}/{release.source.blob}` "
        f"({release.source.size / 2**20:,.0f} MiB, {release.os_type}, "
        f"Hyper-V {release.hyper_v_generation})",
        f"- Tier-1 copies: {tier1_copies}",
        f"- Targets done: **{done} of {len(entries)}**"
        + (f" ({reused} already done by an earlier run)" if reused else ""),
    ]
    if copy_times:
        lines.append(f"- Slowest copy: {max(copy_times):.1f} s")
    if failed:
        lines += ["", "## Failed targets", ""]
        lines += [
            f"- `{e.subscription_id}` {e.region} {e.storage_account}: "
            f"{redact_text(e.error) or e.state.value}"
            for e in failed
        ]
    return "\n".join(lines) + "\n"


def _step(seconds: float | None, reused: bool) -> str:
    """'12.3 s' for work done in this run, 'reused' for work an earlier run did."""
    if reused:
        return "reused"
    return "" if seconds is None else f"{seconds:.1f} s"
