"""Answering a question from the articles: the topic, the aspect asked, and honest declines.

A follow-up ("how many reps?", "what causes it?") is resolved against the conversation's
topic before anything is searched; a question that names a topic of its own starts a new
one. When the articles cover the topic but not the aspect asked (a healing time, a dose),
the reply says so and gives what they do say, marked not covered.
"""

from __future__ import annotations

import re
from dataclasses import replace

from bot.answer import compose_answer, source_of
from bot.aspects import Aspect, aspect_of
from bot.config import Settings
from bot.dialogue.intents import plain_words
from bot.dialogue.reply import Draft
from bot.dialogue.state import ConversationState
from bot.dialogue.texts import reply_texts
from bot.dialogue.topics import (
    Resolution,
    TopicResolver,
    answers_aspect,
    family_of,
    prefer_aspect,
)
from bot.lexical import words
from bot.retrieval import Hit, Retrieval, Retriever
from bot.safety import Screening, caveat_texts, caveats_in
from bot.safety.rules import RuleBook
from bot.text import sentences
from bot.unmentioned import without

# The safety screen reads every character; the article search reads this much of it.
MAX_SEARCH_CHARS = 10_000
# How many topics of a conversation are remembered for "back to the bridge...".
MAX_SEEN = 8
_ALTERNATIVES = re.compile(r"\s+or\s+(?:should i\s+|do i\s+)?")


class Answerer:
    """Finds and phrases what the articles say; holds only read-only parts."""

    def __init__(self, retriever: Retriever, settings: Settings, book: RuleBook) -> None:
        self.retriever = retriever
        self.settings = settings
        self.book = book
        self.family = family_of(retriever.index.passages)
        # Sub-section names by heading path: "Here are some exercises:" is completed with them.
        self.children = {
            path: list(dict.fromkeys(p.section for p in passages))
            for path, passages in self.family.items()
        }
        self.topics = _topics(retriever)
        self.resolver = TopicResolver(retriever, self.family)

    def offer(self) -> str:
        """Say what the articles cover."""
        topics = "; ".join(topic.lower().rstrip("?") for topic in self.topics)
        return reply_texts().offer.format(topics=topics)

    def answer(
        self, state: ConversationState, text: str, screening: Screening, draft: Draft
    ) -> None:
        """Answer a question (or a story that ends in one) into the draft."""
        texts = reply_texts()
        if len(text) > MAX_SEARCH_CHARS:
            draft.add("info", texts.long_message)
            text = text[:MAX_SEARCH_CHARS]
        queries = search_queries(text)
        asked = queries[0]
        aspect = aspect_of(asked)
        resolution = self.resolver.resolve(state, asked, aspect)
        if resolution is None:
            result = self._search(queries, text)
            # "How often should I foam roll?": "often" is what is asked about the topic, and
            # "my dad" (the screen's someone else) is who the question is about.
            people = {
                w for m in self.book.cues.third_person.finditer(asked.lower()) for w in words(m[0])
            }
            unmentioned = [
                w
                for w in result.unmentioned
                if aspect_of(without(asked, w)) == aspect and w not in people
            ]
            result = replace(result, unmentioned=tuple(unmentioned))
            if result.covered and result.unmentioned:
                self._closest_passage(result, draft)
                return
            if not result.covered:
                draft.add("info", texts.not_covered.format(offer=self.offer()))
                for caveat in caveat_texts(screening.caveats, self.book):
                    draft.add("caveat", caveat)
                return
            general = not self.resolver.names_topic(asked) or (aspect and aspect.lists)
            overview = set(self.children) if general else None
            hits = prefer_aspect(
                list(result.hits),
                aspect,
                overview,
                lambda hit: self.resolver.naming(hit.passage, asked, aspect),
            )
            resolution = Resolution(hits, result.query, follows=False)
        hits = resolution.hits
        if (
            aspect
            and aspect.needs
            and not self.resolver.gives_for(
                hits[0].passage, aspect, asked, follows=resolution.follows
            )
        ):
            subject = hits[0] if resolution.follows else self.resolver.subject_of(hits, asked)
            self._aspect_missing(state, aspect, [subject], draft)
            return
        state.aspect = aspect.name if aspect else None
        self._present(
            state,
            resolution.query,
            hits,
            draft,
            screening,
            aspect=aspect,
            new_topic=resolution.new_topic,
            focused=resolution.follows,
        )
        if not resolution.follows:
            self._other_alternative(state, asked, hits[0], draft)

    def _other_alternative(
        self, state: ConversationState, asked: str, answered: Hit, draft: Draft
    ) -> None:
        """For "should I rest or see someone?", add when the articles say to see a doctor.

        The first answer follows the question as a whole (rest); a choice whose other side
        asks whether to see someone also gets the articles' own words on when to.
        """
        sides = _ALTERNATIVES.split(asked)
        aspects = [aspect_of(side) for side in sides]
        doctor = next((a for a in aspects if a and a.name == "doctor" and a.follow_up), None)
        if len(sides) != 2 or doctor is None or answers_aspect(answered.passage, doctor):
            return
        result = self.retriever.search(doctor.follow_up.format(topic="it"))
        hits = prefer_aspect(list(result.hits), doctor)
        if not result.covered or not answers_aspect(hits[0].passage, doctor):
            return
        hit = hits[0]
        answer = compose_answer(asked, hit.passage, self.children, doctor)
        draft.add("answer", f"On {hit.passage.section.lower().rstrip('?')}: {answer}")
        others = [s for s in draft.sources if s.passage_id != hit.passage.passage_id]
        draft.sources = [*others[:1], source_of(hit), *others[1:]][: self.settings.top_k]
        state.answered.append(hit.passage.passage_id)
        state.last_sources = [source.as_dict() for source in draft.sources]

    def _search(self, queries: list[str], text: str) -> Retrieval:
        """Search the question (and its context); the question alone wins unless worse."""
        searches = [self.retriever.search(query) for query in queries]
        if not any(search.covered for search in searches) and text not in queries:
            searches.append(self.retriever.search(text))  # the question hid in the story
        if not any(search.covered for search in searches) and not searches[0].unmentioned:
            # "ice or heat?": the articles may cover one of the two.
            sides = [side for side in _ALTERNATIVES.split(queries[0]) if side.strip(" ?")]
            if len(sides) == 2:
                searches += [self.retriever.search(side) for side in sides]
        # A reading that names nothing the articles never use wins over one that does ("a
        # guy at parkrun said trochanteric bursitis??" at the end of a covered story).
        searches = [s for s in searches if s.covered and not s.unmentioned] or searches
        best = max(search.confidence for search in searches)
        return next(s for s in searches if s.confidence >= best - 0.05)

    def _closest_passage(self, result: Retrieval, draft: Draft) -> None:
        """The question names something no article mentions: say so, then the nearest text.

        "does turmeric help with inflammation?" is not answered by the inflammation passage,
        and "any tips after parkrun?" still deserves the tips: the reader judges, told plainly.
        """
        terms = " or ".join(f'"{term}"' for term in result.unmentioned)
        draft.add("info", reply_texts().not_mentioned.format(terms=terms))
        self._nearest_said(result.hits[0], draft)

    def _nearest_said(self, hit: Hit, draft: Draft) -> None:
        """Add what a passage says, briefly, as its source but not an answer (not covered)."""
        answer = compose_answer(hit.passage.section, hit.passage, self.children, None, brief=True)
        draft.add("answer", answer)
        draft.sources = [source_of(hit)]
        draft.covered = False

    def _aspect_missing(
        self, state: ConversationState, aspect: Aspect, hits: list[Hit], draft: Draft
    ) -> None:
        """The topic is covered but not what was asked about it: say so, then what is said."""
        passage = hits[0].passage
        topic = passage.section.lower()
        draft.add("info", reply_texts().aspect_missing.format(missing=aspect.missing, topic=topic))
        self._nearest_said(hits[0], draft)
        state.topic, state.topic_id, state.aspect = (
            passage.section,
            passage.passage_id,
            aspect.name,
        )
        state.last_sources = [source.as_dict() for source in draft.sources]

    def _present(
        self,
        state: ConversationState,
        query: str,
        hits: list[Hit],
        draft: Draft,
        screening: Screening | None = None,
        *,
        aspect: Aspect | None = None,
        new_topic: bool = True,
        focused: bool = False,
    ) -> None:
        passage = hits[0].passage
        answer = compose_answer(query, passage, self.children, aspect, focused=focused)
        draft.add("answer", answer)
        # The rest of a passage that was cut, for "tell me more".
        cut = len(answer) < 0.9 * len(passage.text)
        state.partial = [passage.passage_id] if cut else []
        draft.sources = [source_of(hit) for hit in hits[: self.settings.top_k]]
        draft.covered = True
        if new_topic:  # a follow-up keeps the subject ("how do I treat it?" stays on it)
            state.topic = passage.section
            state.topic_id = passage.passage_id
            state.topic_query = query
            state.seen = [*state.seen, passage.passage_id][-MAX_SEEN:]
            state.answered = []
        state.answered.append(passage.passage_id)
        # "Tell me more" goes on with close hits, then the sections beside this one.
        best = hits[0].score
        close = [(h.passage.passage_id, h.score) for h in hits[1:] if h.score >= 0.6 * best]
        siblings = [(p.passage_id, 0.0) for p in self.family.get(passage.path[:-1], [])]
        more = [item for item in close + siblings if item[0] not in state.answered]
        state.more = list(dict(more).items())[:5]
        state.last_sources = [source.as_dict() for source in draft.sources]
        mentions = set(screening.caveats if screening else ())
        mentions |= set(caveats_in(answer, self.book))
        for caveat in caveat_texts(sorted(mentions), self.book):
            draft.add("caveat", caveat)

    def more(self, state: ConversationState, draft: Draft) -> None:
        """Continue: first the rest of a shortened answer, then the next passages."""
        index = self.retriever.index
        while state.partial:
            row = index.row_of(state.partial.pop(0))
            if row is not None:
                passage = index.passages[row]
                draft.add("answer", passage.text)
                draft.sources = [source_of(Hit.of(passage))]
                draft.covered = True
                state.last_sources = [source.as_dict() for source in draft.sources]
                return
        while state.more:
            passage_id, score = state.more.pop(0)
            row = index.row_of(passage_id)
            if row is None:
                continue
            hit = Hit.of(index.passages[row], score)
            remaining = state.more
            query = state.topic_query or hit.passage.section
            self._present(state, query, [hit], draft, new_topic=False)
            state.more = remaining
            return
        about = f" about {state.topic.lower()}" if state.topic else ""
        draft.add("info", reply_texts().all_said.format(about=about))


def search_queries(text: str) -> list[str]:
    """Return what to search for: the question part first, then it with its context.

    People often describe first and ask last ("...lost weight. could it be arthritis?"):
    the question is searched alone and with the sentences before it, since a short one
    ("What helps?") needs them. Figures of speech become plain words.
    """
    parts = sentences(text)
    asked = [n for n, s in enumerate(parts) if s.rstrip().endswith("?")]
    candidates = [text]
    if len(parts) > 1 and asked:
        last = start = asked[-1]
        while start > 0 and len(" ".join(parts[start : last + 1]).split()) < 12:
            start -= 1
        candidates = [parts[last], " ".join(parts[start : last + 1])]
    queries = []
    for query in candidates:
        query = plain_words(query)
        if query and query not in queries:
            queries.append(query)
    return queries or [text]


def _topics(retriever: Retriever) -> list[str]:
    """Return the articles' top-level sections that have subsections: what the bot covers."""
    seen: list[str] = []
    for passage in retriever.index.passages:
        top = passage.path[0]
        if len(passage.path) > 1 and top not in seen and not re.match(r"(?i)faqs?$", top):
            seen.append(top)
    return seen or [passage.article_title for passage in retriever.index.passages[:1]]
