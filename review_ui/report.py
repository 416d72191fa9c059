"""Plain-text rendering of review statistics for ``aigc-gateway review stats``.

print(format_stats(service.stats(since=now - timedelta(days=1))))
"""

from __future__ import annotations

from review_ui.interface import ReviewStats

__all__ = ["format_stats"]


def format_stats(stats: ReviewStats) -> str:
    """A summary block and a per-reviewer table, aligned for a terminal."""
    since = stats.since.isoformat(timespec="seconds") if stats.since else "-"
    rate = "-" if stats.agreement_rate is None else f"{stats.agreement_rate:.1%}"
    throughput = "-" if stats.throughput_per_hour is None else f"{stats.throughput_per_hour:.2f}"
    lines = [
        f"window           {since} .. {stats.until.isoformat(timespec='seconds')}",
        f"votes            {stats.votes}",
        f"settled          {stats.settled} (approved {stats.approved}, "
        f"rejected {stats.rejected}); escalated {stats.escalated}",
        f"throughput/hour  {throughput}",
        f"double reviews   {stats.double_review_pairs}, agreement {rate}",
        "",
        _row("reviewer", "approve", "reject", "escalate", "total"),
    ]
    lines += [
        _row(r.reviewer, r.approve, r.reject, r.escalate, r.total) for r in stats.per_reviewer
    ]
    if not stats.per_reviewer:
        lines.append("(no decisions in this window)")
    return "\n".join(lines)


def _row(name: object, *counts: object) -> str:
    return f"{name!s:<24}" + "".join(f"{c!s:>10}" for c in counts)
