"""The Gorgias side of the set-up, idempotent: one HTTP integration and one macro.

``configure`` checks the key (``GET /api/account``), then creates or updates the macro
"Give back to AI" (adds the tag ``give_back_to_ai``) and, last, the HTTP integration that
POSTs the ids of every ``ticket-message-created`` and ``ticket-updated`` to the hook URL.
Both are found again by their stored ids, or by name when a run failed half way (nothing
is stored then), so running it again creates nothing new.
"""

from __future__ import annotations

import json
import typing as t
import urllib.parse

from connector.plugins import DeliveryError
from connector.plugins import GiveUp
from connector.plugins import Health
from connector.plugins import IntegrationBroken
from connector.plugins import RetryLater
from connector.plugins.webhooks import UrlTokens

from handover_gorgias.client import GorgiasClient
from handover_gorgias.client import NotFound
from handover_gorgias.payload import FORM
from handover_gorgias.payload import GIVE_BACK_TAG
from handover_gorgias.payload import TRIGGERS
from handover_gorgias.render import GIVE_BACK_MACRO
from handover_gorgias.verify import new_nonce

HOOK_PATH = "/hooks/gorgias/"


def integration_name(workspace_id: str) -> str:
    return f"AI handover connector ({workspace_id})"


def hook_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{HOOK_PATH}{token}"


def integration_body(workspace_id: str, url: str) -> dict[str, t.Any]:
    return {"type": "http", "name": integration_name(workspace_id),
            "description": "Relays agents' replies, closed tickets and the give_back_to_ai tag to the AI handover connector.",
            "http": {"url": url, "method": "POST", "headers": {}, "request_content_type": "application/json",
                     "response_content_type": "application/json", "form": FORM,
                     "triggers": {name: True for name in TRIGGERS}}}


def macro_body() -> dict[str, t.Any]:
    return {"name": GIVE_BACK_MACRO, "intent": None, "actions": [
        {"name": "addTags", "title": "Add tags", "type": "user", "arguments": {"tags": GIVE_BACK_TAG}}]}


def account(client: GorgiasClient) -> dict[str, t.Any]:
    """``GET /api/account``, with a 404 (no such account) and a 401 said in words."""
    try:
        return client.get("/account", "the account") or {}
    except NotFound:
        raise GiveUp(f"unknown domain: no Gorgias account answers at {client.settings.base_url}") from None
    except IntegrationBroken:
        raise IntegrationBroken(f"bad API key: Gorgias refused {client.settings.email} with this API key "
                                "(Settings > REST API in Gorgias)") from None


def configure(client: GorgiasClient, tokens: UrlTokens, workspace_id: str, base_url: str) -> dict[str, t.Any]:
    """Set Gorgias up for a workspace; the settings values to store."""
    settings = client.settings
    account(client)
    same_workspace = settings.workspace_id == workspace_id
    nonce = settings.token_nonce if (settings.token_nonce and same_workspace and not settings.rotate_token) else None
    nonce = nonce or new_nonce()
    macro_id = _save_macro(client, settings.macro_id)
    integration_id = _save_integration(client, tokens, settings.integration_id, workspace_id, nonce, base_url)
    return {"workspace_id": workspace_id, "token_nonce": nonce, "integration_id": integration_id,
            "macro_id": macro_id, "rotate_token": False}


def _save_macro(client: GorgiasClient, macro_id: int | None) -> int:
    body = macro_body()
    if macro_id is None:
        found = [m for m in client.list("/macros", "macros", search=GIVE_BACK_MACRO) if m.get("name") == GIVE_BACK_MACRO]
        macro_id = found[0]["id"] if found else None
    if macro_id is not None:
        try:
            current = client.get(f"/macros/{macro_id}", "the macro")
            if current.get("name") != body["name"] or current.get("actions") != body["actions"]:
                client.put(f"/macros/{macro_id}", "the macro", {"name": body["name"], "actions": body["actions"]})
            return int(macro_id)
        except NotFound:
            pass  # deleted in Gorgias: make it again
    return int(client.post("/macros", "create the macro", body)["id"])


def _save_integration(client: GorgiasClient, tokens: UrlTokens, integration_id: int | None, workspace_id: str,
                      nonce: str, base_url: str) -> int:
    name = integration_name(workspace_id)
    if integration_id is None:
        found = [x for x in client.list("/integrations", "integrations", type="http") if x.get("name") == name]
        integration_id = found[0]["id"] if found else None
    if integration_id is not None:
        try:
            current = client.get(f"/integrations/{integration_id}", "the HTTP integration")
        except NotFound:
            current = None  # deleted in Gorgias: make it again
        if current is not None:
            url = (current.get("http") or {}).get("url") or ""
            if not url_is_current(tokens, url, base_url, workspace_id, nonce):
                url = hook_url(base_url, tokens.dumps(workspace_id, nonce))
            body = integration_body(workspace_id, url)
            if _differs(current, body):
                client.put(f"/integrations/{integration_id}", "the HTTP integration",
                           {k: v for k, v in body.items() if k != "type"} | {"deactivated_datetime": None})
            return int(integration_id)
    body = integration_body(workspace_id, hook_url(base_url, tokens.dumps(workspace_id, nonce)))
    return int(client.post("/integrations", "create the HTTP integration", body)["id"])


def _differs(current: dict[str, t.Any], body: dict[str, t.Any]) -> bool:
    if current.get("deactivated_datetime") is not None or current.get("name") != body["name"]:
        return True
    http = current.get("http") or {}
    return any(http.get(key) != value for key, value in body["http"].items())


def url_is_current(tokens: UrlTokens, url: str, base_url: str, workspace_id: str | None, nonce: str | None) -> bool:
    """Whether an integration's URL is this deployment's hook with the workspace's current token."""
    prefix = f"{base_url.rstrip('/')}{HOOK_PATH}"
    if not url.startswith(prefix):
        return False
    claims = tokens.loads(urllib.parse.unquote(url[len(prefix):]))
    return claims is not None and claims == (workspace_id, nonce)


def unconfigure(client: GorgiasClient) -> None:
    """Delete the integration and the macro (already gone is fine)."""
    settings = client.settings
    for path, what in ((f"/integrations/{settings.integration_id}", "the HTTP integration"),
                       (f"/macros/{settings.macro_id}", "the macro")):
        if path.endswith("/None"):
            continue
        try:
            client.delete(path, f"delete {what}")
        except NotFound:
            pass


def check(client: GorgiasClient, tokens: UrlTokens, base_url: str) -> Health:
    """The key, the account, and whether the integration and macro are in place, in words."""
    settings = client.settings
    try:
        account(client)
    except (GiveUp, IntegrationBroken) as exc:
        return Health(False, exc.reason)
    except RetryLater as exc:
        return Health(False, f"unreachable: {exc.reason}")
    problems = []
    try:
        if settings.integration_id is None:
            problems.append("the HTTP integration is not set up (run integration set)")
        else:
            current = client.get(f"/integrations/{settings.integration_id}", "the HTTP integration")
            url = (current.get("http") or {}).get("url") or ""
            if current.get("deactivated_datetime") is not None:
                problems.append("Gorgias deactivated the HTTP integration (too many failed calls): "
                                "run integration set to switch it on again")
            elif not url_is_current(tokens, url, base_url, settings.workspace_id, settings.token_nonce):
                problems.append("the HTTP integration calls another URL than this connector's hook: run integration set")
        if settings.macro_id is None:
            problems.append("the macro is not set up (run integration set)")
        else:
            client.get(f"/macros/{settings.macro_id}", "the macro")
    except NotFound as exc:
        problems.append(f"{exc.reason.split(':')[0]} was deleted in Gorgias: run integration set")
    except DeliveryError as exc:
        problems.append(exc.reason)
    if problems:
        return Health(False, "; ".join(problems))
    return Health(True, f"authenticated to {settings.domain} as {settings.email}; HTTP integration "
                        f"{settings.integration_id} calls this connector; macro “{GIVE_BACK_MACRO}” "
                        f"({settings.macro_id}) in place")


def manifest(base_url: str) -> bytes:
    """``gorgias/setup.md``: what ``integration set`` creates in Gorgias, for the admin to recognise."""
    example = integration_body("WORKSPACE", hook_url(base_url, "<token>"))
    return f"""# Gorgias set-up for {base_url}

Nothing to install by hand: one command sets Gorgias up through its REST API.

1. In Gorgias, open Settings > REST API and copy the API key (it belongs to the user whose
   e-mail address is shown there).
2. Run:

       connector integration set WORKSPACE gorgias domain=<acme for acme.gorgias.com> \\
           email=<that user's e-mail> api_key=<the key>

   It creates the HTTP integration below (Settings > Integrations > HTTP) and the macro
   "{GIVE_BACK_MACRO}" (adds the tag `{GIVE_BACK_TAG}`); running it again creates nothing new.
3. `connector integration test WORKSPACE gorgias` checks the key, the integration and the macro.
4. `connector integration set WORKSPACE gorgias rotate_token=true` replaces the URL's token
   (the old URL answers 401); `connector integration remove WORKSPACE gorgias` deletes both.

The HTTP integration (its URL carries a per-workspace token signed by this connector):

```json
{json.dumps(example, indent=2)}
```
""".encode()
