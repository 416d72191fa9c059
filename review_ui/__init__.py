"""Human review: the queue service and the reviewer pages.

The gateway builds one :class:`review_ui.service.ReviewService` over its engine and
mounts :func:`review_ui.web.build_review_router` at ``/review``; see ``docs/review.md``.
"""
