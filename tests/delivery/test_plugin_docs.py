"""docs/plugins.md documents every method of the plugin contract with its exact signature."""

from __future__ import annotations

import inspect
from pathlib import Path

from connector.plugins import Integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
METHODS = [name for name, value in vars(Integration).items() if callable(value) and not name.startswith("_")]


def heading(name: str) -> str:
    signature = inspect.signature(getattr(Integration, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values() if p.name != "self")
    return f"### `{name}({params}) -> {signature.return_annotation}`"


def test_every_method_is_documented_with_its_signature():
    text = DOC.read_text()
    assert METHODS, "the contract has methods"
    for name in METHODS:
        assert heading(name) in text, heading(name)


def test_the_guide_shows_the_fake_desk_as_it_is():
    """The complete plugin in docs/plugins.md is the one the test suite runs."""
    text = DOC.read_text()
    shown = text.split("```python\n", 1)[1].split("```", 1)[0]
    source = (Path(__file__).resolve().parents[1] / "plugins" / "fakedesk.py").read_text()
    assert shown == source
