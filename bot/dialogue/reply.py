"""A reply as the front ends render it: ordered segments plus what the JSON contract reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from bot.answer import Source
from bot.safety import Level

if TYPE_CHECKING:
    from bot.dialogue.state import ConversationState

SegmentKind = Literal[
    "emergency", "urgent", "doctor", "answer", "caveat", "info", "question", "disclaimer"
]


@dataclass(frozen=True)
class Segment:
    """One part of a reply; front ends style it by kind (referrals stand out)."""

    kind: SegmentKind
    text: str


@dataclass(frozen=True)
class Record:
    """What a turn did, for the activity log and the maintainers' report; never the text.

    The front ends store it (bot/activity.py); the dialogue stays free of databases.
    """

    declined: bool = False  # a question the articles do not cover
    check_answer: str | None = None  # "<check or rule>:<answer>", e.g. "fall:no"
    guide: str | None = None  # "<question>:<option>", e.g. "place:outside"
    checkin: str | None = None  # offered, accepted, declined, cancelled, improved, same, worse
    feedback: str | None = None  # helpful, not_helpful
    rated: tuple[str, ...] = ()  # the passages the feedback is about


@dataclass(frozen=True)
class Reply:
    """What the bot says, with what the `hipbot ask` contract reports about it."""

    segments: tuple[Segment, ...]
    triage: Level = Level.SELF_CARE
    red_flags: tuple[str, ...] = ()
    covered: bool = False
    sources: tuple[Source, ...] = ()
    quick_replies: tuple[str, ...] = ()
    # The check question the quick replies answer (ConversationState.question_key).
    question: str | None = None
    record: Record = Record()

    @property
    def rateable(self) -> bool:
        """Whether the reply is an answer from the articles that people can rate."""
        return self.covered and bool(self.sources)

    @property
    def text(self) -> str:
        """Return the reply as plain text, segments separated by blank lines."""
        return "\n\n".join(segment.text for segment in self.segments)

    def as_dict(self) -> dict:
        """Return the JSON object of the `hipbot ask` contract."""
        return {
            "reply": self.text,
            "triage": self.triage.label,
            "red_flags": list(self.red_flags),
            "covered": self.covered,
            "sources": [source.as_dict() for source in self.sources],
            "quick_replies": list(self.quick_replies),
        }


@dataclass(frozen=True)
class Turn:
    """A reply and the state to remember for the next message."""

    reply: Reply
    state: ConversationState


@dataclass
class Draft:
    """A reply being put together; a text already in it is not added twice."""

    segments: list[Segment] = field(default_factory=list)
    covered: bool = False
    sources: list[Source] = field(default_factory=list)
    quick_replies: tuple[str, ...] = ()
    declined: bool = False
    check_answer: str | None = None
    guide: str | None = None
    checkin: str | None = None
    feedback: str | None = None
    rated: tuple[str, ...] = ()

    def record(self) -> Record:
        """Return what this turn did, for the activity log."""
        return Record(
            self.declined, self.check_answer, self.guide, self.checkin, self.feedback, self.rated
        )

    def add(self, kind: SegmentKind, text: str) -> None:
        """Append a segment unless its text is empty or already said."""
        if text and all(segment.text != text for segment in self.segments):
            self.segments.append(Segment(kind, text))

    def extend(self, segments: list[Segment]) -> None:
        """Append segments in order, each as `add` would."""
        for segment in segments:
            self.add(segment.kind, segment.text)
