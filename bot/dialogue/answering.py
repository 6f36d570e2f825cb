"""Answering a question from the articles: the topic, the aspect asked, and honest declines.

A follow-up ("how many reps?", "what causes it?") is resolved against the conversation's
topic before anything is searched; a question that names a topic of its own starts a new
one. When the articles cover the topic but not the aspect asked (a healing time, a dose),
the reply says so and gives what they do say, marked not covered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.answer import compose_answer, source_of
from bot.aspects import Aspect, aspect_of
from bot.config import Settings
from bot.corpus import Passage
from bot.dialogue.intents import plain_words
from bot.dialogue.reply import Draft
from bot.dialogue.state import ConversationState
from bot.dialogue.texts import reply_texts
from bot.lexical import query_terms, terms
from bot.retrieval import Hit, Retrieval, Retriever
from bot.safety import Screening, caveat_texts, caveats_in
from bot.safety.rules import RuleBook
from bot.text import sentences

# The safety screen reads every character; the article search reads this much of it.
MAX_SEARCH_CHARS = 10_000
# A follow-up is short; a longer message is a question of its own.
FOLLOW_UP_WORDS = 16
# Among hits this close to the best, the one whose heading fits the aspect asked wins.
ASPECT_MARGIN = 0.15
_OTHER = re.compile(r"\b(?:the )?other (?:one|ones)\b|\banother one\b")
# How many topics of a conversation are remembered for "back to the bridge...".
MAX_SEEN = 8
_ALTERNATIVES = re.compile(r"\s+or\s+(?:should i\s+|do i\s+)?")
_OWN = re.compile(r"\bmy\b")
_REFERENCE = re.compile(r"\b(it|that|this|them|those|these|they|theyre|one|ones|other)\b")


@dataclass(frozen=True)
class Resolution:
    """What a message is answered from: hits, the query they answer, and how it follows.

    `follows`: a follow-up on a topic (only the part asked is given); `new_topic`: the
    answer's passage becomes the conversation's topic.
    """

    hits: list[Hit]
    query: str
    follows: bool
    switched: bool = False

    @property
    def new_topic(self) -> bool:
        """Whether the answer starts (or returns to) a topic."""
        return not self.follows or self.switched


class Answerer:
    """Finds and phrases what the articles say; holds only read-only parts."""

    def __init__(self, retriever: Retriever, settings: Settings, book: RuleBook) -> None:
        self.retriever = retriever
        self.settings = settings
        self.book = book
        passages = retriever.index.passages
        self.children = _children(retriever)
        self.topics = _topics(retriever)
        titles = {term for p in passages for term in terms(p.article_title)}
        # The words that name a topic ("clamshells", "bursitis"), less those of the titles
        # ("hip", "pain", "running") and of the top-level overviews ("why", "hurt", "treat"),
        # which say what is asked about a topic, not which one.
        overviews = {term for path in self.children if len(path) == 1 for term in terms(path[0])}
        self.topic_terms = {term for p in passages for term in terms(p.section)}
        self.topic_terms -= titles | overviews

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
        resolution = self._follow_up(state, asked, aspect)
        if resolution is None:
            result = self._search(queries, text)
            if not result.covered:
                draft.add("info", texts.not_covered.format(offer=self.offer()))
                for caveat in caveat_texts(screening.caveats, self.book):
                    draft.add("caveat", caveat)
                return
            general = not set(query_terms(asked)) & self.topic_terms
            overview = set(self.children) if general else None
            hits = _prefer_aspect(list(result.hits), aspect, overview)
            resolution = Resolution(hits, result.query, follows=False)
        hits = resolution.hits
        if aspect and aspect.needs and not aspect.given_in(hits[0].passage.text):
            self._aspect_missing(state, aspect, hits, draft)
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
        if len(sides) != 2 or doctor is None or _answers_aspect(answered.passage, doctor):
            return
        result = self.retriever.search(doctor.follow_up.format(topic="it"))
        hits = _prefer_aspect(list(result.hits), doctor)
        if not result.covered or not _answers_aspect(hits[0].passage, doctor):
            return
        hit = hits[0]
        answer, _ = compose_answer(asked, [hit], self.children, doctor)
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
        if not any(search.covered for search in searches):
            # "ice or heat?": the articles may cover one of the two.
            sides = [side for side in _ALTERNATIVES.split(queries[0]) if side.strip(" ?")]
            if len(sides) == 2:
                searches += [self.retriever.search(side) for side in sides]
        best = max(search.confidence for search in searches)
        return next(s for s in searches if s.confidence >= best - 0.05)

    def _follow_up(
        self, state: ConversationState, asked: str, aspect: Aspect | None
    ) -> Resolution | None:
        """Resolve a short follow-up against the conversation's topics.

        Returns:
            What to answer from, or None when the message is a question of its own.
        """
        index = self.retriever.index
        row = index.row_of(state.topic_id) if state.topic_id else None
        if not state.topic or len(asked.split()) > FOLLOW_UP_WORDS:
            return None
        lowered = asked.lower()
        topic = index.passages[row] if row is not None else None
        named = set(query_terms(asked)) & self.topic_terms
        if topic is not None:
            named -= set(terms(topic.section))  # "how long do I hold the plank?" on the plank
        refers = bool(_REFERENCE.search(lowered))
        tells_own = bool(_OWN.search(lowered))  # "my hip clicks..." is news, not a follow-up
        earlier = self._earlier_topic(state, named)
        if earlier is not None and not tells_own:  # "back to the bridge, ..."
            return self._on_topic(state, earlier, asked, aspect, switched=True)
        if tells_own or (
            named and (topic is None or not refers or self._names_within(named, topic))
        ):
            return None
        if named and topic is not None:
            # "how do I do the bridge one?": the named topic, if the question finds it;
            # "can I get a shot for it?": a new topic, read with the one it refers to.
            alone = list(self.retriever.search(asked).hits)
            if named <= set(terms(topic.text)):  # "when they're strained" of hip flexors
                return self._on_topic(state, topic, asked, aspect, switched=False)
            if alone and named & set(terms(alone[0].passage.section)):
                return Resolution(_prefer_aspect(alone, aspect), asked, follows=False)
            query = f"{asked} ({topic.section.lower()})"
            hits = _prefer_aspect(list(self.retriever.search(query).hits), aspect)
            return Resolution(hits, query, follows=False)
        if topic is not None and _OTHER.search(lowered):
            sibling = self._other_sibling(state, topic)
            if sibling is not None:  # "and the other one?" after two of three tendons
                return Resolution([Hit(sibling, 1.0, 1.0, 0.0)], asked, follows=False)
        if topic is None and not (aspect and aspect.follow_up):
            return None  # a warning sign told is a topic only for "is it serious?"
        return self._on_topic(state, topic, asked, aspect, switched=False)

    def _on_topic(
        self,
        state: ConversationState,
        topic: Passage | None,
        asked: str,
        aspect: Aspect | None,
        *,
        switched: bool,
    ) -> Resolution:
        """Answer an aspect of a topic: from its own passage, or what the articles add."""
        if topic is not None and (aspect is None or _answers_aspect(topic, aspect)):
            query = topic.section if switched else state.topic_query or topic.section
            return Resolution([Hit(topic, 1.0, 1.0, 0.0)], query, True, switched)
        # The topic's own passage does not say it (or the topic is a warning sign told).
        subject = (topic.section if switched and topic else state.topic or "").lower()
        rewritten = (
            aspect.follow_up.format(topic=subject)
            if aspect and aspect.follow_up
            else f"{asked} ({subject})"
        )
        hits = _prefer_aspect(list(self.retriever.search(rewritten).hits), aspect)
        if topic is not None and aspect and aspect.needs:
            # Only the topic's own family may answer "how many reps?" about it.
            family = [h for h in hits if _related(h.passage.path, topic.path)]
            hits = family or [Hit(topic, 1.0, 1.0, 0.0)]
        hits.sort(key=lambda hit: hit.passage.passage_id in state.answered)
        return Resolution(hits, rewritten, True, switched)

    def _earlier_topic(self, state: ConversationState, named: set[str]) -> Passage | None:
        """The topic talked about earlier that the words name again, if any."""
        index = self.retriever.index
        for passage_id in reversed(state.seen[:-1]):
            row = index.row_of(passage_id)
            if row is not None and named & set(terms(index.passages[row].section)):
                return index.passages[row]
        return None

    def _other_sibling(self, state: ConversationState, topic: Passage) -> Passage | None:
        """After two sections side by side, "the other one" is the next one not yet seen."""
        index = self.retriever.index
        before = index.row_of(state.seen[-2]) if len(state.seen) > 1 else None
        if before is None or state.seen[-2] == topic.passage_id:
            return None
        if index.passages[before].path[:-1] != topic.path[:-1]:
            return None
        return next(
            (
                passage
                for passage in index.passages
                if passage.path[:-1] == topic.path[:-1]
                and len(passage.path) > 1
                and passage.passage_id not in state.seen
            ),
            None,
        )

    def _names_within(self, named: set[str], topic: Passage) -> bool:
        """Whether the words name a section inside the topic ("the lunges one" of stretches)."""
        return any(
            _related(passage.path, topic.path) and named & set(terms(passage.section))
            for passage in self.retriever.index.passages
            if passage.path != topic.path
        )

    def _aspect_missing(
        self, state: ConversationState, aspect: Aspect, hits: list[Hit], draft: Draft
    ) -> None:
        """The topic is covered but not what was asked about it: say so, then what is said."""
        passage = hits[0].passage
        topic = passage.section.lower()
        draft.add("info", reply_texts().aspect_missing.format(missing=aspect.missing, topic=topic))
        answer, _ = compose_answer(passage.section, hits[:1], self.children, None, brief=True)
        draft.add("answer", answer)
        draft.sources = [source_of(hits[0])]
        draft.covered = False
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
        answer, used = compose_answer(query, hits, self.children, aspect, focused=focused)
        draft.add("answer", answer)
        # The rest of a passage that was cut, for "tell me more".
        state.partial = [
            hit.passage.passage_id for hit in used if len(answer) < 0.9 * len(hit.passage.text)
        ]
        draft.sources = [source_of(hit) for hit in hits[: self.settings.top_k]]
        draft.covered = True
        if new_topic:  # a follow-up keeps the subject ("how do I treat it?" stays on it)
            state.topic = used[0].passage.section
            state.topic_id = used[0].passage.passage_id
            state.topic_query = query
            state.seen = [*state.seen, used[0].passage.passage_id][-MAX_SEEN:]
        if new_topic:
            state.answered = []
        state.answered += [hit.passage.passage_id for hit in used]
        # "Tell me more" goes on with close hits, then the sections beside this one.
        best = hits[0].score
        said = {hit.passage.passage_id for hit in used} | set(state.answered)
        close = [(h.passage.passage_id, h.score) for h in hits[1:] if h.score >= 0.6 * best]
        siblings = [
            (p.passage_id, 0.0)
            for p in self.retriever.index.passages
            if p.path[:-1] == used[0].passage.path[:-1] and len(p.path) > 1
        ]
        more = [item for item in close + siblings if item[0] not in said]
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
            self._present(state, query, [hit], draft, new_topic=False)
            state.more = remaining
            return
        about = f" about {state.topic.lower()}" if state.topic else ""
        draft.add("info", reply_texts().all_said.format(about=about))


def _answers_aspect(passage: Passage, aspect: Aspect) -> bool:
    """Whether a passage is a place for what the aspect asks (its heading or its words)."""
    if aspect.needs is not None:
        return aspect.given_in(passage.text)
    by_heading = aspect.heading is not None and bool(aspect.heading.search(" ".join(passage.path)))
    by_words = aspect.says is not None and bool(aspect.says.search(passage.text))
    return by_heading or by_words or (aspect.heading is None and aspect.says is None)


def _related(path: tuple[str, ...], topic: tuple[str, ...]) -> bool:
    """Whether a passage is the topic's own section, a sub-section or its parent."""
    shorter = min(len(path), len(topic))
    return path[:shorter] == topic[:shorter]


def _prefer_aspect(
    hits: list[Hit], aspect: Aspect | None, overview: set[tuple[str, ...]] | None = None
) -> list[Hit]:
    """Among hits close to the best, move the one that best fits the aspect to the front.

    "When should I see a doctor?" should be answered by the section on when hip pain
    becomes a problem, not a nearby FAQ; "how many reps?" by a passage that gives a number.
    A general question (`overview`: the heading paths with sub-sections, when the question
    names no topic of its own) prefers the section that gives the overview: "what causes
    my hips to hurt?" gets the list of causes, not one of them.
    """
    if not aspect or not hits or (aspect.heading is None and aspect.needs is None):
        return hits
    close = [hit for hit in hits if hit.score >= hits[0].score - ASPECT_MARGIN]

    def fit(hit: Hit) -> float:
        path = hit.passage.path
        heading = aspect.heading is None or bool(aspect.heading.search(" ".join(path)))
        if not (heading and aspect.given_in(hit.passage.text)):
            return 0
        return 2 + 1 / len(path) if overview and path in overview else 1  # broadest first

    best = max(close, key=fit)  # the first of the best fits, in ranking order
    if fit(best) == 0 or best is hits[0]:
        return hits
    return [best] + [hit for hit in hits if hit is not best]


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
