"""Closed questions in a conversation: "where does it hurt?" for vague messages, the check-in.

Both are asked only after the safety check is over and never while a referral stands; an
answer (a button, its number or words) is screened like any message, as the sentence the
option stands for (`Option.screen_as`). The guided answer lists what the articles say
about pain there, section by section: never "you have X".
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import numpy as np

from bot.answer import source_of
from bot.choices import ClosedQuestion, Option, parse_questions
from bot.config import Settings
from bot.corpus import Passage
from bot.dialogue.reply import Draft
from bot.dialogue.state import Choosing, ConversationState
from bot.dialogue.texts import reply_texts
from bot.errors import HipbotError
from bot.guide import STEPS, Guide
from bot.retrieval import Hit, Retriever
from bot.tables import parse_table
from bot.text import split_sentences

CHECKIN_QUESTIONS = ("checkin_offer", "checkin")


class QuestionTableError(HipbotError):
    """questions.toml is malformed: the message names the question and option."""


@cache
def checkin_questions() -> dict[str, ClosedQuestion]:
    """Return the check-in's closed questions from questions.toml, checked on load."""
    text = files("bot.dialogue").joinpath("questions.toml").read_text(encoding="utf-8")
    entries = parse_table(text, "questions.toml", QuestionTableError).get("question", [])
    questions = parse_questions(entries, "questions.toml", QuestionTableError)
    if tuple(questions) != CHECKIN_QUESTIONS:
        raise QuestionTableError(f"questions.toml: needs the questions {list(CHECKIN_QUESTIONS)}")
    return questions


class ClosedQuestions:
    """Asks the guided questions and the check-in, and applies their answers."""

    def __init__(self, guide: Guide | None, retriever: Retriever, settings: Settings) -> None:
        self.guide = guide
        self.retriever = retriever
        self.settings = settings
        self.questions = dict(checkin_questions())
        if guide is not None:
            self.questions.update(guide.questions)

    # --- reading answers -------------------------------------------------------------------

    def chosen(self, state: ConversationState, text: str) -> Option | None:
        """Return the option a message chooses for the pending closed question, if any."""
        if state.choosing is None or state.check is not None:
            return None
        return self.questions[state.choosing.question].choose(text)

    def screened_text(self, state: ConversationState, text: str) -> str:
        """Return what the safety screen reads: the message and what a chosen option means."""
        option = self.chosen(state, text)
        if option is None or not option.screen_as:
            return text
        return f"{text}. {option.screen_as}"

    def wants_guide(self, text: str) -> bool:
        """Whether a message about pain says too little to answer well: no place named."""
        return self.guide is not None and self.guide.question("place").named_in(text) is None

    # --- asking ----------------------------------------------------------------------------

    def ask(self, state: ConversationState, key: str, draft: Draft, lead: str = "") -> None:
        """Ask a closed question: its text (after a lead-in), its options as quick replies."""
        question = self.questions[key]
        text = question.ask.replace("{days}", f"{self.settings.checkin_days:g}")
        draft.add("question", lead.format(question=text) if lead else text)
        draft.quick_replies = question.labels()
        state.choosing = Choosing(
            question=key,
            asked_at=state.turns,
            chosen=state.choosing.chosen if state.choosing else {},
        )

    def start_guide(self, state: ConversationState, draft: Draft) -> None:
        """Ask where it hurts (the first guided question)."""
        state.guide_wanted, state.guide_done = False, True
        state.choosing = None
        self.ask(state, STEPS[0], draft, reply_texts().guide_start)

    def offer_checkin(self, state: ConversationState, draft: Draft) -> None:
        """Offer the two-week check-in once, to someone who told of pain of their own."""
        if (
            state.own_pain
            and state.checkin is None
            and self.settings.checkin_days > 0
            and not draft.quick_replies
        ):
            state.checkin = "offered"
            draft.checkin = "offered"
            self.ask(state, "checkin_offer", draft)

    # --- applying an answer ----------------------------------------------------------------

    def apply(self, state: ConversationState, option: Option, draft: Draft) -> None:
        """Apply the answer to the pending question: the next question, or what it leads to."""
        texts = reply_texts()
        key = state.choosing.question
        state.choosing.chosen[key] = option.key
        chosen = dict(state.choosing.chosen)
        state.choosing = None
        if key in STEPS:
            draft.guide = f"{key}:{option.key}"
            following = STEPS[STEPS.index(key) + 1 :]
            if following:
                self.ask(state, following[0], draft)
                state.choosing.chosen = chosen
            else:
                self._guided_answer(chosen, draft)
                state.last_sources = [source.as_dict() for source in draft.sources]
                self.offer_checkin(state, draft)
        elif key == "checkin_offer":
            draft.checkin = option.key
            state.checkin = "scheduled" if option.key == "accepted" else "declined"
            text = texts.checkin_scheduled if option.key == "accepted" else texts.checkin_declined
            draft.add("info", text.format(days=f"{self.settings.checkin_days:g}"))
        else:  # the check-in's answer; a referral for "not better" came from the screen
            draft.checkin = option.key
            state.checkin = None
            if option.key == "improved":
                draft.add("info", texts.checkin_better.format(reminder=texts.reminder))
            else:
                draft.add("info", texts.checkin_same)

    def _guided_answer(self, chosen: dict[str, str], draft: Draft) -> None:
        """List what the articles say about pain at the chosen place and time."""
        texts = reply_texts()
        picked = {key: self.questions[key].option(value) for key, value in chosen.items()}
        place = picked["place"].phrase or "in the hip"
        when = f" {picked['when'].phrase}" if picked.get("when") and picked["when"].phrase else ""
        passages = self.guide.sections(picked, list(self.retriever.index.passages))
        if not passages:
            draft.add("info", texts.guide_nothing.format(place=place, when=when, offer=""))
            return
        query = f"pain {place}{when}"
        lines = [texts.guide_answer.format(place=place, when=when)]
        for passage in passages:
            sentence = self._closest_sentence(query, passage)
            line = texts.guide_section.format(title=passage.section, sentence=sentence)
            lines.append(f"- {line}")
            draft.sources.append(source_of(Hit.of(passage)))
        lines.append(texts.guide_more)
        draft.add("answer", "\n".join(lines))
        draft.covered = True

    def _closest_sentence(self, query: str, passage: Passage) -> str:
        """Return the passage's sentence closest in meaning to the place and time asked."""
        sentences = [s for block in passage.text.split("\n\n") for s in split_sentences(block)]
        if len(sentences) <= 1:
            return sentences[0] if sentences else passage.text
        embedder = self.retriever.embedder
        scores = embedder.embed_passages(sentences) @ embedder.embed_queries([query])[0]
        return sentences[int(np.argmax(scores))]
