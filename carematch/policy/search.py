"""Chinese policy search: a question in everyday Chinese → the policies (and clause) that answer it.

A pure engine (no database, no web framework), used by ``carematch policy search``, the API,
the resident portal and the case library (:mod:`carematch.policy.cases`).

How a question is answered:

1. **Tokenise** with jieba (its own :class:`jieba.Tokenizer`, loaded once per process, quiet)
   and a domain user dictionary shipped in ``carematch/data/policy_search/userdict.txt``
   (失能, 家庭病床, 居住证, 起付线, …), in search mode so a compound also yields its parts
   (流感疫苗 → 流感, 疫苗, 流感疫苗). Stop words (的, 吗, 怎么办, …) and punctuation are dropped.
2. **Expand** the question with the colloquial → policy vocabulary map
   (``synonyms.yaml``: 瘫痪在床 → 失能 行动不便 上门, 掏钱 → 自付, 降压药 → 高血压 慢性病 门诊,
   …). Keys are found as substrings of the question, so they need not be jieba words; the
   expansion terms weigh :data:`EXPANSION_WEIGHT` of the words actually asked.
3. **Score** with BM25 at clause level (each clause is a document, so a long policy does not
   win by length) plus BM25 over titles-with-department (a title match is strong evidence,
   and "医保"/"民政" are department cues). A document's score is its best passage's score plus
   :data:`TITLE_WEIGHT` × its title's score, plus a small character-bigram cosine (a dense
   fallback catching words jieba split differently, e.g. 漏打/漏种 share nothing as words).
   The passage returned is the best-scoring one.

The weights were chosen on the evaluation set (tests/data/policy_questions.jsonl); the
benchmark (``bench/bench_policy_search.py``) reports the hit rate against plain BM25.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import jieba

    from carematch.policy.eligibility import PolicyVerdict
    from carematch.policy.library import PolicyLibrary

EXPANSION_WEIGHT = 0.5
"""How much a synonym-expansion term counts, relative to a word of the question itself."""
TITLE_WEIGHT = 0.6
"""How much the title's BM25 score adds to the best passage's."""
DENSE_WEIGHT = 2.0
"""How much the character-bigram cosine (0..1) adds."""
K1, B = 1.2, 0.75
"""BM25 parameters (the usual ones; clauses are short, so length normalisation matters little)."""
DENSE_FLOOR = 0.15
"""The least bigram cosine for a document found by the fallback alone."""
RELEVANT_SHARE = 0.5
"""For a known asker: hits below this share of the best score are dropped before eligible
policies are moved first, so a weak eligible match cannot push out the answer."""
MAX_QUERY_CHARS = 500
"""Longer questions are cut (a question, not a document)."""

_STOP_TEXT = """
    上 下 不 与 个 么 也 了 些 人 从 他 会 你 再 几 到 办 去 又
    及 可 向 吗 吧 呀 呢 咋 和 咱 哈 哦 哪 啊 啥 嘛 在 地 太 她
    好 它 家 对 就 很 得 想 我 或 把 无 是 更 最 有 来 没 的 着
    等 给 能 被 要 让 说 谁 过 还 这 那 都 里 问 一下 一个 之前
    什么 今年 他们 以后 你们 去年 可以 吗? 听说 呢? 咋办 咋整 咱们
    哪个 哪些 哪里 多久 多少 如何 家里 已经 应该 怎么 怎样 我们 是否
    现在 看看 知道 能否 自己 请问 这个 那个 问问 需要 为什么 会不会
    怎么办 怎么样 是不是 有没有 能不能 行不行 要不要 可不可以
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
"""Function words that say nothing about which policy is meant."""

_TOKEN_OK = re.compile(r"[0-9A-Za-z\u3400-\u9fff]")


# --------------------------------------------------------------------------------- resources


_jieba_lock = threading.Lock()


@lru_cache(maxsize=1)
def tokenizer() -> jieba.Tokenizer:
    """jieba with the domain user dictionary, initialised once per process and silenced."""
    import jieba

    logging.getLogger("jieba").setLevel(logging.WARNING)
    jieba.setLogLevel(logging.WARNING)
    with _jieba_lock:
        tok = jieba.Tokenizer()
        tok.initialize()
        userdict = resources.files("carematch.data").joinpath("policy_search/userdict.txt")
        with resources.as_file(userdict) as path:
            tok.load_userdict(str(path))
    return tok


@lru_cache(maxsize=1)
def default_synonyms() -> dict[str, tuple[str, ...]]:
    """The packaged colloquial → policy vocabulary map (``synonyms.yaml``)."""
    text = (
        resources.files("carematch.data").joinpath("policy_search/synonyms.yaml").read_text("utf-8")
    )
    return parse_synonyms(yaml.safe_load(text))


def parse_synonyms(data: Any) -> dict[str, tuple[str, ...]]:
    """Check a synonym map ``{phrase: [terms]}`` (or ``{phrase: term}``).

    Raises:
        ValueError: not a mapping of text to text or a list of text (names the phrase).
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError("a synonym map is a mapping {colloquial phrase: [policy terms]}")
    out: dict[str, tuple[str, ...]] = {}
    for key, value in data.items():
        terms = [value] if isinstance(value, str) else value
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"synonym {key!r}: the phrase must be non-empty text")
        if not isinstance(terms, list) or not all(isinstance(t, str) and t for t in terms):
            raise ValueError(f"synonym {key!r}: must map to a list of terms")
        out[normalise(key)] = tuple(terms)
    return out


# ------------------------------------------------------------------------------ tokenisation


def normalise(text: str) -> str:
    """NFKC (full-width letters and digits to half-width) and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def tokenize(text: str) -> list[str]:
    """The index terms of a text: jieba search-mode words, without stop words or punctuation."""
    text = normalise(text)[: MAX_QUERY_CHARS * 20]
    words = tokenizer().lcut_for_search(text)
    return [
        w for w in (w.strip() for w in words) if w and w not in STOP_WORDS and _TOKEN_OK.search(w)
    ]


def bigrams(text: str) -> list[str]:
    """Character bigrams of the Han runs of a text (the dense fallback's features)."""
    out: list[str] = []
    for run in re.findall(r"[\u3400-\u9fff]+", normalise(text)):
        if len(run) == 1:
            out.append(run)
        out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


def expand(
    query: str, synonyms: Mapping[str, Sequence[str]] | None, weight: float = EXPANSION_WEIGHT
) -> dict[str, float]:
    """The weighted terms of a question: its own words at 1, synonym expansions at ``weight``.

    A term both asked and expanded keeps the higher weight. Keys are matched as substrings of
    the normalised question.
    """
    text = normalise(query)[:MAX_QUERY_CHARS]
    terms: dict[str, float] = dict.fromkeys(tokenize(text), 1.0)
    if synonyms:
        for phrase, targets in synonyms.items():
            if phrase in text:
                for target in targets:
                    for term in tokenize(target) or [normalise(target)]:
                        terms[term] = max(terms.get(term, 0.0), weight)
    return terms


# ------------------------------------------------------------------------------------ engine


@dataclass(frozen=True)
class Document:
    """One searchable item: an id, a title (with cues such as the department), its passages."""

    id: str
    title: str
    passages: tuple[str, ...]
    cues: str = ""


@dataclass(frozen=True)
class Hit:
    """A document that answers a question: its score and the passage that answers best."""

    id: str
    score: float
    passage: str
    passage_index: int


class BM25:
    """Okapi BM25 over tokenised documents, with weighted query terms."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = K1, b: float = B) -> None:
        self.k1, self.b = k1, b
        self.n = len(docs)
        self.lengths = [len(d) for d in docs]
        self.avg = (sum(self.lengths) / self.n) if self.n else 0.0
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for number, doc in enumerate(docs):
            for term, count in Counter(doc).items():
                self.postings.setdefault(term, []).append((number, count))
        self.idf = {
            term: math.log(1 + (self.n - len(p) + 0.5) / (len(p) + 0.5))
            for term, p in self.postings.items()
        }

    def scores(self, terms: Mapping[str, float]) -> dict[int, float]:
        """Score of every document that shares a term with the query (others score 0)."""
        out: dict[int, float] = {}
        avg = self.avg or 1.0
        for term, weight in terms.items():
            for number, tf in self.postings.get(term, ()):
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[number] / avg)
                gain = weight * self.idf[term] * tf * (self.k1 + 1) / norm
                out[number] = out.get(number, 0.0) + gain
        return out


@dataclass
class _Bigrams:
    """Idf-weighted character-bigram vectors, unit length, for cosine similarity."""

    idf: dict[str, float] = field(default_factory=dict)
    vectors: list[dict[str, float]] = field(default_factory=list)

    @classmethod
    def build(cls, texts: Sequence[str]) -> _Bigrams:
        grams = [Counter(bigrams(t)) for t in texts]
        df: Counter[str] = Counter()
        for g in grams:
            df.update(g.keys())
        n = len(texts) or 1
        idf = {k: math.log((1 + n) / (1 + v)) + 1 for k, v in df.items()}
        return cls(idf, [_unit({k: c * idf[k] for k, c in g.items()}) for g in grams])

    def query(self, text: str) -> dict[str, float]:
        counts = Counter(bigrams(text))
        return _unit({k: c * self.idf[k] for k, c in counts.items() if k in self.idf})


def _unit(vector: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {k: v / norm for k, v in vector.items()} if norm else {}


def _cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(k, 0.0) for k, v in a.items())


class SearchEngine:
    """BM25 over passages and titles, with synonym expansion and a character-bigram fallback.

    Args:
        documents: what to search; ids unique.
        synonyms: the colloquial map (the packaged one when None; ``{}`` for none).
        title_weight, dense_weight, expansion_weight: see the module's constants.
    """

    def __init__(
        self,
        documents: Iterable[Document],
        *,
        synonyms: Mapping[str, Sequence[str]] | None = None,
        title_weight: float = TITLE_WEIGHT,
        dense_weight: float = DENSE_WEIGHT,
        expansion_weight: float = EXPANSION_WEIGHT,
    ) -> None:
        self.documents = list(documents)
        self.synonyms = default_synonyms() if synonyms is None else dict(synonyms)
        self.title_weight = title_weight
        self.dense_weight = dense_weight
        self.expansion_weight = expansion_weight
        self._owner: list[int] = []
        texts: list[str] = []
        for number, doc in enumerate(self.documents):
            for passage in doc.passages or (doc.title,):
                self._owner.append(number)
                texts.append(passage)
        self._passages = BM25([tokenize(t) for t in texts])
        self._titles = BM25([tokenize(f"{d.title} {d.cues}") for d in self.documents])
        self._dense_docs = _Bigrams.build(
            [" ".join((d.title, *d.passages)) for d in self.documents]
        )
        self._dense_passages = _Bigrams.build(texts)
        self._first = [self._owner.index(n) for n in range(len(self.documents))]

    def search(self, query: str, top: int = 10) -> list[Hit]:
        """The documents that answer ``query``, best first (at most ``top``; none for noise)."""
        if top <= 0 or not isinstance(query, str) or not self.documents:
            return []
        terms = expand(query, self.synonyms, self.expansion_weight)
        if not terms:
            return []
        passage_scores = self._passages.scores(terms)
        title_scores = self._titles.scores(terms)
        expanded_text = query + " " + " ".join(t for t, w in terms.items() if w < 1.0)
        dense_q = self._dense_docs.query(expanded_text) if self.dense_weight else {}
        best: dict[int, tuple[float, int]] = {}
        for pnum, score in passage_scores.items():
            owner = self._owner[pnum]
            if owner not in best or score > best[owner][0]:
                best[owner] = (score, pnum)
        candidates = set(best) | set(title_scores)
        dense: dict[int, float] = {}
        if dense_q:
            for number, vector in enumerate(self._dense_docs.vectors):
                similarity = _cosine(dense_q, vector)
                if similarity > 0:
                    dense[number] = similarity
        if not candidates:
            # nothing shares a word with the question: fall back on close character bigrams
            candidates = {n for n, similarity in dense.items() if similarity >= DENSE_FLOOR}
        hits: list[Hit] = []
        for number in candidates:
            lexical, pnum = best.get(number, (0.0, -1))
            score = (
                lexical
                + self.title_weight * title_scores.get(number, 0.0)
                + self.dense_weight * dense.get(number, 0.0)
            )
            if pnum < 0:
                pnum = self._closest_passage(number, expanded_text)
            doc = self.documents[number]
            index = pnum - self._first[number]
            passage = doc.passages[index] if doc.passages else doc.title
            hits.append(Hit(doc.id, round(score, 4), passage, index))
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits[:top]

    def _closest_passage(self, number: int, text: str) -> int:
        """The passage of a document nearest the question by bigrams (title-only matches)."""
        query = self._dense_passages.query(text)
        start = self._first[number]
        count = len(self.documents[number].passages) or 1
        scored = [
            (_cosine(query, self._dense_passages.vectors[p]), -p)
            for p in range(start, start + count)
        ]
        return -max(scored)[1]


# ------------------------------------------------------------------------------- for policies


def policy_documents(library: PolicyLibrary) -> list[Document]:
    """A library's policies as documents: clauses as passages, the department as a title cue."""
    return [Document(p.id, p.title, tuple(p.clauses), cues=p.department) for p in library.values()]


def policy_engine(library: PolicyLibrary) -> SearchEngine:
    """The search engine of a library's text, built once per distinct text.

    Keyed by the documents, not the library object: ``library_on`` builds a new library on
    every request while stored versions are in force, and an unchanged text must not rebuild
    the index each time.
    """
    return _engine_for(tuple(policy_documents(library)))


@lru_cache(maxsize=8)
def _engine_for(documents: tuple[Document, ...]) -> SearchEngine:
    return SearchEngine(list(documents))


@dataclass(frozen=True)
class PolicyHit:
    """One policy answering a question; for a known asker, whether it applies and why."""

    id: str
    score: float
    clause: str
    eligible: bool | None = None
    why: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The contract's result object (``eligible``/``why`` only for a known asker)."""
        out: dict[str, Any] = {"id": self.id, "score": self.score, "clause": self.clause}
        if self.eligible is not None:
            out["eligible"] = self.eligible
            out["why"] = self.why or {}
        return out


def search_policies(
    library: PolicyLibrary,
    query: str,
    top: int = 5,
    verdicts: Mapping[str, PolicyVerdict] | None = None,
) -> list[PolicyHit]:
    """The policies answering ``query``, best first, at most ``top``.

    With ``verdicts`` (the asker's eligibility, by policy id) the relevant hits (score at least
    :data:`RELEVANT_SHARE` of the best) are reordered eligible first, each keeping its score,
    and each carries ``why``: the rule and the facts that decided the verdict.
    """
    if top <= 0:
        return []
    engine = policy_engine(library)
    if verdicts is None:
        return [PolicyHit(h.id, h.score, h.passage) for h in engine.search(query, top)]
    hits = engine.search(query, len(library))
    if not hits:
        return []
    floor = hits[0].score * RELEVANT_SHARE
    relevant = [h for h in hits if h.score >= floor]
    out = []
    for hit in relevant:
        verdict = verdicts.get(hit.id)
        eligible = bool(verdict and verdict.eligible)
        why = (
            {"rule": verdict.policy.eligibility, "because": _plain(verdict.because)}
            if verdict
            else {}
        )
        out.append(PolicyHit(hit.id, hit.score, hit.passage, eligible, why))
    out.sort(key=lambda h: (not h.eligible, -h.score, h.id))
    return out[:top]


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items()}
