"""The dialogue policy: a pure function of (conversation state, user text) -> (reply, state).

It imports nothing from Telegram and prints nothing; the REPL, Telegram and `hipbot ask`
only render its replies. The precedence of what a reply says is written in one place,
`DialogueManager._compose`: the red-flag referral always comes before anything else.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from bot.answer import Source, compose_answer, source_of
from bot.config import Settings
from bot.retrieval import Hit, Retriever
from bot.safety import Level, SafetyScreen, Screening, caveat_texts, caveats_in, referral_text
from bot.safety.facts import Facts
from bot.safety.rules import RuleBook

# The safety screen reads every character; the article search reads this much of it.
MAX_SEARCH_CHARS = 10_000
LONG_MESSAGE_NOTE = (
    "Your message was very long: I read all of it for warning signs, but searched the "
    "articles with its beginning only."
)
CHECK_REPLIES = ("Yes", "No", "Not sure", "Skip")

DISCLAIMER = (
    "I share information from trusted articles about hip pain in runners. It is not a "
    "diagnosis and no substitute for a doctor or physiotherapist who can examine you."
)
REMINDER = (
    "See a doctor if the pain is severe, you can't put weight on the leg, you have a fever, "
    "numbness, or the pain gets worse or spreads (/redflags lists the warning signs)."
)
ESCALATED_NOTE = (
    "I won't go on to other topics until you've had help, so nothing delays you. "
    "When you have been seen, type /reset to start a new conversation."
)
INJECTION_NOTE = (
    "I can't change how I work: I always screen for warning signs and only share what the "
    "articles say."
)


class Intent(StrEnum):
    """What a message asks of the bot, before any medical content is considered."""

    EMPTY = "empty"
    GREETING = "greeting"
    HELP = "help"
    THANKS = "thanks"
    GOODBYE = "goodbye"
    RESET = "reset"
    SOURCES = "sources"
    MORE = "more"
    RED_FLAGS = "red_flags"
    INJECTION = "injection"
    NOT_ENGLISH = "not_english"
    QUESTION = "question"


def _whole(*phrases: str) -> re.Pattern[str]:
    """Match a message that is one of the phrases (a leading / and trailing . ! ? allowed)."""
    return re.compile(r"^/?(?:" + "|".join(phrases) + r")[.!?]*$")


def _opening(*phrases: str) -> re.Pattern[str]:
    """Match a message that starts with one of the phrases."""
    return re.compile(r"^(?:" + "|".join(phrases) + r")\b")


_INTENTS: list[tuple[Intent, re.Pattern[str]]] = [
    (Intent.RESET, _whole("reset", "start over", "restart", "new conversation", "clear")),
    (Intent.HELP, _whole("help", "what can you do", "how does this work", "commands", "menu")),
    (
        Intent.SOURCES,
        _whole(
            "sources?",
            "references?",
            "where (?:is|does) (?:this|that) (?:come )?from.*",
            "what are your sources",
            "which article.*",
        ),
    ),
    (Intent.RED_FLAGS, _whole("red ?flags?", "warning signs")),
    (
        Intent.MORE,
        _whole(
            "tell me more",
            "more",
            "go on",
            "more please",
            "what else",
            "anything else",
            "more info",
            "keep going",
            "continue",
        ),
    ),
    (
        Intent.GREETING,
        _whole(
            "(?:hi+|hello+|hey+|hiya|howdy|yo|good (?:morning|afternoon|evening)|start)"
            "(?: there)?(?: hipbot)?"
        ),
    ),
    (
        Intent.THANKS,
        _whole(
            "thanks?(?: you)?(?: so much)?",
            "thank u",
            "thx",
            "ty",
            "cheers",
            "ta",
            "(?:great|ok|brilliant),? thanks",
        ),
    ),
    (
        Intent.GOODBYE,
        _whole(
            "bye+", "goodbye", "see ya", "see you", "later", "cya", "quit", "exit", "good ?night"
        ),
    ),
    (
        Intent.INJECTION,
        re.compile(
            r"(?:ignore|disregard|forget) (?:all |your |the |any )?(?:previous |prior )?"
            r"(?:rules|instructions|prompts?|guidelines)|\bjailbreak\b|system prompt|"
            r"pretend (?:you are|to be)|you are now|act as (?:a|an|my) "
        ),
    ),
]
_FOLLOW_UP = re.compile(r"\b(it|that|this|them|those|these|they)\b")
# Figures of speech that hide what a question is about ("my hip is killing me").
_PLAIN_WORDS = [
    (re.compile(r"\b(is|are) (killing|murdering) me\b"), r"\1 hurting"),
    (re.compile(r"\bscreaming at me\b"), "hurting"),
    (re.compile(r"\b(lol|lmao|haha+|tbh|ngl)\b"), ""),
]
# A follow-up is rewritten around the topic it refers to, so that retrieval sees a question.
_FOLLOW_UP_FORMS = [
    (
        re.compile(r"\b(serious|dangerous|bad|worry|worried|concern\w*)\b"),
        "is {topic} serious, when is it a problem",
    ),
    (re.compile(r"\b(treat\w*|fix|cure|get rid|heal\w*)\b"), "how to treat {topic}"),
    (re.compile(r"\b(prevent\w*|avoid|stop)\b"), "how to prevent {topic}"),
    (re.compile(r"\b(cause\w*|why)\b"), "what causes {topic}"),
]
_OWN_PAIN = re.compile(r"\b(my|i|i'm|i've|me)\b")
_PAIN = re.compile(
    r"\b(pain\w*|hurt\w*|ache\w*|aching|achy|sore|injur\w*|throb\w*|tender|twinge\w*|niggle"
    r"|killing)\b"
)
_BODY = re.compile(r"\b(hips?|groin|thighs?|glutes?|buttocks?|bum|butt|legs?|pelvis)\b")

Answer = Literal["yes", "no", "not_sure", "skip"]
_ANSWERS: list[tuple[Answer, re.Pattern[str]]] = [
    (
        "skip",
        _opening(
            "/?skip", "stop", "no thanks", "not now", "later", "i'?d rather not", "don'?t want to"
        ),
    ),
    (
        "not_sure",
        _opening(
            "not sure",
            "unsure",
            "don'?t know",
            "dunno",
            "maybe",
            "no idea",
            "possibly",
            "i think so",
            "kind of",
            "sort of",
            "perhaps",
            "can'?t tell",
        ),
    ),
    (
        "yes",
        _opening(
            "yes",
            "yeah",
            "yep",
            "yup",
            "ya",
            "yea",
            "y",
            "sure",
            "correct",
            "i did",
            "i do",
            "i am",
            "i have",
            "true",
            "definitely",
            "it is",
            "it does",
            "i can",
        ),
    ),
    (
        "no",
        _opening(
            "no",
            "nope",
            "nah",
            "n",
            "not really",
            "never",
            "i didn'?t",
            "i don'?t",
            "i can'?t",
            "i cannot",
            "it isn'?t",
            "it doesn'?t",
            "none",
        ),
    ),
]


class CheckProgress(BaseModel):
    """Where the scripted safety check stands.

    With `rule` set, one question is pending: that rule's own check, asked because the
    learned layer half-recognised its warning sign.
    """

    index: int = 0
    fell: bool = False
    rule: str | None = None


class ConversationState(BaseModel):
    """Everything the bot remembers about one conversation; small and JSON-serialisable."""

    turns: int = 0
    disclaimer_shown: bool = False
    escalation: str | None = None
    escalation_rules: list[str] = Field(default_factory=list)
    topic: str | None = None
    topic_query: str | None = None
    more: list[tuple[str, float]] = Field(default_factory=list)
    answered: list[str] = Field(default_factory=list)
    last_sources: list[dict] = Field(default_factory=list)
    check: CheckProgress | None = None
    check_done: bool = False
    facts: Facts = Field(default_factory=Facts)
    partial: list[str] = Field(default_factory=list)

    def after(self, screening: Screening) -> ConversationState:
        """Return a copy for the next turn, with the facts this message told."""
        state = self.model_copy(deep=True)
        state.turns += 1
        state.facts = state.facts.adding(screening.new_facts)
        return state

    def escalate(self, level: Level, rules: list[str]) -> None:
        """Raise the sticky escalation to an urgent or emergency level (kept until /reset)."""
        self.escalation = max(Level.parse(self.escalation or "self_care"), level).label
        self.escalation_rules += [r for r in rules if r not in self.escalation_rules]
        self.check = None


SegmentKind = Literal[
    "emergency", "urgent", "doctor", "answer", "caveat", "info", "question", "disclaimer"
]


@dataclass(frozen=True)
class Segment:
    """One part of a reply; front ends style it by kind (referrals stand out)."""

    kind: SegmentKind
    text: str


@dataclass(frozen=True)
class Reply:
    """What the bot says, with what the `hipbot ask` contract reports about it."""

    segments: tuple[Segment, ...]
    triage: Level = Level.SELF_CARE
    red_flags: tuple[str, ...] = ()
    covered: bool = False
    sources: tuple[Source, ...] = ()
    quick_replies: tuple[str, ...] = ()

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
class _CheckOutcome:
    """What an answer to a check question did, for `_compose` to put in order."""

    answered: bool = False
    level: Level = Level.SELF_CARE
    rules: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    question: str | None = None


@dataclass
class _Draft:
    """A reply being put together."""

    segments: list[Segment] = field(default_factory=list)
    covered: bool = False
    sources: list[Source] = field(default_factory=list)
    quick_replies: tuple[str, ...] = ()

    def add(self, kind: SegmentKind, text: str) -> None:
        if text and all(segment.text != text for segment in self.segments):
            self.segments.append(Segment(kind, text))


def clean_message(text: str) -> str:
    """Drop control characters and surplus whitespace (the whole text is kept)."""
    text = "".join(
        " " if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") else char for char in text
    )
    return re.sub(r"\s+", " ", text).strip()


def classify(text: str) -> Intent:
    """Return the conversational intent of a cleaned message."""
    if not text or not re.search(r"\w", text):
        return Intent.EMPTY
    lowered = text.lower()
    for intent, pattern in _INTENTS:
        if pattern.search(lowered):
            return intent
    letters = [char for char in text if char.isalpha()]
    if letters and sum(char.isascii() for char in letters) / len(letters) < 0.5:
        return Intent.NOT_ENGLISH
    return Intent.QUESTION


def parse_check_answer(text: str) -> Answer | None:
    """Read a yes / no / not sure / skip answer to a check question, if it is one."""
    lowered = text.lower().strip()
    for answer, pattern in _ANSWERS:
        if pattern.search(lowered):
            return answer
    return None


class DialogueManager:
    """Decides every reply. Holds only read-only parts: the retriever and the safety screen."""

    def __init__(self, retriever: Retriever, safety: SafetyScreen, settings: Settings) -> None:
        self.retriever = retriever
        self.safety = safety
        self.settings = settings
        self.book = safety.book
        self.topics = _topics(retriever)
        self.children = _children(retriever)

    def respond(self, state: ConversationState, text: str) -> Turn:
        """Reply to one message.

        Args:
            state: the conversation so far (not modified).
            text: what the person typed.

        Returns:
            The reply and the new state. The same state and text always give the same turn.
        """
        text = clean_message(text)
        intent = classify(text)
        if intent == Intent.QUESTION:
            # One batch for every query retrieval may search; later calls find these
            # embeddings in the embedder's cache.
            self.retriever.embedder.embed_queries(_queries(text[:MAX_SEARCH_CHARS]))
        # Always, before anything is decided, with the facts told earlier. The learned layer
        # reads what people tell about themselves; commands, greetings and attempts to
        # rewrite the rules get the rules alone (which still catch any red flag in them).
        facts = state.facts.known()
        screening = (
            self.safety.screen_with_learned(text, facts)
            if intent == Intent.QUESTION
            else self.safety.screen_rules_only(text, facts)
        )
        state = state.after(screening)
        if intent == Intent.RESET:
            state = ConversationState(turns=state.turns, disclaimer_shown=state.disclaimer_shown)
        return self._compose(state, text, intent, screening)

    def _compose(
        self, state: ConversationState, text: str, intent: Intent, screening: Screening
    ) -> Turn:
        """Put the reply together in the one order that keeps people safe.

        1. A red flag at emergency or urgent level, now or earlier in this conversation:
           the referral is the reply; nothing else may delay the person.
        2. A red flag at doctor level: the referral line first, then what was asked.
        3. Otherwise: what was asked, with the scripted safety check when someone
           describes their own pain, and a reminder of when to see a doctor.
        """
        draft = _Draft()
        rules = [finding.rule_id for finding in screening.fired]
        check = self._advance_check(state, text)
        level = max(screening.level, check.level)
        rules += [rule for rule in check.rules if rule not in rules]
        referred = list(rules)

        if level >= Level.URGENT:
            state.escalate(level, rules)
        if state.escalation:
            self._referral(draft, Level.parse(state.escalation), state.escalation_rules, rules)
            for note in check.notes:
                draft.add("info", note)
            return self._finish(state, draft, level, rules)

        if level == Level.DOCTOR:
            self._referral(draft, level, referred, referred)
        for note in check.notes:
            draft.add("info", note)
        serious_mention = self._safety_net(screening, draft)
        if intent == Intent.INJECTION:
            draft.add("info", INJECTION_NOTE)
        elif not check.answered and not serious_mention:
            self._handle(intent, state, text, screening, draft)
        if level == Level.SELF_CARE and intent == Intent.QUESTION and draft.covered:
            draft.add("info", REMINDER)
        if level == Level.DOCTOR and screening.fired:
            # "is that serious?" then means the warning sign, not the article section.
            state.topic = self.book.rule(screening.fired[0].rule_id).title
        if check.question:
            draft.add("question", check.question)
            draft.quick_replies = CHECK_REPLIES
        elif not check.answered:
            self._maybe_start_check(state, text, intent, screening, level, draft)
        if not state.disclaimer_shown and intent != Intent.GOODBYE:
            draft.add("disclaimer", DISCLAIMER)
            state.disclaimer_shown = True
        return self._finish(state, draft, level, rules)

    # --- the parts of a reply ------------------------------------------------------------

    def _referral(self, draft: _Draft, level: Level, rule_ids: list[str], now: list[str]) -> None:
        """Add the referral: its first line says what to do and how fast."""
        for segment in referral_segments(self.book, self.settings, level, rule_ids, now):
            draft.add(segment.kind, segment.text)

    def _handle(
        self,
        intent: Intent,
        state: ConversationState,
        text: str,
        screening: Screening,
        draft: _Draft,
    ) -> None:
        if intent == Intent.EMPTY:
            draft.add(
                "info",
                "I didn't catch a question there. Ask me anything about hip pain "
                "after running, or type /help.",
            )
        elif intent == Intent.GREETING:
            draft.add("info", f"Hi! I'm hipbot. {self._offer()}")
        elif intent == Intent.HELP:
            draft.add("info", self._help())
        elif intent == Intent.THANKS:
            draft.add("info", "You're welcome. Take care of that hip, and ask me anytime.")
        elif intent == Intent.GOODBYE:
            draft.add("info", "Bye for now, and happy (careful) running!")
        elif intent == Intent.RESET:
            draft.add("info", f"Starting over. {self._offer()}")
        elif intent == Intent.SOURCES:
            draft.add("info", self._sources_text(state))
        elif intent == Intent.RED_FLAGS:
            draft.add("info", self._red_flags_text())
        elif intent == Intent.NOT_ENGLISH:
            draft.add("info", "Sorry, I can only read English for now. " + self._offer())
        elif intent == Intent.MORE:
            self._more(state, draft)
        elif parse_check_answer(text) and len(text.split()) <= 2:
            draft.add("info", "OK. Ask me anything about hip pain after running.")
        else:
            self._answer(state, text, screening, draft)

    def _answer(
        self, state: ConversationState, text: str, screening: Screening, draft: _Draft
    ) -> None:
        rewritten_used = False
        if len(text) > MAX_SEARCH_CHARS:
            draft.add("info", LONG_MESSAGE_NOTE)
            text = text[:MAX_SEARCH_CHARS]
        queries = _queries(text)
        searches = [self.retriever.search(query) for query in queries]
        if not any(search.covered for search in searches) and text not in queries:
            searches.append(self.retriever.search(text))  # the question hid in the story
        # The question alone wins unless more of the message reads clearly better.
        best = max(search.confidence for search in searches)
        result = next(s for s in searches if s.confidence >= best - 0.05)
        query = result.query
        if state.topic and _FOLLOW_UP.search(text.lower()) and len(text.split()) <= 10:
            # "how do I treat it?" after "what is bursitis?" -> "how to treat bursitis";
            # the rewrite wins only if it reads better ("could it be arthritis?" needs none).
            rewritten = next(
                (form for pattern, form in _FOLLOW_UP_FORMS if pattern.search(text.lower())),
                "{text} ({topic})",
            ).format(text=query, topic=state.topic.lower())
            follow_up = self.retriever.search(rewritten)
            if follow_up.covered and follow_up.confidence >= result.confidence - 0.05:
                query, result, rewritten_used = rewritten, follow_up, True
        if not result.covered:
            draft.add(
                "info",
                "The articles I have don't cover that, so I'd rather not guess. " + self._offer(),
            )
            for caveat in caveat_texts(screening.caveats, self.book):
                draft.add("caveat", caveat)
            return
        hits = list(result.hits)
        if rewritten_used:  # a follow-up wants something new, not what was just said
            hits.sort(key=lambda hit: hit.passage.passage_id in state.answered)
        self._present(state, query, hits, draft, screening, query_is_new=not rewritten_used)

    def _present(
        self,
        state: ConversationState,
        query: str,
        hits: list[Hit],
        draft: _Draft,
        screening: Screening | None = None,
        *,
        query_is_new: bool = True,
    ) -> None:
        answer, used = compose_answer(query, hits, self.children)
        draft.add("answer", answer)
        state.partial = [
            hit.passage.passage_id for hit in used if len(hit.passage.text) > len(answer)
        ]
        top_k = self.settings.top_k
        shown = hits[:top_k]
        draft.sources = [source_of(hit) for hit in shown]
        draft.covered = True
        if query_is_new:  # follow-ups keep the subject they follow ("is that serious?")
            state.topic = used[0].passage.section
            state.topic_query = query
            state.answered = []
        state.answered += [hit.passage.passage_id for hit in used]
        best = hits[0].score
        used_ids = {hit.passage.passage_id for hit in used}
        state.more = [
            (hit.passage.passage_id, hit.score)
            for hit in hits[1:]
            if hit.passage.passage_id not in used_ids and hit.score >= 0.6 * best
        ][:5]
        state.last_sources = [source.as_dict() for source in draft.sources]
        mentions = set(screening.caveats if screening else ())
        mentions |= set(caveats_in(answer, self.book))
        for caveat in caveat_texts(sorted(mentions), self.book):
            draft.add("caveat", caveat)

    def _more(self, state: ConversationState, draft: _Draft) -> None:
        index = self.retriever.index
        while state.partial:  # first, the rest of what the last answer shortened
            row = index.row_of(state.partial.pop(0))
            if row is not None:
                passage = index.passages[row]
                draft.add("answer", passage.text)
                draft.sources = [source_of(Hit(passage, 1.0, 1.0, 0.0))]
                draft.covered = True
                state.last_sources = [source.as_dict() for source in draft.sources]
                return
        while state.more:
            passage_id, score = state.more.pop(0)
            row = index.row_of(passage_id)
            if row is None:
                continue
            hit = Hit(index.passages[row], score, score, 0.0)
            remaining = state.more
            query = state.topic_query or hit.passage.section
            self._present(state, query, [hit], draft, query_is_new=False)
            state.more = remaining
            return
        topic = f" about {state.topic.lower()}" if state.topic else ""
        draft.add("info", f"That's all the articles say{topic}. Ask me something else?")

    def _safety_net(self, screening: Screening, draft: _Draft) -> bool:
        """For red flags asked about (not reported), say what to do if they ever happen.

        Returns:
            Whether one of them is an emergency or urgent flag: then this scripted advice is
            the answer, because article advice (heat, stretching...) could do harm.
        """
        serious = False
        for finding in screening.mentioned:
            if finding.context == "hypothetical":
                rule = self.book.rule(finding.rule_id)
                draft.add("info", f"If that ever happens: {referral_text(rule, self.settings)}")
                serious = serious or finding.level >= Level.URGENT
        return serious

    # --- the scripted check -------------------------------------------------------------------

    def _maybe_start_check(
        self,
        state: ConversationState,
        text: str,
        intent: Intent,
        screening: Screening,
        level: Level,
        draft: _Draft,
    ) -> None:
        if state.check is not None and state.check.rule:
            state.check = None  # a one-question check not answered is not repeated
        if state.check is not None:
            draft.add("question", self._check_question(state.check.index, resumed=True))
            draft.quick_replies = CHECK_REPLIES
            return
        typed = text.lower()
        describes_own_pain = (
            intent == Intent.QUESTION
            and level == Level.SELF_CARE
            and not screening.cues & {"hypothetical", "past", "someone_else"}
            and _OWN_PAIN.search(typed)
            and _PAIN.search(typed)
            and _BODY.search(typed)
        )
        fired = {finding.rule_id for finding in screening.fired}
        asks = [rule for rule in screening.asks if rule not in fired]
        if intent == Intent.QUESTION and level < Level.URGENT and asks:
            # The learned layer half-recognised a warning sign: ask rather than guess.
            state.check = CheckProgress(rule=asks[0])
            draft.add("question", f"To be safe: {self.book.rule(asks[0]).check}")
            draft.quick_replies = CHECK_REPLIES
        elif describes_own_pain and not state.check_done:
            state.check = CheckProgress()
            draft.add("question", self._check_question(0, resumed=False))
            draft.quick_replies = CHECK_REPLIES

    def _check_question(self, index: int, *, resumed: bool) -> str:
        check = self.book.checks[index]
        if resumed:
            return f"Back to the safety check: {check.question}"
        if index == 0:
            return (
                "Before anything else, a few quick safety questions (answer Yes, No, Not sure, "
                f"or Skip). {check.question}"
            )
        return check.question

    def _advance_check(self, state: ConversationState, text: str) -> _CheckOutcome:
        """Apply an answer to the pending check question, if the message is one."""
        if state.check is None:
            return _CheckOutcome()
        answer = parse_check_answer(text)
        if answer is None:
            return _CheckOutcome()
        progress = state.check
        outcome = _CheckOutcome(answered=True)
        if progress.rule:
            rule = self.book.rule(progress.rule)
            state.check = None
            if answer in (rule.check_red, "not_sure"):
                outcome.rules, outcome.level = [rule.rule_id], rule.level
            else:
                outcome.notes.append("Thanks, that's reassuring. " + REMINDER)
            return outcome
        check = self.book.checks[progress.index]
        if answer == "skip":
            state.check, state.check_done = None, True
            outcome.notes.append("OK, I'll stop the questions. " + REMINDER)
            return outcome
        red = answer in (check.red_answer, "not_sure")
        if red and check.check_id == "fall":
            progress.fell = True
        elif red and check.rule_id:
            rule_id = check.after_fall if (progress.fell and check.after_fall) else check.rule_id
            outcome.rules = [rule_id]
            outcome.level = self.book.rule(rule_id).level
            if answer == "not_sure":
                outcome.notes.append("You're not sure, so let's be safe.")
        progress.index += 1
        if outcome.level >= Level.URGENT:
            state.check = None
        elif progress.index < len(self.book.checks):
            outcome.question = self._check_question(progress.index, resumed=False)
        else:
            state.check, state.check_done = None, True
            outcome.notes.append(
                "Thanks. Nothing you told me needs urgent care right now. " + REMINDER
            )
        return outcome

    # --- fixed texts ---------------------------------------------------------------------------

    def _offer(self) -> str:
        return (
            "I can help with questions about hip pain after running: "
            + "; ".join(topic.lower().rstrip("?") for topic in self.topics)
            + ". Type /help to see what else I can do."
        )

    def _help(self) -> str:
        return (
            'Ask me about hip pain after running in your own words, for example "why does '
            'the outside of my hip hurt?" or "how do I stretch my hip flexors?". I answer '
            "from trusted articles and tell you which ones. I also watch for warning signs "
            "and will tell you when to see a doctor.\n"
            "Commands: /sources (where my last answer came from), /redflags (warning signs), "
            "/reset (start over), /help."
        )

    def _sources_text(self, state: ConversationState) -> str:
        if not state.last_sources:
            return "I haven't quoted any article yet in this conversation."
        lines = ["Sources of my last answer:"]
        for number, source in enumerate(state.last_sources, 1):
            lines.append(f"{number}. {source['article']}: {' > '.join(source['path'])}")
        return "\n".join(lines)

    def _red_flags_text(self) -> str:
        groups = {
            Level.EMERGENCY: f"Call {self.settings.emergency_number} now if:",
            Level.URGENT: "Get seen today if:",
            Level.DOCTOR: "See a doctor or physiotherapist soon if:",
        }
        lines = []
        for level, heading in groups.items():
            lines.append(heading)
            lines.extend(f"- {rule.title}" for rule in self.book.rules if rule.level == level)
        return "\n".join(lines)

    def _finish(
        self, state: ConversationState, draft: _Draft, level: Level, rules: list[str]
    ) -> Turn:
        reply = Reply(
            segments=tuple(draft.segments),
            triage=max(level, Level.parse(state.escalation or "self_care")),
            red_flags=tuple(rules),
            covered=draft.covered,
            sources=tuple(draft.sources),
            quick_replies=draft.quick_replies,
        )
        return Turn(reply, state)


def _queries(text: str) -> list[str]:
    """Return what to search for: the message or, for a longer one, its question part.

    People often describe first and ask last ("...lost weight. could it be arthritis?"):
    the question is searched alone and with the sentences before it, since a short one
    ("What helps?") needs them. Figures of speech become plain words ("my hip is killing
    me" -> "my hip is hurting").
    """
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
    asked = [n for n, s in enumerate(sentences) if s.rstrip().endswith("?")]
    candidates = [text]
    if len(sentences) > 1 and asked:
        last = asked[-1]
        start = last
        while start > 0 and len(" ".join(sentences[start : last + 1]).split()) < 12:
            start -= 1
        candidates = [sentences[last], " ".join(sentences[start : last + 1])]
    queries = []
    for query in candidates:
        for pattern, plain in _PLAIN_WORDS:
            query = pattern.sub(plain, query)
        query = re.sub(r"\s+", " ", query).strip()
        if query and query not in queries:
            queries.append(query)
    return queries or [text]


def _children(retriever: Retriever) -> dict[tuple[str, ...], list[str]]:
    """Map each heading path to the names of its sub-sections, in article order."""
    children: dict[tuple[str, ...], list[str]] = {}
    for passage in retriever.index.passages:
        if len(passage.path) > 1:
            names = children.setdefault(passage.path[:-1], [])
            if passage.section not in names:
                names.append(passage.section)
    return children


def _topics(retriever: Retriever) -> list[str]:
    """Return the articles' top-level sections that have subsections: what the bot covers."""
    seen: list[str] = []
    for passage in retriever.index.passages:
        top = passage.path[0]
        if len(passage.path) > 1 and top not in seen and not re.match(r"(?i)faqs?$", top):
            seen.append(top)
    return seen or [passage.article_title for passage in retriever.index.passages[:1]]


def referral_segments(
    book: RuleBook, settings: Settings, level: Level, rule_ids: list[str], now: list[str]
) -> list[Segment]:
    """Return a referral: the first line says what to do and how fast, one urgency only.

    Args:
        book: the rule book (titles and scripted referrals).
        settings: the deployment's emergency wording.
        level: the reply's level (doctor, urgent or emergency).
        rule_ids: every red flag the referral is for.
        now: the red flags this message raised (the others are named as told earlier).
    """
    kind: SegmentKind = {Level.EMERGENCY: "emergency", Level.URGENT: "urgent"}.get(level, "doctor")
    first = {
        Level.EMERGENCY: f"Call {settings.emergency_number} now or go to "
        f"{settings.emergency_department}.",
        Level.URGENT: f"Please get seen by a clinician today ({settings.urgent_care}) and stop "
        "running until then.",
        Level.DOCTOR: "Please ask a pharmacist or doctor before taking it."
        if set(rule_ids) == {"medication_risk"}
        else "Please book an appointment with a doctor or physiotherapist in the next few days.",
    }[level]
    segments = [Segment(kind, first)]
    earlier = [rule for rule in rule_ids if rule not in now]
    if earlier:
        titles = "; ".join(book.rule(rule).title.lower() for rule in earlier)
        segments.append(Segment(kind, f"Earlier you told me about: {titles}."))
    # One urgency per reply: only the scripts written for this level are shown; a lower
    # rule's script ("book an appointment") would blur an emergency.
    rules = [book.rule(rule) for rule in rule_ids]
    segments += [Segment(kind, referral_text(r, settings)) for r in rules if r.level == level]
    others = [rule.title.lower() for rule in rules if rule.level != level]
    if others:
        segments.append(Segment(kind, f"Warning signs in what you said: {'; '.join(others)}."))
    if level >= Level.URGENT:
        segments.append(Segment("info", ESCALATED_NOTE))
    return segments


def respond_before_model(
    safety: SafetyScreen, settings: Settings, state: ConversationState, text: str
) -> Turn | None:
    """Answer an urgent or emergency message with the rules alone, before any model loads.

    Returns:
        The referral turn when the rules find an urgent or emergency red flag (or the
        conversation is already escalated), else None: the full dialogue must answer.
    """
    text = clean_message(text)
    screening = safety.screen_rules_only(text, state.facts.known())
    level = screening.level
    if level < Level.URGENT and not state.escalation:
        return None
    state = state.after(screening)
    rules = [finding.rule_id for finding in screening.fired]
    if level >= Level.URGENT:
        state.escalate(level, rules)
    escalation = Level.parse(state.escalation or "self_care")
    segments = referral_segments(safety.book, settings, escalation, state.escalation_rules, rules)
    reply = Reply(tuple(segments), triage=escalation, red_flags=tuple(rules))
    return Turn(reply, state)
