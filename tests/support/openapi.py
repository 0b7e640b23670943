"""Check real responses against the shipped openapi.yaml."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

import jupyter_bumps_remote.server_ext

SPEC = Path(jupyter_bumps_remote.server_ext.__file__).parent / "openapi.yaml"
API_ROOT = "bumps-remote/api"


@cache
def spec() -> OpenAPI:
    return OpenAPI.from_file_path(str(SPEC))


def validate(method: str, url: str, response, body: bytes | None = None) -> None:
    """Raise if `response` (a tornado HTTPResponse) is not what the spec says."""
    parts = urlsplit(url)
    path = parts.path.split(API_ROOT, 1)[1]
    request = MockRequest(
        "http://localhost",
        method.lower(),
        "/" + API_ROOT + path,
        args=dict(
            pair.split("=", 1) if "=" in pair else (pair, "")
            for pair in parts.query.split("&")
            if pair
        ),
        data=body or b"",
        content_type="application/json",
    )
    content_type = (response.headers.get("Content-Type") or "application/json").split(";")[0]
    data = response.body or b""
    if content_type == "application/json" and data:
        json.loads(data)  # JSON must be strict JSON (no NaN)
    elif data:
        data = b"binary"  # openapi-core reads bodies as text; status and type still checked
    spec().validate_response(
        request,
        MockResponse(
            data,
            status_code=response.code,
            content_type=content_type,
            headers=dict(response.headers.get_all()),
        ),
    )
