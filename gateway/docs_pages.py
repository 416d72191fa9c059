"""The ``/docs`` (Swagger UI) and ``/redoc`` pages, with every asset served by us.

FastAPI's default pages pull their JavaScript and CSS from a CDN (and ReDoc its fonts
from Google), so they are blank on an offline or air-gapped host. The ``fastapi-offline``
package ships Swagger UI 5 and ReDoc 2 builds; we mount just its static folder and render
FastAPI's own page templates against it::

    app = FastAPI(docs_url=None, redoc_url=None, ...)
    install_docs_pages(app)

The pages and ``/openapi.json`` stay public: the API reference is no secret.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_PREFIX", "install_docs_pages"]

ASSETS_PREFIX = "/static/docs"
# The package's static folder holds only the four files the pages need (and its licence
# travels with the installed distribution), so mounting it exposes nothing else.
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


def install_docs_pages(app: FastAPI) -> None:
    """Mount the assets and add ``/docs``, its OAuth2 redirect and ``/redoc`` to ``app``."""
    app.mount(ASSETS_PREFIX, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    title = app.title

    # include_in_schema=False: like FastAPI's defaults, the pages are not API operations.
    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=OAUTH2_REDIRECT_URL,
            swagger_js_url=f"{ASSETS_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PREFIX}/favicon.png",
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{ASSETS_PREFIX}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_PREFIX}/favicon.png",
            # The default adds a Google Fonts stylesheet: another CDN call.
            with_google_fonts=False,
        )
