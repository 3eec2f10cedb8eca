"""The OpenAPI description: generated without warnings, committed, and served with its docs
under the same strict Content-Security-Policy as every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import call_command

COMMITTED = Path(__file__).resolve().parents[2] / "api" / "openapi.yaml"


def test_the_committed_schema_is_the_generated_one(tmp_path):
    """A change to the API changes api/openapi.yaml in the same commit, so it is reviewed:
    regenerate with `make api-schema`."""
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", file=str(generated), validate=True, fail_on_warn=True)
    assert generated.read_text() == COMMITTED.read_text(), "api/openapi.yaml is stale"


@pytest.mark.django_db
def test_the_schema_and_docs_are_served_without_inline_script(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/directory/employees" in schema.content
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts)
    assert "cdn" not in html.lower() and "https://" not in html
    assert "script-src 'self'" in docs["Content-Security-Policy"]
    init = re.search(r'src="([^"]*script[^"]*)"', html).group(1).replace("&amp;", "&")
    assert client.get(init).status_code == 200
