"""``intercom_api_extract.json`` is exactly what this script extracts from Intercom's API description.

The fake Intercom REST API (``tests/fakes/intercom_api.py``) checks every request against
that extract (path, method, path and query parameters, JSON body) and the answers it
gives against the response schemas. Regenerate it after changing :data:`OPERATIONS`, with
the full description beside the checkout::

    .venv/bin/python tests/contracts/test_intercom_extract.py

The comparison with the full description is skipped when ``../shared/vendor-specs/`` (or
PyYAML) is not there; the rest of the suite needs only the extract.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
EXTRACT = HERE / "intercom_api_extract.json"
SPEC = HERE.parents[2] / "shared" / "vendor-specs" / "intercom" / "api.intercom.io.yaml"
SOURCE = ("intercom/Intercom-OpenAPI descriptions/2.14/api.intercom.io.yaml @ 8889625 (MIT, Intercom Inc.): "
          "the operations below and the schemas they reference, descriptions and examples left out")
#: The operations the Intercom plugin calls (and the fake serves).
OPERATIONS = (
    ("get", "/me"),
    ("get", "/admins/{admin_id}"),
    ("get", "/contacts/find_by_external_id/{external_id}"),
    ("post", "/contacts"),
    ("get", "/contacts/{contact_id}"),
    ("put", "/contacts/{contact_id}"),
    ("get", "/conversations"),
    ("post", "/conversations"),
    ("get", "/conversations/{conversation_id}"),
    ("put", "/conversations/{conversation_id}"),
    ("post", "/conversations/{conversation_id}/reply"),
    ("post", "/conversations/{conversation_id}/parts"),
    ("post", "/conversations/{conversation_id}/tags"),
    ("delete", "/conversations/{conversation_id}/tags/{tag_id}"),
    ("get", "/tags"),
    ("post", "/tags"),
    ("get", "/data_attributes"),
    ("post", "/data_attributes"),
)
_DROP = {"description", "example", "examples", "summary", "tags", "x-fern-sdk-group-name",
         "x-fern-sdk-method-name", "externalDocs", "title"}


def _strip(node: t.Any, refs: set[str]) -> t.Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _DROP and not (key == "tags" and isinstance(value, dict)):
                continue
            if key == "$ref":
                refs.add(value)
            out[key] = _strip(value, refs)
        return out
    if isinstance(node, list):
        return [_strip(item, refs) for item in node]
    return node


def build_extract(spec: dict[str, t.Any]) -> dict[str, t.Any]:
    """The operations (parameters, JSON request body, JSON responses) and every schema they reach."""
    refs: set[str] = set()
    operations = {}
    for method, path in OPERATIONS:
        operation = spec["paths"][path][method]  # a KeyError here: the operation is not described
        responses = {}
        for status, response in operation.get("responses", {}).items():
            schema = ((response.get("content") or {}).get("application/json") or {}).get("schema")
            responses[status] = _strip(schema, refs) if schema else None
        body = ((operation.get("requestBody") or {}).get("content") or {}).get("application/json")
        operations[f"{method.upper()} {path}"] = {
            "operationId": operation.get("operationId"),
            "parameters": _strip(operation.get("parameters", []), refs),
            "requestBody": _strip(body["schema"], refs) if body else None,
            "responses": responses,
        }
    schemas: dict[str, t.Any] = {}
    pending = set(refs)
    while pending:
        ref = pending.pop()
        name = ref.rsplit("/", 1)[-1]
        if name in schemas:
            continue
        found: set[str] = set()
        schemas[name] = _strip(spec["components"]["schemas"][name], found)
        pending |= {r for r in found if r.rsplit("/", 1)[-1] not in schemas}
    return {"source": SOURCE, "openapi": spec["openapi"], "operations": operations,
            "components": {"schemas": dict(sorted(schemas.items()))}}


def render(extract: dict[str, t.Any]) -> str:
    return json.dumps(extract, indent=1, sort_keys=True) + "\n"


def _load_spec() -> dict[str, t.Any]:
    yaml = pytest.importorskip("yaml")
    return yaml.load(SPEC.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def test_the_extract_is_what_the_script_takes_from_intercoms_description():
    if not SPEC.exists():
        pytest.skip("../shared/vendor-specs is not beside this checkout")
    assert json.loads(EXTRACT.read_text()) == build_extract(_load_spec())


def test_the_extract_covers_the_operations_the_fake_serves():
    """Runs without the description: the fake's contract file is complete and well formed."""
    from tests.fakes.intercom_api import ROUTES

    extract = json.loads(EXTRACT.read_text())
    assert sorted(extract["operations"]) == sorted(f"{m.upper()} {p}" for m, p in OPERATIONS)
    assert {f"{m} {p}" for m, p, _ in ROUTES} == set(extract["operations"])


if __name__ == "__main__":
    EXTRACT.write_text(render(build_extract(_load_spec())))
    print(f"wrote {EXTRACT}")
