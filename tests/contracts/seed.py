"""The seed generation's contract, written from its reference page (POST /campaigns).

Source: the seed page ``/work/shared/seed/000_47cff17849045863.txt`` (parameters,
the ``CampaignCreateResponse`` field list, and its JSON example, copied beside this
file as ``seed_create_response_example.json``). Required fields are required,
``Optional[...]`` ones may be absent or null, bounds (``minLength``,
``exclusiveMinimum``, ``minimum``/``maximum``) are kept, and unknown fields are
refused (``extra="forbid"``): a sandbox answer with a field the seed page does not
list fails here. The page has no row endpoint: ``SeedRowsResponse`` follows the
fields the official client (``revox`` 0.5.0) declares, with the seed's outcomes, and allows more.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_INT = 9007199254740991
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
Outcome = Literal[
    "not_interested", "interested", "completed", "requested_callback_later",
    "requested_callback_new_number", "do_not_contact",
]  # fmt: skip
PositiveInt = Annotated[int, Field(gt=0, le=MAX_INT)]
NonEmpty = Annotated[str, Field(min_length=1)]
Unit = Annotated[float, Field(ge=0, le=1)]


class _Seed(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# --- the request: CampaignCreateParams ------------------------------------------------------


class CallingWindow(_Seed):
    calling_window_end_time: str
    calling_window_start_time: str
    retry_delay_seconds: PositiveInt


class CallRetryConfig(_Seed):
    allowed_days: list[Weekday]
    call_twice_in_a_row: bool
    calling_windows: list[CallingWindow]
    max_retry_attempts: PositiveInt
    timezone: str | None = None


class Contact(_Seed):
    prompt_variables: dict[str, str]
    to_phone_number: str


class SeedCreateParams(_Seed):
    assistant_id: Annotated[str, Field(pattern=r"^[0-9a-fA-F-]{36}$")]  # format uuid
    contacts: list[Contact]
    launch: bool
    name: NonEmpty
    call_retry_config: CallRetryConfig | None = None
    from_phone_number: str | None = None
    max_concurrent_calls: Annotated[float, Field(ge=1)] | None = None
    scheduled_at: str | dict[str, object] | None = None  # Union[str, datetime] | object


# --- the answer: CampaignCreateResponse -------------------------------------------------------


class Calendly(_Seed):
    connection_id: str
    event_type_id: str


class KeyValue(_Seed):
    key: NonEmpty
    value: str


class Field_(_Seed):
    name: NonEmpty
    required: bool
    type: Literal["string", "number", "boolean", "enum", "date", "datetime"]
    description: str | None = None
    enum_options: list[str] | None = None


class CustomTool(_Seed):
    body_template: str | None = None
    description: NonEmpty
    headers: list[KeyValue]
    input_schema: list[Field_]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    name: NonEmpty
    query_params: list[KeyValue]
    url: NonEmpty


class DedicatedModel(_Seed):
    name: Literal["gpt-4.1", "ministral-3-8b-instruct"]
    type: Literal["dedicated-instance"]


class OpenRouterModel(_Seed):
    openrouter_model_id: str
    openrouter_provider: str
    type: Literal["openrouter"]


class CustomModel(_Seed):
    api_key: NonEmpty
    api_url: str
    model_name: NonEmpty
    type: Literal["custom"]


class RealtimeModel(_Seed):
    provider: Literal["openai", "google"]
    realtime_model_id: str
    type: Literal["realtime"]
    realtime_voice_id: NonEmpty | None = None


class Voice(_Seed):
    id: NonEmpty
    provider: Literal["cartesia", "elevenlabs"]
    speed: Annotated[float, Field(ge=0.6, le=1.5)] | None = None
    volume: Annotated[float, Field(ge=0.5, le=2)] | None = None


class FaqItem(_Seed):
    answer: str
    question: str
    id: str | None = None
    needs_human_answer: bool | None = None
    source: Literal["human", "ai"] | None = None


class Assistant(_Seed):
    id: str
    after_call_sms_prompt: str | None = None
    background_sound: Literal["audio/office.ogg"] | None = None
    background_sound_volume: Unit
    calendly: Calendly | None = None
    call_retry_config: CallRetryConfig | None = None
    created_at: object
    custom_tools: list[CustomTool] | None = None
    email_notification_address: str | None = None
    email_notification_outcomes: list[Outcome] | None = None
    end_of_call_sentence: str | None = None
    first_sentence: str | None = None
    first_sentence_delay_ms: Annotated[int, Field(ge=-MAX_INT, le=MAX_INT)]
    first_sentence_mode: Literal["generated", "static", "none"]
    from_phone_number: str | None = None
    human_transfer_mode: Literal["warm", "cold"] | None = None
    ivr_navigation_enabled: bool
    llm_model: DedicatedModel | OpenRouterModel | CustomModel | RealtimeModel
    max_call_duration_secs: float
    max_duration_end_message: Annotated[str, Field(max_length=150)] | None = None
    name: str
    organization_id: str
    prompt: str
    sms_enabled: bool
    sms_template: str | None = None
    structured_output_config: list[Field_] | None = None
    structured_output_prompt: str | None = None
    thinking_sound: (
        Literal[
            "city-ambience.ogg", "forest-ambience.ogg", "office-ambience.ogg", "crowded-room.ogg",
            "keyboard-typing.ogg", "keyboard-typing2.ogg", "hold_music.ogg",
        ]
        | None
    ) = None  # fmt: skip
    thinking_sound_probability: Unit
    thinking_sound_volume: Unit
    transfer_phone_number: str | None = None
    updated_at: object
    voice: Voice | None = None
    voicemail_message: str | None = None
    voicemail_sms_prompt: str | None = None
    warm_transfer_summary_instructions: str | None = None
    webhook_url: str | None = None
    faq_items: list[FaqItem] | None = None
    pending_faq_count: float | None = None


class RowStats(_Seed):
    calling: float
    completed: float
    failed: float
    pending: float
    retry: float
    total: float


class Campaign(_Seed):
    id: str
    assistant_id: str
    created_at: object
    is_cancelled: bool
    name: str
    organization_id: str
    status: Literal["draft", "running", "paused", "completed"]
    updated_at: object
    assistant: Assistant | None = None
    call_retry_config: CallRetryConfig | None = None
    from_phone_number: str | None = None
    max_concurrent_calls: float | None = None
    row_stats: RowStats | None = None
    scheduled_at: object = None
    structured_output_extraction: Literal["none", "running", "completed"] | None = None


class SeedCreateResponse(_Seed):
    campaign: Campaign


class SeedListResponse(_Seed):
    campaigns: list[Campaign]
    page: int | None = None
    page_size: int | None = None
    total: int | None = None


class SeedSuccess(_Seed):
    success: bool


# --- rows: the official client's fields with the seed's outcomes; more fields allowed ------


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class SeedAttempt(_Doc):
    status: Literal["queued", "ringing", "ongoing", "completed", "error"]
    result: Literal["human", "voicemail", "IVR", "unknown", "ios-screening-filter"] | None
    dial_error: str | None
    started_at: object
    answered_at: object
    ended_at: object
    end_reason: str | None
    ended_by: str | None
    recording_url: str | None
    structured_output: dict[str, object] | None
    transcript: list[dict[str, object]] | None


class SeedCall(_Doc):
    id: str
    status: Literal[
        "initializing", "queued_for_calling", "calling", "post_processing", "scheduled",
        "paused", "completed", "cancelled", "errored",
    ]  # fmt: skip
    calls_count: int
    outcome: Outcome | Literal["ai_averse"] | None
    outcome_summary: str | None
    last_call_attempt: SeedAttempt | None
    call_attempts: list[SeedAttempt]


class SeedRow(_Doc):
    id: str
    row_index: int
    phone_number: str
    input_data: dict[str, str]
    call: SeedCall | None


class SeedRowsResponse(_Doc):
    rows: list[SeedRow]
    page: int | None = None
    page_size: int | None = None
    total: int | None = None
