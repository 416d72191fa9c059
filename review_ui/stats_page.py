"""What ``/review/stats`` shows of a ``LeadDashboard``: three SVG charts and two tables.

context = stats_context(service.dashboard(tenant_id="acme", since=week_ago), Language.ZH)
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from common.types import Language
from review_ui.charts import bar_chart, line_chart
from review_ui.dashboard import LeadDashboard
from review_ui.i18n import translate

__all__ = ["DEFAULT_DAYS", "MAX_DAYS", "stats_context"]

DEFAULT_DAYS = 7
MAX_DAYS = 90


def stats_context(dashboard: LeadDashboard, lang: Language) -> dict[str, Any]:
    """The template's variables: charts as markup, figures as numbers."""
    t = translate
    per_day = Counter[str]()
    for count in dashboard.per_day:
        per_day[count.day] += count.decisions
    totals = dashboard.totals
    rate = totals.agreement_rate
    return {
        "decisions_chart": bar_chart(
            [(day[5:], n) for day, n in sorted(per_day.items())],
            title=t(lang, "stats_decisions_per_day"),
        ),
        "duration_chart": bar_chart(
            [(bucket.label, bucket.count) for bucket in dashboard.time_to_decision],
            title=t(lang, "stats_time_to_decision"),
        ),
        "depth_chart": line_chart(
            [(point.at.strftime("%m-%d %H:%M"), point.open) for point in dashboard.queue_depth],
            title=t(lang, "stats_queue_depth"),
        ),
        "figures": [
            (t(lang, "stats_votes"), str(totals.votes)),
            (t(lang, "stats_settled"), str(totals.settled)),
            (t(lang, "status_approved"), str(totals.approved)),
            (t(lang, "status_rejected"), str(totals.rejected)),
            (t(lang, "status_escalated"), str(totals.escalated)),
            (t(lang, "stats_agreement"), "—" if rate is None else f"{rate:.0%}"),
            (t(lang, "stats_median"), _duration(dashboard.median_decision_s, lang)),
            (t(lang, "stats_ended_late"), str(dashboard.ended_late)),
            (t(lang, "stats_open_late"), str(dashboard.open_late)),
        ],
        "reviewers": totals.per_reviewer,
    }


def _duration(seconds: float | None, lang: Language) -> str:
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{seconds / 60:.0f} {translate(lang, 'unit_min')}"
    return f"{seconds / 3600:.1f} {translate(lang, 'unit_h')}"
