"""Conversation topics: which passage a follow-up is about, and the aspect asked of it.

The state keeps the topic (the section last answered) and the topics before it. A short
follow-up ("how many reps?", "what causes it?", "and the other one?", "back to the
bridge...") is resolved here before anything is searched; a question that names a topic
of its own is not a follow-up.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from bot.aspects import Aspect
from bot.corpus import Passage
from bot.dialogue.state import ConversationState
from bot.lexical import phrases, query_terms, terms, words
from bot.retrieval import Hit, Retriever
from bot.text import split_sentences

# A follow-up is short; a longer message is a question of its own.
FOLLOW_UP_WORDS = 16
# Among hits this close to the best, the one whose heading fits the aspect asked wins.
ASPECT_MARGIN = 0.15
# A heading word used in more than this share of passages is too common to name a topic.
GENERIC_SHARE = 0.125
# Nor does a word this common in English (Zipf: "get" 6.3, "take" 5.9; "rest" 5.2).
COMMONEST_ZIPF = 5.8
_OTHER = re.compile(r"\b(?:the )?other (?:one|ones)\b|\banother one\b")
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


# The sub-sections under each heading path that has any, in article order.
Family = dict[tuple[str, ...], list[Passage]]


def family_of(passages: list[Passage]) -> Family:
    """Group passages under their parent heading path (top-level passages have none)."""
    family: Family = {}
    for passage in passages:
        if len(passage.path) > 1:
            family.setdefault(passage.path[:-1], []).append(passage)
    return family


class TopicResolver:
    """Resolves follow-ups against the conversation's topics; holds read-only parts."""

    def __init__(self, retriever: Retriever, family: Family) -> None:
        self.retriever = retriever
        self.family = family

    @cached_property
    def topic_terms(self) -> frozenset[str]:
        """The words that name a topic ("clamshells", "bursitis", read when first needed).

        Not those of the titles ("hip", "pain", "running") nor of the top-level overviews
        ("why", "hurt", "treat"), which say what is asked about a topic, not which one, nor
        the commonest English words of headings ("Get Some Rest": "and how many can I get?"
        names no topic).
        """
        from wordfreq import zipf_frequency

        passages = self.retriever.index.passages
        titles = {term for p in passages for term in terms(p.article_title)}
        overviews = {term for path in self.family if len(path) == 1 for term in terms(path[0])}
        naming = {
            term
            for p in passages
            for word in words(p.section)
            if zipf_frequency(word, "en") < COMMONEST_ZIPF
            for term in terms(word)
        }
        return frozenset(naming - titles - overviews)

    @cached_property
    def naming_terms(self) -> frozenset[str]:
        """Heading words that name a topic in particular (read once, when first needed).

        Heading words that most passages also use ("take", "side", "exercise") do not: only
        the others tie a figure to the topic asked about.
        """
        return frozenset(self.topic_terms & self.specific_terms)

    @cached_property
    def specific_terms(self) -> frozenset[str]:
        """Words few passages use ("hyaluronic", "corticosteroids"): they name one thing."""
        passages = self.retriever.index.passages
        used_in = Counter(term for p in passages for term in set(terms(p.text)))
        common = GENERIC_SHARE * len(passages)
        return frozenset(term for term, count in used_in.items() if count <= common)

    @cached_property
    def specific_phrases(self) -> frozenset[str]:
        """Two-word names few passages use ("leg swings", "standing figure")."""
        passages = self.retriever.index.passages
        used_in = Counter(phrase for p in passages for phrase in phrases(_whole(p)))
        common = GENERIC_SHARE * len(passages)
        return frozenset(phrase for phrase, count in used_in.items() if count <= common)

    def naming(self, passage: Passage, asked: str, aspect: Aspect | None) -> int:
        """How much of what a question names a passage names too.

        Its rare words count (twice in the heading), and its two-word names: "how many
        minutes should my warm up be?" names the warm-up section more than the heat
        therapy's "warm towel", and "how many leg swings?" the warm-up more than the
        abduction's "swing the leg".
        """
        asked_terms = set(query_terms(asked)) & self.specific_terms
        if aspect is not None:
            asked_terms -= aspect.words
        asked_phrases = phrases(asked) & self.specific_phrases
        return (
            len(asked_terms & set(terms(_whole(passage))))
            + len(asked_terms & set(terms(passage.section)))
            + len(asked_phrases & phrases(_whole(passage)))
        )

    def _named(self, asked: str) -> set[str]:
        """The topic names a question uses."""
        return set(query_terms(asked)) & self.naming_terms

    def names_topic(self, text: str) -> bool:
        """Whether a question names a topic of its own (not a general question)."""
        return bool(set(query_terms(text)) & self.topic_terms)

    def gives_for(
        self, passage: Passage, aspect: Aspect, asked: str, *, follows: bool = False
    ) -> bool:
        """Whether a passage gives the figure an aspect needs for the topic asked about.

        "How long does bursitis take to clear up?" is not answered by "the medication takes
        two to three days to start working" in the injections passage, which names bursitis
        elsewhere: a passage not headed by the topic named must give the figure in a
        sentence that names it.
        """
        if not aspect.given_in(_whole(passage)):
            return False
        # "How long does hyaluronic acid take to work?" is not answered by the figure in the
        # corticosteroids' paragraph: a thing named in only some paragraphs must be named
        # in the one that gives the figure.
        blocks = passage.text.split("\n\n")
        paragraphs = [set(terms(block)) for block in blocks]
        asked_terms = (set(query_terms(asked)) & self.specific_terms) - aspect.words
        mentioned = set().union(*paragraphs, terms(passage.section))
        if asked_terms and not follows and not asked_terms & mentioned:
            return False  # "how long does a torn labrum take to heal?" is not the rest days'
        within = {t for t in asked_terms if 0 < sum(t in p for p in paragraphs) < len(paragraphs)}
        if within and not any(
            aspect.given_in(block) and within & paragraph
            for block, paragraph in zip(blocks, paragraphs, strict=True)
        ):
            return False
        named = self._named(asked)
        if not named or named & set(terms(" ".join(passage.path))):
            return True
        return any(
            aspect.given_in(sentence) and named & set(terms(sentence))
            for sentence in split_sentences(passage.text)
        )

    def subject_of(self, hits: list[Hit], asked: str) -> Hit:
        """The hit headed by the topic a question names (the first hit when none is)."""
        named = self._named(asked)
        headed = [hit for hit in hits if named & set(terms(hit.passage.section))]
        if headed or not named:
            return (headed or hits)[0]
        passages = self.retriever.index.passages
        return next((Hit.of(p) for p in passages if named & set(terms(p.section))), hits[0])

    def resolve(
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
            if aspect is not None and aspect.needs is not None:
                # A number asked in the topic's own words is asked of it: "how many reps
                # each side?" after trunk rotations, whose text says "on each side".
                named -= set(terms(topic.text))
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
                return Resolution(prefer_aspect(alone, aspect), asked, follows=False)
            query = f"{asked} ({topic.section.lower()})"
            hits = prefer_aspect(list(self.retriever.search(query).hits), aspect)
            return Resolution(hits, query, follows=False)
        if topic is not None and _OTHER.search(lowered):
            sibling = self._other_sibling(state, topic)
            if sibling is not None:  # "and the other one?" after two of three tendons
                return Resolution([Hit.of(sibling)], asked, follows=False)
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
        if topic is not None and (aspect is None or answers_aspect(topic, aspect)):
            query = topic.section if switched else state.topic_query or topic.section
            return Resolution([Hit.of(topic)], query, True, switched)
        # The topic's own passage does not say it (or the topic is a warning sign told).
        subject = (topic.section if switched and topic else state.topic or "").lower()
        rewritten = (
            aspect.follow_up.format(topic=subject)
            if aspect and aspect.follow_up
            else f"{asked} ({subject})"
        )
        hits = prefer_aspect(list(self.retriever.search(rewritten).hits), aspect)
        if topic is not None and aspect and aspect.needs:
            # Only the topic's own family may answer "how many reps?" about it.
            family = [h for h in hits if _related(h.passage.path, topic.path)]
            hits = family or [Hit.of(topic)]
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
        siblings = self.family.get(topic.path[:-1], [])
        return next((p for p in siblings if p.passage_id not in state.seen), None)

    def _names_within(self, named: set[str], topic: Passage) -> bool:
        """Whether the words name a section inside the topic ("the lunges one" of stretches)."""
        return any(
            _related(passage.path, topic.path) and named & set(terms(passage.section))
            for passage in self.retriever.index.passages
            if passage.path != topic.path
        )


def _whole(passage: Passage) -> str:
    """A passage's heading and text: the heading names the thing, and may say the aspect."""
    return f"{passage.section}. {passage.text}"


def answers_aspect(passage: Passage, aspect: Aspect) -> bool:
    """Whether a passage is a place for what the aspect asks (its heading or its words)."""
    if aspect.needs is not None:
        return aspect.given_in(_whole(passage))
    unmarked = aspect.heading is None and aspect.says is None
    return aspect.heads(passage.path) or aspect.said_in(passage.text) or unmarked


def _related(path: tuple[str, ...], topic: tuple[str, ...]) -> bool:
    """Whether a passage is the topic's own section, a sub-section or its parent."""
    shorter = min(len(path), len(topic))
    return path[:shorter] == topic[:shorter]


def prefer_aspect(
    hits: list[Hit],
    aspect: Aspect | None,
    overview: set[tuple[str, ...]] | None = None,
    naming: Callable[[Hit], int] | None = None,
) -> list[Hit]:
    """Among hits close to the best, move the one that best fits the aspect to the front.

    "When should I see a doctor?" should be answered by the section on when hip pain
    becomes a problem, not a nearby FAQ; "how many reps?" by a passage that gives a number.
    A general question (`overview`: the heading paths with sub-sections, when the question
    names no topic of its own) prefers the section that gives the overview: "what causes
    my hips to hurt?" gets the list of causes, not one of them. Only the hits that name
    most of what the question names (`naming`) may answer a figure: "how many leg
    swings?" is not answered by another exercise's count.
    """
    if not aspect or not hits or (aspect.heading is None and aspect.needs is None):
        return hits
    close = [hit for hit in hits if hit.score >= hits[0].score - ASPECT_MARGIN]
    if naming is not None and aspect.needs is not None:
        named = [naming(hit) for hit in close]
        close = [hit for hit, count in zip(close, named, strict=True) if count == max(named)]

    def fit(hit: Hit) -> float:
        path = hit.passage.path
        heading = aspect.heading is None or aspect.heads(path)
        if not (heading and aspect.given_in(_whole(hit.passage))):
            return 0
        return 2 + 1 / len(path) if overview and path in overview else 1  # broadest first

    best = max(close, key=fit)  # the first of the best fits, in ranking order
    if best is hits[0]:
        return hits
    return [best] + [hit for hit in hits if hit is not best]
