"""memory/coverage.py: saturated / under-covered classification and a bounded rendering."""

from __future__ import annotations

import pytest

from memory.coverage import (
    EXHAUSTED_AFTER,
    LISTED_ISSUES,
    LISTED_SATURATED,
    PASSED_OVER_AFTER,
    CoverageStats,
    coverage_stats,
)


class CountsOnly:
    """Just what coverage_stats reads from a Memory."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    def issue_counts(self) -> dict[str, int]:
        return dict(self.counts)


def stats(counts, rate=0.0) -> CoverageStats:
    return coverage_stats(CountsOnly(counts), rate)


@pytest.mark.parametrize(
    ("counts", "saturated", "under"),
    [
        ({}, [], []),
        ({"a": 0, "b": 0}, [], ["a", "b"]),
        # mean 3: a holds 10 > 2 * 3 and >= 3 -> saturated
        ({"a": 10, "b": 1, "c": 1, "d": 0}, ["a"], ["d", "b", "c"]),
        # a = 2 is more than twice the mean (0.5) but below the minimum of 3 items
        ({"a": 2, "b": 0, "c": 0, "d": 0}, [], ["b", "c", "d", "a"]),
        # a = 3 > 2 * 0.75 and >= 3 -> saturated
        ({"a": 3, "b": 0, "c": 0, "d": 0}, ["a"], ["b", "c", "d"]),
        # exactly twice the mean is not "more than"
        ({"a": 4, "b": 0}, [], ["b", "a"]),
        # evenly covered: nothing saturated, ties broken by name
        ({"z": 5, "y": 5, "x": 5}, [], ["x", "y", "z"]),
        (
            {"a": 30, "b": 30, "c": 1, "d": 0, "e": 0, "f": 0, "g": 0, "h": 0},
            ["a", "b"],
            ["d", "e", "f", "g", "h", "c"],
        ),
    ],
)
def test_classification(counts, saturated, under):
    result = stats(counts)
    assert result.saturated == saturated
    assert result.under_covered == under
    assert result.total_items == sum(counts.values())
    assert result.items_per_issue == counts


def test_lists_are_capped_and_least_covered_first():
    counts = {f"issue {i:03d}": i % 7 for i in range(100)}
    result = stats(counts)
    assert len(result.under_covered) == LISTED_ISSUES
    assert all(counts[name] == 0 for name in result.under_covered)


def test_render_names_the_lists_and_rate():
    text = stats({"fraud": 10, "doxxing": 1, "stalking": 0}, rate=0.25).render()
    assert "Accepted items: 11; known issues: 3; issues with no item yet: 1." in text
    assert "Most covered: fraud (10), doxxing (1)." in text
    assert "Saturated (do not advise): fraud." in text
    assert "Under-covered (good targets): stalking, doxxing." in text
    assert "25%" in text


def test_render_on_empty_memory():
    text = stats({}).render()
    assert "Most covered: none yet." in text
    assert "Saturated (do not advise): none." in text
    assert "Under-covered (good targets): none." in text


def test_render_stays_bounded_as_issues_accumulate():
    def rendered(n: int) -> str:
        return stats({f"issue number {i:04d}": (i * 37) % 11 for i in range(n)}).render()

    cap = 2 * LISTED_ISSUES + LISTED_SATURATED
    full = rendered(300)  # every list already holds as many names as it shows
    assert full.count("issue number") == cap
    for n in (1000, 2000):
        large = rendered(n)
        assert len(large) <= len(full) + 10  # only the digits of the totals may grow
        assert large.count("issue number") <= cap


def test_render_bounded_even_with_longest_issue_names():
    counts = {f"{i:04d} " + "x" * 55: i % 5 for i in range(500)}
    assert len(stats(counts).render()) < 3 * LISTED_ISSUES * 70 + 400


def test_under_covered_moves_on_to_issues_advised_less_often(make_memory):
    memory = make_memory()
    memory.add_issues([{"name": n} for n in ("alpha issue", "beta issue", "gamma issue")])
    first = coverage_stats(memory).under_covered
    later = coverage_stats(memory, advised={"alpha issue": 2, "beta issue": 1}).under_covered
    assert first[0] == "alpha issue" and later == ["gamma issue", "beta issue", "alpha issue"]


def test_issues_the_advisor_passes_over_do_not_dilute_the_mean_share():
    counts = {"a": 4, "b": 4, "c": 1, **{f"seed {i}": 0 for i in range(9)}}
    assert stats(counts).saturated == ["a", "b"]  # mean 0.75 over 12 issues
    passed_over = {f"seed {i}": PASSED_OVER_AFTER for i in range(9)}
    in_play = coverage_stats(CountsOnly(counts), listed=passed_over)
    assert in_play.saturated == []  # mean 3 over the 3 issues in play
    advised = {f"seed {i}": 1 for i in range(3)}
    tried = coverage_stats(CountsOnly(counts), advised=advised, listed=passed_over)
    assert tried.saturated == ["a", "b"]  # 3 advised once are in play: mean 1.5 over 6


def test_an_issue_whose_candidates_keep_repeating_its_items_is_exhausted():
    counts = {"doxxing": 2, "malware": 1, "fraud": 0}
    dry = {"doxxing": EXHAUSTED_AFTER, "malware": EXHAUSTED_AFTER - 1}
    result = coverage_stats(CountsOnly(counts), dry=dry)
    assert result.exhausted == ["doxxing"] and result.saturated == []
    assert result.avoided == {"doxxing"}
    assert "doxxing" not in result.under_covered
    assert "Exhausted (its recent requests repeat its items; do not advise): doxxing." in (
        result.render()
    )
    assert "Exhausted" not in stats(counts).render()


def test_advice_in_flight_counts_as_items_and_is_named_only_when_there_is_some():
    counts = {"doxxing": 0, "malware": 0, "fraud": 1}
    in_flight = [("privacy", "doxxing", "role-play", "harmful")] * 2
    busy = coverage_stats(CountsOnly(counts), in_flight=in_flight)
    assert busy.items_per_issue["doxxing"] == 2
    assert busy.under_covered[0] == "malware"  # the issue being written now moves down
    assert "Being written now (counted above; advise other issues first): doxxing (2)." in (
        busy.render()
    )
    assert "Being written now" not in stats(counts).render()  # lock-step prompts are unchanged


def test_coverage_parts_show_other_slices_of_the_gaps():
    counts = {f"issue {i:02d}": 0 for i in range(20)}
    head = coverage_stats(CountsOnly(counts)).under_covered
    second = coverage_stats(CountsOnly(counts), part=1).under_covered
    assert head == [f"issue {i:02d}" for i in range(LISTED_ISSUES)]
    assert second == [f"issue {i:02d}" for i in range(LISTED_ISSUES, 2 * LISTED_ISSUES)]
    wrapped = coverage_stats(CountsOnly(counts), part=2).under_covered
    assert wrapped[:4] == ["issue 16", "issue 17", "issue 18", "issue 19"]
    assert wrapped[4:] == head[:4]
