"""Pydantic models of the platform API: request validation and the OpenAPI schemas.

Requests are validated strictly (no type coercion, unknown fields refused) so a wrong
field gets a 400 naming it. Response models are not used to serialise (the dicts come
from :mod:`connector.representations`); they describe those dicts in the OpenAPI
document, and the API tests validate every response against them.
"""

from __future__ import annotations

import typing as t

from pydantic import AnyHttpUrl
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import EmailStr
from pydantic import Field
from pydantic import field_validator
from pydantic import model_serializer
from pydantic import model_validator

MAX_TEXT = 20_000
ShortText = t.Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    """Request bodies, validated from raw JSON (strict: no coercion, no unknown fields)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    #: where an error about the whole body points
    root_error_field: t.ClassVar[str] = "body"


class Out(BaseModel):
    """Response shapes: every field is present in the JSON (nullable where it may be null)."""

    model_config = ConfigDict(json_schema_mode_override="serialization")


# -- requests ----------------------------------------------------------------------------


class ShopperIn(Strict):
    name: ShortText | None = None
    email: EmailStr | None = None


class ConversationCreate(Strict):
    external_id: ShortText | None = Field(None, description="The chat platform's own id; creating twice returns the same conversation.")
    shopper: ShopperIn = Field(default_factory=ShopperIn)


class AttachmentIn(Strict):
    url: AnyHttpUrl
    name: ShortText
    content_type: str = Field(pattern=r"^[\w.+-]+/[\w.+-]+$", max_length=200)


class MessageCreate(Strict):
    #: where a whole-message error (no text, no attachments) points
    root_error_field: t.ClassVar[str] = "text"

    author: t.Literal["shopper", "ai", "human"]
    text: str = Field(max_length=MAX_TEXT)
    author_name: ShortText | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _has_content(self) -> "MessageCreate":
        if not self.text.strip() and not self.attachments:
            raise ValueError("text is empty and there are no attachments")
        return self


class ActionIn(Strict):
    """The optional body of hand over, give back and resolve."""

    reason: str | None = Field(None, max_length=1000, description="Why, for the event log.")
    actor: ShortText | None = Field(None, description="Who acted (an agent's name), for the event log.")


class HandoverIn(ActionIn):
    """The optional body of hand over; the chat platform may escalate itself."""

    automatic: bool = Field(False, description="An automatic escalation: follows the workspace's mode (automate or semi_automate).")
    scenario: ShortText | None = Field(None, description="The scenario that fired; required when automatic.")

    @model_validator(mode="after")
    def _scenario_when_automatic(self) -> "HandoverIn":
        if self.automatic and not self.scenario:
            raise ValueError("an automatic handover names its scenario")
        return self

    root_error_field: t.ClassVar[str] = "scenario"


class EvaluateScenario(Strict):
    name: ShortText
    instruction: str = Field(min_length=1, max_length=2000)
    examples: list[t.Annotated[str, Field(min_length=1, max_length=1000)]] = Field(default_factory=list, max_length=50)


class EvaluateIn(Strict):
    messages: list[t.Annotated[str, Field(max_length=5000)]] = Field(min_length=1, max_length=500)
    scenarios: list[EvaluateScenario] | None = Field(None, max_length=50, description="Defaults to the workspace's scenarios.")


Sensitivity = t.Literal["low", "medium", "high"]
SENSITIVITY_HELP = ("How readily the scenario fires: low (only when sure), medium, high (catches more, with more false "
                    "fires). Unset: low in automate mode, medium in semi_automate.")


class ScenarioIn(Strict):
    name: ShortText
    instruction: str = Field(min_length=1, max_length=2000)
    examples: list[t.Annotated[str, Field(min_length=1, max_length=1000)]] = Field(default_factory=list, max_length=50)
    sensitivity: Sensitivity | None = Field(None, description=SENSITIVITY_HELP)

    @model_serializer(mode="wrap")
    def _omit_unset_sensitivity(self, handler: t.Callable[[t.Any], dict[str, t.Any]]) -> dict[str, t.Any]:
        # a scenario saved without one reads back as it was saved: no "sensitivity" key
        data = handler(self)
        if data.get("sensitivity") is None:
            data.pop("sensitivity", None)
        return data


class HandoverSettings(Strict):
    enabled: bool
    mode: t.Literal["automate", "semi_automate"]
    scenarios: list[ScenarioIn] = Field(default_factory=list, max_length=50)
    claim_timeout_seconds: int | None = Field(
        None, ge=10, le=7 * 86400,
        description="A handover no human has replied to within this many seconds is unclaimed; null: off.")
    unclaimed_action: t.Literal["remind", "give_back"] = Field(
        "remind", description="remind: e-mail and nudge every linked tool; give_back: also give it back to the AI.")

    @field_validator("scenarios")
    @classmethod
    def _unique_names(cls, scenarios: list[ScenarioIn]) -> list[ScenarioIn]:
        seen: set[str] = set()
        for scenario in scenarios:
            key = scenario.name.casefold()
            if key in seen:
                raise ValueError(f"two scenarios are named {scenario.name!r}")
            seen.add(key)
        return scenarios


class NotificationSettings(Strict):
    recipients: list[EmailStr] = Field(max_length=50)


class PlatformWebhookIn(Strict):
    url: AnyHttpUrl


# -- responses ---------------------------------------------------------------------------


class ErrorBody(Out):
    code: str
    message: str
    field: str | None


class Error(Out):
    error: ErrorBody


class Shopper(Out):
    name: str | None
    email: str | None


class ConversationOut(Out):
    id: str
    external_id: str | None
    status: t.Literal["open", "resolved"]
    controller: t.Literal["ai", "human"]
    needs_you: bool = Field(description="Open and a human is in charge.")
    ai_may_reply: bool
    ever_handed_over: bool
    ai_resolution: bool = Field(description="Resolved and never handed over (counts toward the AI resolution quota).")
    shopper: Shopper
    version: int
    created_at: str
    updated_at: str


class Attachment(Out):
    url: str
    name: str
    content_type: str


class MessageOut(Out):
    id: str
    conversation_id: str
    author: t.Literal["shopper", "ai", "human", "system"]
    author_name: str | None
    text: str
    attachments: list[Attachment]
    created_at: str
    source: str


class Actor(Out):
    kind: str
    name: str | None


class EventOut(Out):
    id: str
    conversation_id: str
    type: t.Literal["handed_over", "handover_suggested", "human_joined", "given_back", "resolved", "reopened",
                  "handover_unclaimed"]
    actor: Actor
    trigger: t.Literal["manual", "automatic", "message"]
    reason: str | None
    scenario: str | None
    source: str
    at: str


class ConversationPage(Out):
    data: list[ConversationOut]
    next_cursor: str | None


class MessagePage(Out):
    data: list[MessageOut]
    next_cursor: str | None


class EventPage(Out):
    data: list[EventOut]
    next_cursor: str | None


class MessageCreated(Out):
    message: MessageOut
    conversation: ConversationOut


class Scenario(Out):
    name: str
    instruction: str
    examples: list[str]
    sensitivity: Sensitivity | None = Field(None, description=SENSITIVITY_HELP + " Present only when set.")


class HandoverSettingsOut(Out):
    enabled: bool
    mode: t.Literal["automate", "semi_automate"]
    scenarios: list[Scenario]
    claim_timeout_seconds: int | None
    unclaimed_action: t.Literal["remind", "give_back"]


class Percentiles(Out):
    p50: float | None
    p90: float | None


class HandoverFigures(Out):
    handovers: int
    claimed: int
    unclaimed: int
    time_to_claim_seconds: Percentiles
    time_to_resolve_seconds: Percentiles


class HandoverReport(HandoverFigures):
    since: str | None
    until: str | None
    by_source: dict[str, HandoverFigures]
    by_scenario: dict[str, HandoverFigures]
    per_day: dict[str, int] = Field(description="Handovers per UTC day (YYYY-MM-DD).")


class NotificationSettingsOut(Out):
    recipients: list[str]


class PlatformWebhookOut(Out):
    url: str | None
    secret: str | None = Field(description="The signing secret; only in the answer to PUT, shown once.")


class Usage(Out):
    ai_resolutions: int
    handed_over_conversations: int
    resolved_conversations: int


class FiredOut(Out):
    scenario: str
    score: float = Field(ge=0, le=1)
    family: str = Field(description="Which detector family scored it: asks_for_human, money_threshold, frustration, free_text.")
    evidence: str = Field(description="What made it fire, in words (the request, the amount, the closest example).")


class EvaluationResult(Out):
    fired: list[FiredOut]


class EvaluateOut(Out):
    results: list[EvaluationResult]
