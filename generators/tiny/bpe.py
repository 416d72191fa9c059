"""A small, deterministic byte-pair-encoding trainer for the tiny models' tokenizers.

``tokenizers``' own trainer breaks ties between equally frequent pairs by token ids
that come from hash-map iteration order, so two runs can write different vocabularies
(measured here: the CLIP vocabulary differed between runs). This trainer breaks ties
by the pair's text, so the same corpus always gives the same files; the result loads
into ``tokenizers.models.BPE`` or ``CLIPTokenizer`` unchanged::

    vocab, merges = train_bpe(["Ġnew", "Ġnew", "Ġnow"], vocab_size=300,
                              alphabet=byte_level_alphabet(), special_tokens=["<|eos|>"])
    merges[0]   # ("Ġ", "n")

Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword Units", §3.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

__all__ = ["byte_level_alphabet", "train_bpe"]

Pair = tuple[str, str]


def byte_level_alphabet() -> list[str]:
    """The 256 printable stand-ins GPT-2's byte-level BPE uses for bytes, sorted."""
    from tokenizers import pre_tokenizers

    return sorted(pre_tokenizers.ByteLevel.alphabet())


def train_bpe(
    words: Iterable[str],
    *,
    vocab_size: int,
    alphabet: Sequence[str],
    special_tokens: Sequence[str] = (),
    end_of_word_suffix: str = "",
) -> tuple[dict[str, int], list[Pair]]:
    """Learn merges until the vocabulary has ``vocab_size`` entries or nothing repeats.

    ``words`` are pre-tokenised pieces (already mapped to ``alphabet``); ids are
    special tokens, then the alphabet (and its ``end_of_word_suffix`` twins), then merge
    products in merge order.
    """
    base = [*special_tokens, *alphabet]
    if end_of_word_suffix:
        base.extend(symbol + end_of_word_suffix for symbol in alphabet)
    vocab = {token: index for index, token in enumerate(dict.fromkeys(base))}
    state = _MergeState(Counter(words), end_of_word_suffix)
    merges: list[Pair] = []
    while len(vocab) < vocab_size:
        pair = state.pop_most_frequent()
        if pair is None:
            break
        merges.append(pair)
        vocab.setdefault(pair[0] + pair[1], len(vocab))
        state.apply(pair)
    return vocab, merges


class _MergeState:
    """Words as symbol lists, pair counts, and a max-heap of pairs with lazy deletion."""

    def __init__(self, word_counts: Counter[str], suffix: str) -> None:
        self.words = [self._symbols(word, suffix) for word in sorted(word_counts)]
        self.freqs = [word_counts[word] for word in sorted(word_counts)]
        self.pair_counts: Counter[Pair] = Counter()
        self.words_with: defaultdict[Pair, set[int]] = defaultdict(set)
        for index, symbols in enumerate(self.words):
            for pair in itertools.pairwise(symbols):
                self.pair_counts[pair] += self.freqs[index]
                self.words_with[pair].add(index)
        # Heap entries (-count, pair): the most frequent pair first, ties by pair text.
        self.heap = [(-count, pair) for pair, count in self.pair_counts.items()]
        heapq.heapify(self.heap)

    @staticmethod
    def _symbols(word: str, suffix: str) -> list[str]:
        symbols = list(word)
        if suffix and symbols:
            symbols[-1] += suffix
        return symbols

    def pop_most_frequent(self) -> Pair | None:
        while self.heap:
            negative_count, pair = heapq.heappop(self.heap)
            if self.pair_counts[pair] == -negative_count and negative_count < 0:
                return pair
        return None

    def apply(self, pair: Pair) -> None:
        changed: set[Pair] = set()
        for index in sorted(self.words_with.pop(pair, ())):
            old = self.words[index]
            new = merge_pair(old, pair)
            if new == old:
                continue
            frequency = self.freqs[index]
            for stale in itertools.pairwise(old):
                self.pair_counts[stale] -= frequency
                changed.add(stale)
            for fresh in itertools.pairwise(new):
                self.pair_counts[fresh] += frequency
                self.words_with[fresh].add(index)
                changed.add(fresh)
            self.words[index] = new
        for other in sorted(changed):
            if self.pair_counts[other] > 0:
                heapq.heappush(self.heap, (-self.pair_counts[other], other))


def merge_pair(symbols: Sequence[str], pair: Pair) -> list[str]:
    merged: list[str] = []
    index = 0
    while index < len(symbols):
        if index + 1 < len(symbols) and (symbols[index], symbols[index + 1]) == pair:
            merged.append(pair[0] + pair[1])
            index += 2
        else:
            merged.append(symbols[index])
            index += 1
    return merged
