"""The deterministic BPE trainer."""

from __future__ import annotations

from generators.tiny.bpe import byte_level_alphabet, merge_pair, train_bpe


def test_most_frequent_pair_merges_first_and_ties_break_by_text() -> None:
    vocab, merges = train_bpe(
        ["abab", "cdcd", "abab"], vocab_size=9, alphabet=list("abcd"), special_tokens=["<s>"]
    )

    # (a, b) occurs 4 times, (b, a) 2 times, (c, d) 2 times, (d, c) once.
    assert merges[0] == ("a", "b")
    assert merges[1] == ("ab", "ab")
    assert merges[2] == ("c", "d")
    assert vocab["<s>"] == 0
    assert vocab["ab"] == 5
    assert len(vocab) == 9


def test_same_words_in_any_order_give_the_same_vocabulary() -> None:
    words = ["low", "lower", "newest", "widest", "new", "wide", "low"] * 3
    alphabet = sorted(set("".join(words)))

    first = train_bpe(words, vocab_size=40, alphabet=alphabet, end_of_word_suffix="</w>")
    second = train_bpe(
        list(reversed(words)), vocab_size=40, alphabet=alphabet, end_of_word_suffix="</w>"
    )

    assert first == second
    assert "est</w>" in first[0]


def test_stops_when_no_pair_repeats() -> None:
    vocab, merges = train_bpe(["ab"], vocab_size=100, alphabet=list("ab"))

    assert merges == [("a", "b")]
    assert set(vocab) == {"a", "b", "ab"}


def test_merge_pair_replaces_non_overlapping_occurrences() -> None:
    assert merge_pair(list("aaa"), ("a", "a")) == ["aa", "a"]
    assert merge_pair(list("abcab"), ("a", "b")) == ["ab", "c", "ab"]


def test_byte_level_alphabet_has_256_symbols() -> None:
    assert len(byte_level_alphabet()) == 256
