"""The contract extracts the fakes check requests against still match the vendors' descriptions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "vendor-specs"


def test_slack_extract_matches_slacks_api_description():
    spec_path = SHARED / "slack" / "slack_web_openapi_v2.json"
    if not spec_path.exists():
        pytest.skip("../shared/vendor-specs is not beside this checkout")
    spec = json.loads(spec_path.read_text())
    extract = json.loads((HERE / "slack_web_methods.json").read_text())["methods"]
    assert extract, "the extract lists methods"
    for method, described in extract.items():
        [(verb, operation)] = spec["paths"]["/" + method].items()
        assert described["http_method"] == verb.upper()
        assert described["params"] == {p["name"]: bool(p.get("required")) for p in operation.get("parameters", [])}
