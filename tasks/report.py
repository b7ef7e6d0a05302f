"""Report: the release's table and summary as Prefect artifacts."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

from imagerelay import report
from imagerelay.ledger import LedgerEntry
from imagerelay.models import Release
from imagerelay.naming import artifact_key


@task(name="publish-report")
async def publish_report(
    release: Release, entries: list[LedgerEntry], tier1_copies: int
) -> None:
    """Publish one row per target and a markdown summary, keyed by release id."""
    await acreate_table_artifact(
        key=artifact_key(release.id, release.image_name, "targets"),
        table=report.target_rows(entries),
        description=f"Targets of release {release.id}",
    )
    await acreate_markdown_artifact(
        key=artifact_key(release.id, release.image_name, "summary"),
        markdown=report.summary_markdown(release, entries, tier1_copies),
        description=f"Summary of release {release.id}",
    )
