"""The API docs (Swagger UI) served from this host: ``/docs`` works on an offline intranet.

Swagger UI comes from the npm package ``swagger-ui-dist``, pinned and sha512-checked in
``maps/assets.toml`` and installed with the Leaflet assets (``landplan assets install``);
the page, its script, style and favicon are all served by the service (``/assets/...``),
and the online validator badge is switched off.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from landplan.maps.assets import package_file_url

router = APIRouter(include_in_schema=False)
SWAGGER = "swagger-ui-dist"


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    base = str(request.url_for("assets", path="")).rstrip("/")
    app = request.app
    return get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} — API 文档 API docs",
        oauth2_redirect_url="/docs/oauth2-redirect",
        swagger_js_url=package_file_url(SWAGGER, "swagger-ui-bundle.js", base_url=base),
        swagger_css_url=package_file_url(SWAGGER, "swagger-ui.css", base_url=base),
        swagger_favicon_url=package_file_url(SWAGGER, "favicon-32x32.png", base_url=base),
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/docs/oauth2-redirect", response_class=HTMLResponse)
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()
