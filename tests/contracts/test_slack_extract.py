"""``slack_web_methods.json`` is exactly what this script extracts from Slack's API description.

The fake Slack Web API (``tests/fakes/slack_api.py``) checks every call against that
extract. Regenerate it after changing :data:`METHODS`, with the full description beside
the checkout::

    .venv/bin/python tests/contracts/test_slack_extract.py

The test is skipped when ``../shared/vendor-specs/`` is not there; the rest of the suite
needs only the extract.
"""

from __future__ import annotations

import json
from pathlib import Path
import typing as t

import pytest

HERE = Path(__file__).resolve().parent
EXTRACT = HERE / "slack_web_methods.json"
SPEC = HERE.parents[2] / "shared" / "vendor-specs" / "slack" / "slack_web_openapi_v2.json"
SOURCE = ("slackapi/slack-api-specs web-api/slack_web_openapi_v2.json @ bc08db4 (MIT, SlackAPI): "
          "method names, HTTP verbs, accepted content types and parameters only")
#: The Web API methods the Slack plugin (and bolt's OAuth flow) call.
METHODS = ("auth.test", "chat.postMessage", "chat.update", "chat.postEphemeral", "chat.getPermalink",
           "users.info", "conversations.info", "conversations.replies", "conversations.history", "files.info",
           "oauth.v2.access")
#: Parameters Slack added after the description froze (2021), added by the script, each
#: with its reference page: message metadata (2022), how posts are recognised after a
#: lost answer.
LATER_PARAMS: dict[str, dict[str, bool]] = {
    "chat.postMessage": {"metadata": False},  # https://docs.slack.dev/reference/methods/chat.postMessage
    "conversations.replies": {"include_all_metadata": False},  # .../methods/conversations.replies
    "conversations.history": {"include_all_metadata": False},  # .../methods/conversations.history
}


def build_extract(spec: dict[str, t.Any]) -> dict[str, t.Any]:
    """Per method: its HTTP verb, the content types it takes, its parameters (name: required)."""
    methods = {}
    for method in METHODS:
        operations = spec["paths"]["/" + method]  # a KeyError here: the method is not described
        verbs = sorted(verb.upper() for verb in operations)
        [operation] = operations.values()  # every method of this description has one verb
        methods[method] = {
            "http_method": verbs[0],
            "consumes": operation.get("consumes") or spec.get("consumes") or [],
            "params": {**{p["name"]: bool(p.get("required")) for p in operation.get("parameters", [])},
                       **LATER_PARAMS.get(method, {})},
        }
    return {"source": SOURCE, "methods": dict(sorted(methods.items()))}


def render(extract: dict[str, t.Any]) -> str:
    return json.dumps(extract, indent=1, sort_keys=True) + "\n"


def test_the_extract_is_what_the_script_takes_from_slacks_description():
    if not SPEC.exists():
        pytest.skip("../shared/vendor-specs is not beside this checkout")
    spec = json.loads(SPEC.read_text())
    assert spec.get("swagger") == "2.0"
    assert json.loads(EXTRACT.read_text()) == build_extract(spec)


def test_the_extract_covers_the_methods_the_fake_serves():
    """Runs without the description: the fake's contract file is complete and well formed."""
    extract = json.loads(EXTRACT.read_text())
    assert sorted(extract["methods"]) == sorted(METHODS)
    for method, described in extract["methods"].items():
        assert described["http_method"] in ("GET", "POST"), method
        assert described["params"] and all(isinstance(v, bool) for v in described["params"].values()), method
        assert described["consumes"], method


if __name__ == "__main__":
    EXTRACT.write_text(render(build_extract(json.loads(SPEC.read_text()))))
    print(f"wrote {EXTRACT.relative_to(Path.cwd()) if EXTRACT.is_relative_to(Path.cwd()) else EXTRACT}")
