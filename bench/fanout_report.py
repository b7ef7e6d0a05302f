"""The fan-out bench's printed report: one row per side, then CPU per operation."""

from __future__ import annotations

from typing import Any

Side = tuple[str, dict[str, Any], dict[str, Any] | None]


def _sides(results: dict[str, dict[str, Any]]) -> list[Side]:
    """(name, side figures, database figures) for the floor and each imagerelay run."""
    floor = next((r["floor"] for r in results.values() if "floor" in r), None)
    rows: list[Side] = [("floor (asyncio)", floor, None)] if floor else []
    rows += [
        (f"imagerelay, {db}", r["imagerelay"], r)
        for db, r in results.items()
        if "imagerelay" in r
    ]
    return rows


def _stopped_line(name: str, side: dict[str, Any], operations: int) -> str:
    """What a side stopped at its deadline got done, from the stack's counters."""
    seen = side.get("seen") or {}
    images = seen.get("images_created", 0)
    rate = images / side["seconds"] if side["seconds"] else 0.0
    needed = f", {operations / rate / 60:.0f} min for all" if rate else ""
    return (
        f"{name:<22}stopped at its deadline, {side['seconds']:.0f} s: {images} of "
        f"{operations} images created ({rate:.2f}/s{needed})"
    )


def report(
    targets: int, images: int, settings: Any, results: dict[str, dict[str, Any]]
) -> None:
    operations = targets * images
    print(f"\n{targets} targets x {images} images = {operations} image operations")
    print(
        f"limits: copies {settings.limit_copies}, per account "
        f"{settings.limit_copies_per_account}, images per subscription "
        f"{settings.limit_images_per_subscription}"
    )
    rows = _sides(results)
    floor = rows[0][1] if rows and rows[0][2] is None else None
    finished = [row for row in rows if not row[1].get("stopped")]
    print(
        f"{'run':<22}{'wall s':>8}{'ratio':>7}{'calls/op':>9}"
        f"{'  (blob/table/arm/id)':<24}{'RSS MiB':>8}{'server':>8}{'copies':>7}"
        f"{'/acct':>6}{'img/sub':>8}{'failed':>7}"
    )
    for name, side, db in rows:
        if side.get("stopped"):
            print(_stopped_line(name, side, operations))
            continue
        calls = side["calls"]
        split = "/".join(
            f"{calls.get(k, 0) / operations:.1f}"
            for k in ("blob", "table", "arm", "identity")
        )
        ratio = f"{side['seconds'] / floor['seconds']:.2f}" if floor else "-"
        server = f"{db['server_peak_rss_mib']:.0f}" if db else "-"
        print(
            f"{name:<22}{side['seconds']:>8.1f}{ratio:>7}"
            f"{sum(calls.values()) / operations:>9.1f}  {split:<22}"
            f"{side['peak_rss_mib']:>8.0f}{server:>8}{side['peak_copies']:>7}"
            f"{side['peak_copies_per_account']:>6}"
            f"{side['peak_images_per_subscription']:>8}{side['failed']:>7}"
        )
    print(
        f"\n{'CPU ms per operation':<22}{'flow run':>9}{'server':>8}{'azurite':>8}"
        f"{'arm':>6}{'total':>7}"
    )
    for name, side, _ in finished:
        cpu = side["stack_cpu"]
        parts = [side["cpu_seconds"], cpu["prefect-server"], cpu["azurite"], cpu["arm"]]
        print(
            f"{name:<22}"
            + "".join(
                f"{1000 * p / operations:>{w}.0f}"
                for p, w in zip([*parts, sum(parts)], (9, 8, 8, 6, 7), strict=True)
            )
        )
    print("\nseen by the stack (fault proxy and ARM emulator counters):")
    for name, side, _ in rows:
        print(f"  {name:<22}{side.get('seen') or 'not counted (instant copies)'}")
    for db, result in results.items():
        print(
            f"stack up ({db}): {result['stack_up_seconds']:.0f} s; load average "
            f"{result['load_before']:.1f} before, {result['load_after']:.1f} after"
        )
