"""The dialogue policy: a pure function of (conversation state, user text) -> (reply, state).

It imports nothing from Telegram and prints nothing; the REPL, Telegram and `hipbot ask`
only render its replies. The precedence of what a reply says is written in one place,
`DialogueManager._compose`: the red-flag referral always comes before anything else.
"""

from __future__ import annotations

from bot.config import Settings
from bot.dialogue.answering import MAX_SEARCH_CHARS, Answerer, search_queries
from bot.dialogue.check import CHECK_REPLIES, SafetyCheck, describes_own_pain
from bot.dialogue.guided import ClosedQuestions
from bot.dialogue.intents import Intent, classify, command_list, is_bare_answer
from bot.dialogue.referral import referral_segments
from bot.dialogue.reply import Draft, Reply, Segment, Turn
from bot.dialogue.state import ConversationState, after_message
from bot.dialogue.texts import reply_texts
from bot.guide import Guide
from bot.retrieval import Retriever
from bot.safety import Level, SafetyScreen, Screening, referral_text
from bot.text import clean_message


class DialogueManager:
    """Decides every reply. Holds only read-only parts: the retriever and the safety screen."""

    def __init__(
        self,
        retriever: Retriever,
        safety: SafetyScreen,
        settings: Settings,
        guide: Guide | None = None,
    ) -> None:
        self.retriever = retriever
        self.safety = safety
        self.settings = settings
        self.book = safety.book
        self.answerer = Answerer(retriever, settings, safety.book)
        self.check = SafetyCheck(safety.book)
        self.choices = ClosedQuestions(guide, retriever, settings)

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
        # An option chosen ("At night", "2") is screened as the sentence it stands for.
        screened = self.choices.screened_text(state, text)
        screening = (
            self.safety.screen_with_learned(screened, facts)
            if intent == Intent.QUESTION
            else self.safety.screen_rules_only(screened, facts)
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
        chosen = self.choices.chosen(state, text)
        check = self.check.advance(state, text)
        draft.check_answer = check.record
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
        state.note_doctor(rules if level == Level.DOCTOR else [], screening, self.book)
        for note in check.notes:
            draft.add("info", note)
        serious_mention = self._safety_net(screening, draft)
        if intent == Intent.INJECTION:
            draft.add("info", texts.injection)
        elif chosen is not None:
            self.choices.apply(state, chosen, draft)
        elif not check.answered and not serious_mention:
            if intent == Intent.QUESTION and state.choosing is not None:
                self._drop_choosing(state)  # asked something else: the question lapses
            self._handle(intent, state, text, screening, draft)
        own_pain = intent == Intent.QUESTION and describes_own_pain(text, screening)
        state.own_pain = state.own_pain or own_pain
        if (
            own_pain
            and level == Level.SELF_CARE
            and not state.guide_done
            and self.choices.wants_guide(text)
            and not self.answerer.resolver.names_topic(text)
        ):
            state.guide_wanted = True  # asked once the safety check is over
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
        elif not check.answered and chosen is None:
            self.check.maybe_start(state, text, intent, screening, level, draft)
        if state.check is None and not draft.quick_replies and level < Level.URGENT:
            # The safety check comes first; then where it hurts, or the check-in offer.
            if state.guide_wanted and (check.answered or state.check_done):
                self.choices.start_guide(state, draft)
            elif check.answered:
                self.choices.offer_checkin(state, draft)
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
        elif intent in (Intent.HELPFUL, Intent.NOT_HELPFUL):
            self._feedback(intent, state, draft)
        elif intent == Intent.CHECKIN:
            self._checkin_command(state, text, draft)
        elif is_bare_answer(text):
            draft.add("info", texts.bare_answer)
        else:
            self.answerer.answer(state, text, screening, draft)
            draft.declined = not draft.covered

    def check_in(self, state: ConversationState) -> Turn:
        """Ask a due check-in (a front end's scheduler calls this): has the pain improved?"""
        state = state.model_copy(deep=True)
        draft = Draft()
        if state.escalation or state.check is not None:
            state.checkin = None  # a referral or the safety check is already under way
            return self._finish(state, draft, Level.SELF_CARE, [])
        state.checkin, draft.checkin = "asking", "asked"
        self.choices.ask(state, "checkin", draft)
        return self._finish(state, draft, Level.SELF_CARE, [])

    def pending(self, state: ConversationState) -> Reply | None:
        """Return the question a conversation waits on, asked again (resuming a chat)."""
        check = self.check.pending(state)
        if check is not None:
            return Reply((Segment("question", check),), quick_replies=CHECK_REPLIES)
        if state.choosing is not None:
            draft = Draft()
            self.choices.ask(state.model_copy(deep=True), state.choosing.question, draft)
            return Reply(tuple(draft.segments), quick_replies=draft.quick_replies)
        return None

    def _drop_choosing(self, state: ConversationState) -> None:
        if state.choosing is not None and state.choosing.question == "checkin":
            state.checkin = None
        elif state.choosing is not None and state.choosing.question == "checkin_offer":
            state.checkin = "declined"
        state.choosing = None

    def _feedback(self, intent: Intent, state: ConversationState, draft: Draft) -> None:
        texts = reply_texts()
        if not state.last_sources:
            draft.add("info", texts.feedback_nothing)
            return
        draft.feedback = "helpful" if intent == Intent.HELPFUL else "not_helpful"
        draft.rated = tuple(source["passage_id"] for source in state.last_sources)
        draft.add("info", texts.feedback_thanks)

    def _checkin_command(self, state: ConversationState, text: str, draft: Draft) -> None:
        """/checkin tells whether one is planned; /checkin off cancels it."""
        texts = reply_texts()
        scheduled = state.checkin in ("scheduled", "asking")
        if not scheduled:
            draft.add("info", texts.checkin_none)
        elif text.lower().split()[1:2] in (["off"], ["cancel"], ["stop"]):
            state.checkin, draft.checkin = None, "cancelled"
            if state.choosing is not None and state.choosing.question == "checkin":
                state.choosing = None
            draft.add("info", texts.checkin_cancelled)
        else:
            draft.add("info", texts.checkin_status)

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
        if state.choosing is not None and not draft.quick_replies:
            self._drop_choosing(state)  # a closed question not asked this turn has lapsed
        reply = Reply(
            segments=tuple(draft.segments),
            triage=max(level, state.standing_level),
            red_flags=tuple(rules),
            covered=draft.covered,
            sources=tuple(draft.sources),
            quick_replies=draft.quick_replies,
            question=state.question_key() if asks or state.choosing is not None else None,
            record=draft.record(),
        )
        return Turn(reply, state)
