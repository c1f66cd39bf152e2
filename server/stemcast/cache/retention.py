"""What to remove from the stem cache: pure policy, no I/O (see pruner.py for the I/O).

An entry is a completed separation job. It goes when it is older than the retention
age (by last use), or, oldest use first, while the cache is over its size limit. An
entry someone is downloading (a reader lease) or was told about within
`min_keep_s` (its last use) is never removed, even if the cache stays over the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class CacheEntry:
    job_id: str
    output_dir: str
    last_used: float  # unix time of the last use (delivery, cache hit, download)
    size_bytes: int


@dataclass(frozen=True)
class Removal:
    entry: CacheEntry
    reason: str  # "age" | "size" | "clear"


def parse_time(value: str | None) -> float:
    """The database's ISO 8601 'Z' strings as unix time; 0 when missing."""
    if not value:
        return 0.0
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def protected(entry: CacheEntry, now: float, min_keep_s: float, leased: set[str]) -> bool:
    return entry.job_id in leased or now - entry.last_used < min_keep_s


def choose_removals(entries: list[CacheEntry], *, now: float, retention_s: float | None,
                    max_bytes: int | None, min_keep_s: float,
                    leased: set[str] | frozenset[str] = frozenset()) -> list[Removal]:
    """Entries to remove, oldest use first; `None` limits are off."""
    leased = set(leased)
    ordered = sorted(entries, key=lambda e: (e.last_used, e.job_id))
    removals: list[Removal] = []
    kept: list[CacheEntry] = []
    for entry in ordered:
        if (retention_s is not None and now - entry.last_used > retention_s
                and not protected(entry, now, min_keep_s, leased)):
            removals.append(Removal(entry, "age"))
        else:
            kept.append(entry)
    if max_bytes is not None:
        total = sum(e.size_bytes for e in kept)
        for entry in kept:
            if total <= max_bytes:
                break
            if protected(entry, now, min_keep_s, leased):
                continue
            removals.append(Removal(entry, "size"))
            total -= entry.size_bytes
    return removals


def choose_all(entries: list[CacheEntry], *, now: float, min_keep_s: float,
               leased: set[str] | frozenset[str] = frozenset(),
               force: bool = False) -> list[Removal]:
    """`cache clear`: everything not protected (everything with force)."""
    return [Removal(e, "clear") for e in entries
            if force or not protected(e, now, min_keep_s, set(leased))]
