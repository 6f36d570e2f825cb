"""The dialogue policy: a pure function of (conversation state, user text) -> (reply, state).

It imports nothing from Telegram and prints nothing; the REPL, Telegram and `hipbot ask`
only render its replies. The precedence of what a reply says is written in one place,
`DialogueManager._compose`: the red-flag referral always comes before anything else.
"""

from __future__ import annotations

from bot.config import Settings
from bot.dialogue.answering import MAX_SEARCH_CHARS, Answerer, search_queries
from bot.dialogue.check import CHECK_REPLIES, SafetyCheck, describes_own_pain
from bot.dialogue.intents import (
    Intent,
    classify,
    command_list,
    parse_check_answer,
)
from bot.dialogue.referral import referral_segments
from bot.dialogue.reply import Draft, Reply, Turn
from bot.dialogue.state import ConversationState, after_message
from bot.dialogue.texts import reply_texts
from bot.retrieval import Retriever
from bot.safety import Level, SafetyScreen, Screening, referral_text
from bot.text import clean_message


class DialogueManager:
    """Decides every reply. Holds only read-only parts: the retriever and the safety screen."""

    def __init__(self, retriever: Retriever, safety: SafetyScreen, settings: Settings) -> None:
        self.retriever = retriever
        self.safety = safety
        self.settings = settings
        self.book = safety.book
        self.answerer = Answerer(retriever, settings, safety.book)
        self.check = SafetyCheck(safety.book)

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
            self.retriever.embedder.embed_queries(search_queries(text[:MAX_SEARCH_CHARS]))
        # Always, before anything is decided, with the facts told earlier. The learned layer
        # reads what people tell about themselves; commands, greetings and attempts to
        # rewrite the rules get the rules alone (which still catch any red flag in them).
        facts = state.facts.known()
        screening = (
            self.safety.screen_with_learned(text, facts)
            if intent == Intent.QUESTION
            else self.safety.screen_rules_only(text, facts)
        )
        state, screening = after_message(state, screening, text, self.book)
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
        3. Otherwise: what was asked; the reminder of when to see a doctor once per
           conversation and again when someone describes their own pain; then, after the
           answer, the scripted safety check when someone describes their own pain.
        4. The disclaimer, once per conversation.
        """
        texts = reply_texts()
        draft = Draft()
        rules = [finding.rule_id for finding in screening.fired]
        check = self.check.advance(state, text)
        level = max(screening.level, check.level)
        rules += [rule for rule in check.rules if rule not in rules]

        if level >= Level.URGENT:
            state.escalate(level, rules)
        if state.escalation:
            escalation = Level.parse(state.escalation)
            draft.extend(
                referral_segments(
                    self.book, self.settings, escalation, state.escalation_rules, rules
                )
            )
            for note in check.notes:
                draft.add("info", note)
            return self._finish(state, draft, level, rules)

        if level == Level.DOCTOR:
            draft.extend(referral_segments(self.book, self.settings, level, rules, rules))
        for note in check.notes:
            draft.add("info", note)
        serious_mention = self._safety_net(screening, draft)
        if intent == Intent.INJECTION:
            draft.add("info", texts.injection)
        elif not check.answered and not serious_mention:
            self._handle(intent, state, text, screening, draft)
        own_pain = describes_own_pain(text, screening)
        if (
            level == Level.SELF_CARE
            and intent == Intent.QUESTION
            and draft.covered
            and (not state.reminded or own_pain)
            and not any(
                "see a doctor" in seg.text for seg in draft.segments if seg.kind == "answer"
            )
        ):
            draft.add("info", texts.reminder)
            state.reminded = True
        if level == Level.DOCTOR and screening.fired:
            # "is that serious?" then means the warning sign, not the article section.
            state.topic = self.book.rule(screening.fired[0].rule_id).title
            state.topic_id = None
        if check.question:
            draft.add("question", check.question)
            draft.quick_replies = CHECK_REPLIES
        elif not check.answered:
            self.check.maybe_start(state, text, intent, screening, level, draft)
        if not state.disclaimer_shown and intent != Intent.GOODBYE:
            draft.add("disclaimer", texts.disclaimer)
            state.disclaimer_shown = True
        return self._finish(state, draft, level, rules)

    def _handle(
        self,
        intent: Intent,
        state: ConversationState,
        text: str,
        screening: Screening,
        draft: Draft,
    ) -> None:
        texts = reply_texts()
        offer = self.answerer.offer()
        fixed = {
            Intent.EMPTY: texts.empty,
            Intent.GREETING: texts.greeting.format(offer=offer),
            Intent.HELP: texts.help.format(commands=command_list()),
            Intent.THANKS: texts.thanks,
            Intent.GOODBYE: texts.goodbye,
            Intent.RESET: texts.reset.format(offer=offer),
            Intent.NOT_ENGLISH: texts.not_english.format(offer=offer),
            Intent.UNKNOWN_COMMAND: texts.unknown_command.format(commands=command_list()),
        }
        if intent in fixed:
            draft.add("info", fixed[intent])
        elif intent == Intent.SOURCES:
            draft.add("info", self._sources_text(state))
        elif intent == Intent.RED_FLAGS:
            draft.add("info", self._red_flags_text())
        elif intent == Intent.MORE:
            self.answerer.more(state, draft)
        elif parse_check_answer(text) and len(text.split()) <= 2:
            draft.add("info", texts.bare_answer)
        else:
            self.answerer.answer(state, text, screening, draft)

    def _safety_net(self, screening: Screening, draft: Draft) -> bool:
        """For red flags asked about (not reported), say what to do if they ever happen.

        Returns:
            Whether one of them is an emergency or urgent flag: then this scripted advice is
            the answer, because article advice (heat, stretching...) could do harm.
        """
        serious = False
        for finding in screening.mentioned:
            if finding.context == "hypothetical":
                rule = self.book.rule(finding.rule_id)
                referral = referral_text(rule, self.settings)
                draft.add("info", reply_texts().if_ever.format(referral=referral))
                serious = serious or finding.level >= Level.URGENT
        return serious

    def _sources_text(self, state: ConversationState) -> str:
        if not state.last_sources:
            return reply_texts().no_sources
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
        self, state: ConversationState, draft: Draft, level: Level, rules: list[str]
    ) -> Turn:
        asks = draft.quick_replies == CHECK_REPLIES and state.check is not None
        if asks:
            state.check.asked_at = state.turns
        reply = Reply(
            segments=tuple(draft.segments),
            triage=max(level, Level.parse(state.escalation or "self_care")),
            red_flags=tuple(rules),
            covered=draft.covered,
            sources=tuple(draft.sources),
            quick_replies=draft.quick_replies,
            question=state.question_key() if asks else None,
        )
        return Turn(reply, state)
