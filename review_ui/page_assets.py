"""What every reviewer page is served with: templates, static files, security headers.

html = template_environment().get_template("queue.html").render(...)
response = secured(HTMLResponse(html))     # CSP, nosniff, no framing, no-store
"""

from __future__ import annotations

import importlib.resources
from typing import TYPE_CHECKING

from fastapi.responses import Response

if TYPE_CHECKING:
    import jinja2

__all__ = ["STATIC_TYPES", "read_static", "secured", "template_environment"]

STATIC_TYPES = {
    "review.css": "text/css; charset=utf-8",
    "review.js": "text/javascript; charset=utf-8",
}
# Only our own script and styles run; images may come from wherever the gateway stores
# previews. form-action and frame-ancestors close the remaining clickjacking/CSRF doors.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def template_environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("review_ui", "templates"),
        # Every {{ }} is HTML-escaped: prompts and outputs are attacker-controlled.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def read_static(name: str) -> bytes:
    return importlib.resources.files("review_ui").joinpath("static", name).read_bytes()


def secured(response: Response, *, cache: bool = True) -> Response:
    for header, value in _SECURITY_HEADERS.items():
        if header == "Cache-Control" and not cache:
            continue
        response.headers.setdefault(header, value)
    return response
