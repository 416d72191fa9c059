"""Chinese and English strings of the reviewer pages (the language is picked by
``common.i18n.pick_language``, as on every page).

translate(Language.ZH, "approve")  # "通过"
"""

from __future__ import annotations

from common.types import Language

__all__ = ["STRINGS", "translate"]


STRINGS: dict[str, dict[Language, str]] = {
    "title": {Language.EN: "Review queue", Language.ZH: "人工审核队列"},
    "sign_in": {Language.EN: "Sign in", Language.ZH: "登录"},
    "sign_out": {Language.EN: "Sign out", Language.ZH: "退出"},
    "api_key": {Language.EN: "Reviewer API key", Language.ZH: "审核员 API 密钥"},
    "bad_key": {
        Language.EN: "That key is not a reviewer key.",
        Language.ZH: "该密钥不是有效的审核员密钥。",
    },
    "signed_in_as": {Language.EN: "Signed in as", Language.ZH: "当前审核员"},
    "queue": {Language.EN: "Queue", Language.ZH: "队列"},
    "all_queues": {Language.EN: "All queues", Language.ZH: "全部队列"},
    "status": {Language.EN: "Status", Language.ZH: "状态"},
    "open": {Language.EN: "Open", Language.ZH: "待处理"},
    "all_statuses": {Language.EN: "All", Language.ZH: "全部"},
    "category": {Language.EN: "Category", Language.ZH: "类别"},
    "older_than": {Language.EN: "Older than (min)", Language.ZH: "等待超过（分钟）"},
    "filter": {Language.EN: "Filter", Language.ZH: "筛选"},
    "age": {Language.EN: "Age", Language.ZH: "等待时长"},
    "unit_min": {Language.EN: "min", Language.ZH: "分钟"},
    "unit_h": {Language.EN: "h", Language.ZH: "小时"},
    "unit_d": {Language.EN: "d", Language.ZH: "天"},
    "priority": {Language.EN: "Priority", Language.ZH: "优先级"},
    "kind": {Language.EN: "Kind", Language.ZH: "类型"},
    "kind_text": {Language.EN: "text", Language.ZH: "文本"},
    "kind_image": {Language.EN: "image", Language.ZH: "图片"},
    "kind_model3d": {Language.EN: "3D model", Language.ZH: "3D 模型"},
    "claimed_by": {Language.EN: "Claimed by", Language.ZH: "认领人"},
    "open_item": {Language.EN: "Open", Language.ZH: "查看"},
    "empty_queue": {Language.EN: "Nothing to review.", Language.ZH: "暂无待审核内容。"},
    "next_page": {Language.EN: "Next page", Language.ZH: "下一页"},
    "start_next": {
        Language.EN: "Claim the next item",
        Language.ZH: "认领下一条",
    },
    "nothing_to_claim": {
        Language.EN: "There is nothing you can claim right now.",
        Language.ZH: "当前没有可认领的内容。",
    },
    "back_to_queue": {Language.EN: "Back to the queue", Language.ZH: "返回队列"},
    "prompt": {Language.EN: "Prompt", Language.ZH: "提示词"},
    "output": {Language.EN: "Output", Language.ZH: "生成内容"},
    "image_preview": {Language.EN: "Image preview", Language.ZH: "图片预览"},
    "no_preview": {Language.EN: "No preview available.", Language.ZH: "无可用预览。"},
    "findings": {Language.EN: "Findings", Language.ZH: "检测结果"},
    "scanner": {Language.EN: "Scanner", Language.ZH: "检测器"},
    "score": {Language.EN: "Score", Language.ZH: "分数"},
    "clause": {Language.EN: "Policy clause", Language.ZH: "政策条款"},
    "evidence": {Language.EN: "Evidence", Language.ZH: "证据"},
    "policy": {Language.EN: "Policy", Language.ZH: "策略"},
    "double_review": {
        Language.EN: "Needs two reviewers",
        Language.ZH: "需双人审核",
    },
    "first_vote_by": {Language.EN: "First vote by", Language.ZH: "首轮审核人"},
    "claim": {Language.EN: "Claim", Language.ZH: "认领"},
    "release": {Language.EN: "Release", Language.ZH: "释放"},
    "lease_until": {Language.EN: "Lease until", Language.ZH: "认领有效至"},
    "claimed_by_other": {
        Language.EN: "Another reviewer holds this item.",
        Language.ZH: "该内容已被其他审核员认领。",
    },
    "you_voted_first": {
        Language.EN: "You cast the first vote; a second reviewer decides this item.",
        Language.ZH: "您已完成首轮审核，需由另一位审核员复核。",
    },
    "decided": {Language.EN: "Decided", Language.ZH: "已处理"},
    "approve": {Language.EN: "Approve", Language.ZH: "通过"},
    "reject": {Language.EN: "Reject", Language.ZH: "拒绝"},
    "escalate": {Language.EN: "Escalate", Language.ZH: "升级"},
    "reason": {Language.EN: "Reason", Language.ZH: "原因"},
    "choose_reason": {
        Language.EN: "— choose a reason —",
        Language.ZH: "— 请选择原因 —",
    },
    "reason_needed": {
        Language.EN: "Choose a reason first, then press the key again.",
        Language.ZH: "请先选择原因，再按一次快捷键。",
    },
    "note": {Language.EN: "Note (optional)", Language.ZH: "备注（可选）"},
    "note_column": {Language.EN: "Note", Language.ZH: "备注"},
    "shortcuts": {
        Language.EN: "Keys: a approve · r reject · e escalate · c claim · j/k next/previous",
        Language.ZH: "快捷键：a 通过 · r 拒绝 · e 升级 · c 认领 · j/k 下一条/上一条",
    },
    "history": {Language.EN: "Audit history", Language.ZH: "审核记录"},
    "time": {Language.EN: "Time", Language.ZH: "时间"},
    "event": {Language.EN: "Event", Language.ZH: "事件"},
    "reviewer": {Language.EN: "Reviewer", Language.ZH: "审核员"},
    "decision": {Language.EN: "Decision", Language.ZH: "决定"},
    "policy_version": {Language.EN: "Policy version", Language.ZH: "策略版本"},
    "error": {Language.EN: "Something went wrong", Language.ZH: "出错了"},
    "forbidden_csrf": {
        Language.EN: "This form is missing its security token. Reload the page and try again.",
        Language.ZH: "表单缺少安全令牌，请刷新页面后重试。",
    },
    "notice_approved": {Language.EN: "Approved.", Language.ZH: "已通过。"},
    "notice_rejected": {Language.EN: "Rejected.", Language.ZH: "已拒绝。"},
    "notice_escalated": {
        Language.EN: "Escalated to the senior queue.",
        Language.ZH: "已升级至资深审核队列。",
    },
    "notice_awaiting_second_review": {
        Language.EN: "Vote recorded; a second reviewer decides next.",
        Language.ZH: "已记录，等待第二位审核员。",
    },
    "notice_released": {Language.EN: "Released back to the queue.", Language.ZH: "已释放回队列。"},
    "status_pending": {Language.EN: "pending", Language.ZH: "待认领"},
    "status_claimed": {Language.EN: "claimed", Language.ZH: "已认领"},
    "status_approved": {Language.EN: "approved", Language.ZH: "已通过"},
    "status_rejected": {Language.EN: "rejected", Language.ZH: "已拒绝"},
    "status_escalated": {Language.EN: "escalated", Language.ZH: "已升级"},
    "language_other": {Language.EN: "中文", Language.ZH: "English"},
    "stats": {Language.EN: "Stats", Language.ZH: "统计"},
    "search": {Language.EN: "Search", Language.ZH: "搜索"},
    "zoom_hint": {
        Language.EN: "Click or press z to zoom; drag or scroll to pan",
        Language.ZH: "点击或按 z 放大；拖动或滚动以平移",
    },
    "bulk_pick": {Language.EN: "Pick for a bulk decision", Language.ZH: "选择以批量处理"},
    "bulk_selected": {Language.EN: "Picked items:", Language.ZH: "已选条目："},
    "notice_bulk_done": {
        Language.EN: "Every picked item decided.",
        Language.ZH: "所选条目均已处理。",
    },
    "notice_bulk_some_refused": {
        Language.EN: "Decided what could be; some items were claimed by others or need a "
        "decision of their own.",
        Language.ZH: "已处理可处理的条目；部分条目已被他人认领或需单独处理。",
    },
    "edit_output": {Language.EN: "Edit the output, then approve", Language.ZH: "修改内容后通过"},
    "edit_hint": {
        Language.EN: "The text to release instead; it is checked again",
        Language.ZH: "发布修改后的文字；将重新审核",
    },
    "edit_review": {Language.EN: "Check your edit", Language.ZH: "确认修改"},
    "edit_explain": {
        Language.EN: "Removed text is struck through, added text underlined. The edited "
        "text is moderated again; if it is flagged it returns to the queue.",
        Language.ZH: "删除的文字带删除线，新增的文字带下划线。修改后的文字将重新审核，"
        "如被标记则退回队列。",
    },
    "approve_edit": {Language.EN: "Approve the edited text", Language.ZH: "通过修改后的文字"},
    "back_to_item": {Language.EN: "Back to the item", Language.ZH: "返回本条"},
    "before_the_edit": {Language.EN: "Both versions", Language.ZH: "修改前后对比"},
    "edit_requeued": {
        Language.EN: "A reviewer edited this output and moderation flagged the edit: "
        "struck through is the text it replaced, underlined what it wrote.",
        Language.ZH: "审核员修改了内容，修改后的文字再次被标记：删除线为原文字，下划线为修改内容。",
    },
    "search_hint": {Language.EN: "text, id or category", Language.ZH: "文字、编号或类别"},
    "content": {Language.EN: "Content", Language.ZH: "内容"},
    "stats_title": {Language.EN: "Review statistics", Language.ZH: "审核统计"},
    "stats_window": {Language.EN: "Last days", Language.ZH: "最近天数"},
    "stats_decisions_per_day": {Language.EN: "Decisions per day", Language.ZH: "每日决定数"},
    "stats_time_to_decision": {Language.EN: "Time to decision", Language.ZH: "决定耗时"},
    "stats_queue_depth": {Language.EN: "Open tasks", Language.ZH: "待处理任务数"},
    "stats_votes": {Language.EN: "Decisions", Language.ZH: "决定数"},
    "stats_settled": {Language.EN: "Settled", Language.ZH: "已结案"},
    "stats_agreement": {Language.EN: "Double-review agreement", Language.ZH: "双人复核一致率"},
    "stats_median": {Language.EN: "Median time to decision", Language.ZH: "决定耗时中位数"},
    "stats_ended_late": {Language.EN: "Ended past the SLA", Language.ZH: "超时结案"},
    "stats_open_late": {Language.EN: "Open past the SLA", Language.ZH: "超时未处理"},
    "stats_reviewer": {Language.EN: "Reviewer", Language.ZH: "审核员"},
    "total": {Language.EN: "Total", Language.ZH: "合计"},
}


def translate(lang: Language, key: str) -> str:
    """The string for ``key``; a missing key is a bug, so it fails loudly in tests."""
    return STRINGS[key][lang]
