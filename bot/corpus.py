"""Articles: loading (.md, .txt, .html), cleaning, and splitting into passages by heading."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bot.errors import CorpusError
from bot.text import QUESTION_START, clean_text, split_sentences

# Bump when splitting or cleaning changes: the index then re-splits every article.
CHUNKER_VERSION = "4"
ARTICLE_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm")
GUIDE_FILE = "guide.toml"  # beside the articles: the guided questions, not an article

BlockKind = Literal["heading", "paragraph", "item"]


@dataclass(frozen=True)
class Block:
    """One structural piece of an article: a heading, a paragraph or a list item."""

    kind: BlockKind
    text: str
    level: int = 0


@dataclass(frozen=True)
class Article:
    """A cleaned article, still in blocks; `passages()` splits it."""

    article_id: str
    title: str
    source: str
    file: str
    content_hash: str
    blocks: tuple[Block, ...]
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Passage:
    """The unit of retrieval: the text under one heading path."""

    passage_id: str
    article_id: str
    article_title: str
    path: tuple[str, ...]
    text: str

    @property
    def section(self) -> str:
        """Return the most specific heading."""
        return self.path[-1]

    def embedding_text(self) -> str:
        """Return what gets embedded: the heading path gives short passages their topic."""
        return f"{' > '.join(self.path)}: {self.text}"


@dataclass
class CorpusLoad:
    """What loading a corpus folder gave: the articles and one line per skipped file."""

    articles: list[Article] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# --- text helpers --------------------------------------------------------------------------


def slugify(text: str) -> str:
    """Return a lowercase ASCII slug, stable across rebuilds and platforms."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "untitled"


def estimate_tokens(text: str) -> int:
    """Estimate word pieces when no tokenizer is at hand (errs high, so passages stay short)."""
    return int(len(re.findall(r"\w+|[^\w\s]", text)) * 1.3) + 2


# --- promotional content and boilerplate ---------------------------------------------------

_SALES_CUES = re.compile(
    r"\b(store|shop|shopping|buy|purchase|order now|add to cart|catalog(?:ue)?|collection|"
    r"discount|coupon|promo code|free shipping|on sale|our (?:products?|range|brand)|"
    r"visit (?:our|the)?\s*\w+ (?:store|shop)|premium|introducing|check out our)\b",
    re.IGNORECASE,
)
_BOILERPLATE_HEADINGS = re.compile(
    r"^(related (articles|posts|reading)|you (may|might) also like|share this( post| article)?|"
    r"leave a (reply|comment)|comments?|subscribe.*|about the author|tags|read more)$",
    re.IGNORECASE,
)
_TOP_LEVEL_HEADINGS = re.compile(
    r"^(conclusions?|summary|faqs?|frequently asked questions|final thoughts|the bottom line|"
    r"bottom line|takeaways?|key takeaways|references|sources|introduction)$",
    re.IGNORECASE,
)
_FAQ_HEADING = re.compile(r"^(faqs?|frequently asked questions)$", re.IGNORECASE)


def is_sales_pitch(text: str) -> bool:
    """Tell whether text reads like a shop's pitch: two or more distinct sales cues."""
    return len({m.group(0).lower() for m in _SALES_CUES.finditer(text)}) >= 2


def brand_names(pitch_text: str, article_text: str) -> set[str]:
    """Find brands in a pitch: capitalised words never used in lowercase in the article."""
    brands = set()
    for sentence in split_sentences(pitch_text):
        for word in re.findall(r"(?<=\s)[A-Z][a-z]{2,}", " " + sentence)[1:]:
            if not re.search(rf"\b{word.lower()}\b", article_text):
                brands.add(word)
    return brands


def _mentions(text: str, words: Iterable[str]) -> bool:
    return any(re.search(rf"\b{re.escape(word)}\b", text) for word in words)


# --- readers: each format becomes blocks ------------------------------------------------------


def _blocks_from_markdown(markdown: str) -> list[Block]:
    """Read Markdown with markdown-it-py (CommonMark), keeping headings, paragraphs and items."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(markdown)
    blocks: list[Block] = []
    list_depth = 0
    heading_level = 0
    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open"):
            list_depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
        elif token.type == "heading_open":
            heading_level = int(token.tag[1])
        elif token.type == "heading_close":
            heading_level = 0
        elif token.type == "inline":
            text, fully_bold = _inline_text(token.children or [])
            if not text:
                continue
            if heading_level:
                blocks.append(Block("heading", text, heading_level))
            elif list_depth:
                blocks.append(Block("item", text))
            elif fully_bold and len(text.split()) <= 15:
                # A bold line on its own acts as a heading (common for FAQ questions).
                blocks.append(Block("heading", text, -1))
            else:
                blocks.append(Block("paragraph", text))
        elif token.type in ("fence", "code_block") and token.content.strip():
            blocks.append(Block("paragraph", clean_text(token.content)))
    return blocks


def _inline_text(children: list) -> tuple[str, bool]:
    """Flatten inline tokens to plain text; images (captions, ads) are dropped."""
    parts = []
    bold_depth = 0
    all_bold = True
    for child in children:
        if child.type == "strong_open":
            bold_depth += 1
        elif child.type == "strong_close":
            bold_depth -= 1
        elif child.type in ("text", "code_inline", "html_inline"):
            if child.type == "html_inline":
                continue
            if child.content.strip() and not bold_depth:
                all_bold = False
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    text = clean_text("".join(parts))
    return text, bool(text) and all_bold


_BULLET = re.compile(r"^\s*(?:[\u2022\u00b7\u25aa\u25cf*\-\u2013]|\d{1,2}[.)])\s+")


def _looks_like_heading(line: str) -> bool:
    words = line.split()
    return (
        0 < len(words) <= 14
        and len(line) <= 100
        and not line.endswith((".", ",", ";", ":"))
        and (line[0].isupper() or line[0].isdigit())
    )


_UNDERLINE = re.compile(r"^(.*\S.*)\n[ \t]*(={3,}|-{3,})[ \t]*$", re.MULTILINE)
_UNDERLINE_LEVELS = {"=": 1, "-": 2}


def _blocks_from_text(text: str) -> list[Block]:
    """Read plain text, recognising headings and list items from the shape of the lines.

    Headings underlined with === (level 1) or --- (level 2) are taken as written, and then
    other heading-shaped lines are their subsections; otherwise levels are inferred.
    """
    underlined = bool(_UNDERLINE.search(text))
    if underlined:
        # Each underlined heading becomes a chunk of its own, marked with its level.
        text = _UNDERLINE.sub(
            lambda m: f"\n\n\x00{_UNDERLINE_LEVELS[m.group(2)[0]]}{m.group(1)}\n\n", text
        )
    raw: list[Block] = []
    for chunk in re.split(r"\n[ \t\xa0]*\n", text):
        if chunk.strip().startswith("\x00"):
            marked = chunk.strip()
            raw.append(Block("heading", clean_text(marked[2:]), int(marked[1])))
            continue
        lines = [clean_text(line) for line in chunk.splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            continue
        if _BULLET.match(chunk):
            for line in _join_items(chunk.splitlines()):
                raw.append(Block("item", line))
        elif len(lines) == 1 and _looks_like_heading(lines[0]):
            raw.append(Block("heading", lines[0], 3 if underlined else 0))
        else:
            raw.append(Block("paragraph", " ".join(lines)))
    if underlined:
        return raw
    return _assign_text_levels(_drop_text_captions(raw))


def _join_items(lines: list[str]) -> Iterator[str]:
    item: list[str] = []
    for line in lines:
        if _BULLET.match(line):
            if item:
                yield clean_text(" ".join(item))
            item = [_BULLET.sub("", line)]
        elif line.strip():
            item.append(line)
    if item:
        yield clean_text(" ".join(item))


def _drop_text_captions(blocks: list[Block]) -> list[Block]:
    """Drop image captions of a brand (a heading-shaped line right after a heading).

    Plain text keeps no images, so captions look like headings. A caption names the brand
    of the article's sales pitch, which is found first.
    """
    article_text = " ".join(block.text for block in blocks if block.kind != "heading")
    brands: set[str] = set()
    for _heading, body in _provisional_sections(blocks):
        body_text = " ".join(block.text for block in body)
        if is_sales_pitch(body_text):
            brands |= brand_names(body_text, article_text)
    if not brands:
        return blocks
    kept: list[Block] = []
    for block in blocks:
        follows_heading = bool(kept) and kept[-1].kind == "heading"
        if block.kind == "heading" and follows_heading and _mentions(block.text, brands):
            continue
        kept.append(block)
    return kept


def _provisional_sections(blocks: list[Block]) -> Iterator[tuple[Block | None, list[Block]]]:
    heading: Block | None = None
    body: list[Block] = []
    for block in blocks:
        if block.kind == "heading":
            yield heading, body
            heading, body = block, []
        else:
            body.append(block)
    yield heading, body


def _announces_subsections(body: list[Block]) -> bool:
    """Tell whether a section's body introduces sub-headings ("Some tips include:")."""
    return (
        bool(body)
        and all(b.kind == "paragraph" for b in body)
        and (body[-1].text.endswith((":", ";")))
    )


def _assign_text_levels(blocks: list[Block]) -> list[Block]:
    """Give plain-text headings levels: title 1, sections 2, subsections 3.

    A section whose intro ends with ":" announces subsections; questions and well-known
    names (Conclusion, FAQs) start a new section; questions under FAQs are its entries.
    """
    sections = list(_provisional_sections(blocks))
    result: list[Block] = [block for block in sections[0][1]]
    title: str | None = None
    in_faq = False
    parent_announces = False
    for heading, body in sections[1:]:
        assert heading is not None
        text = heading.text
        if title is None:
            title = text
            level = 1
        elif text.lower() == title.lower():
            result.extend(body)
            continue
        elif _TOP_LEVEL_HEADINGS.match(text) or _BOILERPLATE_HEADINGS.match(text):
            level = 2
        elif in_faq and text.endswith("?"):
            level = 3
        elif text.endswith("?") or QUESTION_START.match(text):
            level = 2
        else:
            level = 3 if parent_announces else 2
        if level == 2:
            in_faq = bool(_FAQ_HEADING.match(text))
            parent_announces = _announces_subsections(body)
        result.append(Block("heading", text, level))
        result.extend(body)
    return result


def _blocks_from_html(html: str) -> tuple[list[Block], str | None]:
    """Extract the main content with trafilatura (drops navigation, ads and footers)."""
    import trafilatura

    markdown = trafilatura.extract(
        html,
        output_format="markdown",
        include_comments=False,
        include_images=False,
        include_tables=True,
        include_links=False,
        with_metadata=False,
    )
    metadata = trafilatura.extract_metadata(html)
    title = metadata.title if metadata is not None else None
    return _blocks_from_markdown(markdown or ""), title


# --- loading -------------------------------------------------------------------------------------


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data[:8192]:
        raise CorpusError(f"skipped {name}: it looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CorpusError(
            f"skipped {name}: it is not UTF-8 text (byte {error.start}); re-save it as UTF-8"
        ) from None


def load_article(path: Path, article_id: str, max_bytes: int = 2_000_000) -> Article:
    """Read one article file and clean it.

    Args:
        path: the .md, .txt or .html file.
        article_id: the stable id (from the file name) that passage ids start with.
        max_bytes: larger files are refused, with a message saying how to fix it.

    Returns:
        The cleaned article, in blocks.

    Raises:
        CorpusError: the file cannot be used; the message says why and what to do.
    """
    name = path.name
    size = path.stat().st_size
    if size > max_bytes:
        raise CorpusError(
            f"skipped {name}: {size / 1e6:.1f} MB is more than the {max_bytes / 1e6:.1f} MB "
            "limit; split it into smaller articles or raise HIPBOT_MAX_ARTICLE_MB"
        )
    data = path.read_bytes()
    text = _decode(data, name)
    if not text.strip():
        raise CorpusError(f"skipped {name}: the file is empty")
    metadata: dict = {}
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown"):
        import frontmatter

        try:
            post = frontmatter.loads(text)
        except Exception as error:  # YAML errors come in many classes
            raise CorpusError(
                f"skipped {name}: its front matter is not valid YAML ({error})"
            ) from None
        metadata, body = dict(post.metadata), post.content
        blocks = _blocks_from_markdown(body)
    elif suffix in (".html", ".htm"):
        blocks, html_title = _blocks_from_html(text)
        if html_title:
            metadata["title"] = html_title
    else:
        blocks = _blocks_from_text(text)
    if not any(block.kind != "heading" for block in blocks):
        raise CorpusError(f"skipped {name}: it has no article text")
    title = clean_text(str(metadata.get("title") or _first_heading(blocks) or path.stem))
    exclude = metadata.get("exclude") or []
    if isinstance(exclude, str):
        exclude = [exclude]
    return Article(
        article_id=article_id,
        title=title,
        source=clean_text(str(metadata.get("source") or name)),
        file=name,
        content_hash=hashlib.sha256(data).hexdigest(),
        blocks=tuple(blocks),
        exclude=tuple(clean_text(str(item)) for item in exclude),
    )


def _first_heading(blocks: list[Block]) -> str | None:
    return next((block.text for block in blocks if block.kind == "heading"), None)


def article_files(corpus_dir: Path) -> list[Path]:
    """List the files of a corpus folder, sorted, hidden files left out."""
    if not corpus_dir.is_dir():
        raise CorpusError(
            f"the corpus folder {corpus_dir} does not exist; create it and put articles "
            "(.md, .txt or .html) in it, or set HIPBOT_CORPUS_DIR"
        )
    return sorted(
        path
        for path in corpus_dir.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.parts)
    )


def article_id_for(corpus_dir: Path, path: Path) -> str:
    """Return the article id: the slug of the file's path inside the corpus, without suffix."""
    return slugify(str(path.relative_to(corpus_dir).with_suffix("")))


def load_corpus(corpus_dir: Path, max_bytes: int = 2_000_000) -> CorpusLoad:
    """Load every article of a folder; files that cannot be used are skipped with a reason.

    Raises:
        CorpusError: the folder is missing or holds no usable article, or two articles
            clash (same id or same title).
    """
    result = CorpusLoad()
    for path in article_files(corpus_dir):
        if path.name == GUIDE_FILE and path.parent == corpus_dir:
            continue  # the guided questions (bot/guide.py), checked when the index is built
        if path.suffix.lower() not in ARTICLE_SUFFIXES:
            result.problems.append(
                f"skipped {path.name}: hipbot reads .md, .txt and .html files only"
            )
            continue
        try:
            article = load_article(path, article_id_for(corpus_dir, path), max_bytes)
        except CorpusError as problem:
            result.problems.append(str(problem))
            continue
        except OSError as error:
            result.problems.append(f"skipped {path.name}: cannot read it ({error.strerror})")
            continue
        result.articles.append(article)
    if not result.articles:
        detail = "; ".join(result.problems) if result.problems else "it is empty"
        raise CorpusError(
            f"no usable article in {corpus_dir} ({detail}); add a .md, .txt or .html article"
        )
    _check_clashes(result.articles)
    return result


def _check_clashes(articles: list[Article]) -> None:
    for attribute, what in (("article_id", "file name"), ("title", "title")):
        counts = Counter(getattr(article, attribute).lower() for article in articles)
        for value, count in counts.items():
            if count > 1:
                files = ", ".join(
                    a.file for a in articles if getattr(a, attribute).lower() == value
                )
                fix = "rename one" if attribute == "article_id" else "give one another `title:`"
                raise CorpusError(f"two articles have the same {what} ({files}): {fix}")


# --- splitting -----------------------------------------------------------------------------------

_LEAD_TERM = re.compile(r"^([A-Z][\w'\- ]{1,48}?):\s+(\S.*)$")


@dataclass
class _Section:
    path: tuple[str, ...]
    units: list[str] = field(default_factory=list)


def _sections(article: Article) -> Iterator[_Section]:
    """Walk the blocks keeping the heading path; lead-term items become their own sections."""
    stack: list[tuple[int, str]] = []
    current = _Section((article.title,))
    excluded_below: int | None = None
    in_faq_at: int | None = None
    for block in article.blocks:
        if block.kind == "heading":
            level = block.level
            if level == -1:  # a bold line: one below the current heading
                level = (stack[-1][0] + 1) if stack else 2
            if block.text.lower() == article.title.lower() and not stack:
                continue
            yield current
            if _BOILERPLATE_HEADINGS.match(block.text):
                return
            while stack and stack[-1][0] >= level:
                stack.pop()
            if excluded_below is not None and level <= excluded_below:
                excluded_below = None
            if in_faq_at is not None and level <= in_faq_at:
                in_faq_at = None
            stack.append((level, block.text))
            if excluded_below is None and _is_excluded(block.text, article.exclude):
                excluded_below = level
            if _FAQ_HEADING.match(block.text):
                in_faq_at = level
            current = _Section(tuple(text for _, text in stack))
            if excluded_below is not None:
                current.path = ()
            continue
        if excluded_below is not None:
            continue
        if block.kind == "paragraph" and in_faq_at is not None and _is_faq_question(block):
            yield current
            current = _Section((*current.path[: len(stack)], block.text))
            continue
        lead = _LEAD_TERM.match(block.text) if block.kind == "item" else None
        if lead and len(lead.group(1).split()) <= 6:
            yield _Section((*current.path, lead.group(1)), [lead.group(2)])
        elif block.kind == "item" and current.units and current.units[-1].startswith("- "):
            current.units[-1] += f"\n- {block.text}"
        elif block.kind == "item":
            current.units.append(f"- {block.text}")
        else:
            current.units.append(block.text)
    yield current


def _is_faq_question(block: Block) -> bool:
    return block.text.endswith("?") and len(block.text.split()) <= 25


def _is_excluded(heading: str, exclude: tuple[str, ...]) -> bool:
    return heading.lower() in {item.lower() for item in exclude}


def split_article(
    article: Article,
    count_tokens: Callable[[str], int] = estimate_tokens,
    max_tokens: int = 256,
) -> list[Passage]:
    """Split an article into passages that each fit the embedding model's input window.

    Sales pitches (and sections named in front matter `exclude:`) never become passages;
    sentences naming the pitch's brand are dropped wherever they stand.

    Args:
        article: the cleaned article.
        count_tokens: counts the model's word pieces (special tokens included).
        max_tokens: the model's input window; longer text would be silently cut.

    Returns:
        Passages in article order, with ids stable across rebuilds.
    """
    sections = [section for section in _sections(article) if section.path and section.units]
    all_text = " ".join(" ".join(section.units) for section in sections)
    pitches = [s for s in sections if is_sales_pitch(" ".join(s.path[-1:] + tuple(s.units)))]
    brands: set[str] = set()
    for pitch in pitches:
        brands |= brand_names(" ".join(pitch.units), all_text)
    passages: list[Passage] = []
    seen_ids: Counter[str] = Counter()
    for section in sections:
        if section in pitches or _mentions(" ".join(section.path[-1:]), brands):
            continue
        units = [unit for unit in section.units if not _mentions(unit, brands)]
        units = _drop_brand_sentences(units, brands)
        base_id = f"{article.article_id}#" + "/".join(slugify(h) for h in section.path)
        for part in _fit_window(article.title, section.path, units, count_tokens, max_tokens):
            seen_ids[base_id] += 1
            number = seen_ids[base_id]
            passage_id = base_id if number == 1 else f"{base_id}~{number}"
            passages.append(
                Passage(passage_id, article.article_id, article.title, section.path, part)
            )
    return passages


def _drop_brand_sentences(units: list[str], brands: set[str]) -> list[str]:
    if not brands:
        return units
    kept = []
    for unit in units:
        sentences = [s for s in split_sentences(unit) if not _mentions(s, brands)]
        if sentences:
            kept.append(" ".join(sentences))
    return kept


def _fit_window(
    title: str,
    path: tuple[str, ...],
    units: list[str],
    count_tokens: Callable[[str], int],
    max_tokens: int,
) -> Iterator[str]:
    """Group paragraphs into parts under the token budget, splitting long ones by sentence."""
    prefix_tokens = count_tokens(" > ".join(path) + ": ")
    budget = max(32, max_tokens - prefix_tokens)
    pieces: list[str] = []
    for unit in units:
        if count_tokens(unit) <= budget:
            pieces.append(unit)
        else:
            pieces.extend(_split_long_unit(unit, count_tokens, budget))
    part: list[str] = []
    for piece in pieces:
        candidate = "\n\n".join([*part, piece])
        if part and count_tokens(candidate) > budget:
            yield "\n\n".join(part)
            part = [piece]
        else:
            part.append(piece)
    if part:
        yield "\n\n".join(part)


def _split_long_unit(unit: str, count_tokens: Callable[[str], int], budget: int) -> list[str]:
    pieces: list[str] = []
    current = ""
    for sentence in split_sentences(unit):
        while count_tokens(sentence) > budget:  # one endless sentence: cut it by words
            words = sentence.split()
            cut = max(1, len(words) * budget // max(count_tokens(sentence), 1) - 1)
            pieces.append(" ".join(words[:cut]))
            sentence = " ".join(words[cut:])
        candidate = f"{current} {sentence}".strip()
        if current and count_tokens(candidate) > budget:
            pieces.append(current)
            current = sentence
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces
