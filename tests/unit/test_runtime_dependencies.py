"""The app runs on its declared dependencies alone, without what only the tests install.

`make run` installs the package without the test extras; a module that the code imports but
only a test tool brings along (greenlet comes with playwright, say) would pass every test and
still break a fresh install. This test imports the app, every plugin and their request
handlers in a subprocess where every installed distribution outside the runtime
dependency closure is hidden.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import subprocess
import sys
import textwrap

from packaging.requirements import Requirement


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure(root: str = "handover-connector") -> set[str]:
    """Distributions reachable from the package's own requirements (extras it asks for included)."""
    seen: set[str] = set()
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        key = canonical(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if key in seen and not extras:
            continue
        seen.add(key)
        for raw in dist.requires or []:
            requirement = Requirement(raw)
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": extra}) for extra in (extras or {""})):
                continue
            todo.append((requirement.name, frozenset(requirement.extras)))
    return seen


def hidden_modules() -> set[str]:
    allowed = runtime_closure()
    hidden = set()
    for dist in metadata.distributions():
        if canonical(dist.metadata["Name"]) in allowed:
            continue
        top = dist.read_text("top_level.txt")
        names = top.split() if top else [canonical(dist.metadata["Name"]).replace("-", "_")]
        hidden.update(names)
    return hidden - {"pip", "setuptools", "_distutils_hack", "pkg_resources", "wheel"}


def test_the_app_and_its_plugins_import_with_runtime_dependencies_only(tmp_path):
    hidden = sorted(hidden_modules())
    assert "playwright" in hidden and "hypothesis" in hidden  # the test tools are hidden indeed
    script = textwrap.dedent(f"""
        import importlib.abc, sys
        HIDDEN = set({hidden!r})

        class Hide(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in HIDDEN:
                    raise ModuleNotFoundError(f"{{name}} is not a runtime dependency", name=name)
                return None

        sys.meta_path.insert(0, Hide())
        import os
        os.environ["CONNECTOR_SECRET_KEY"] = "r" * 40
        os.environ["CONNECTOR_DATABASE_URL"] = "sqlite:///{tmp_path}/r.db"
        from connector.app import create_app
        app = create_app()
        names = sorted(p.name for p in app.extensions["connector"].plugins)
        assert names == ["gorgias", "intercom", "slack", "zendesk"], names
        import handover_gorgias.hooks, handover_intercom.hooks, handover_slack.hooks, handover_zendesk.hooks  # noqa
        import connector.cli, connector.server  # noqa
        from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore  # noqa
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
