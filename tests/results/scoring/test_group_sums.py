"""Both ways of summing per group agree: rows in runs per department (np.add.reduceat over the
runs) and rows in any order (a scatter per row). Counts exactly, sums and spreads to 1e-9."""

import numpy as np

from results.scoring import engine


def _inputs(rng, *, groups: int, rows: int, domains: int = 3):
    # Runs of one group, some groups in two runs, one group never seen.
    sizes = rng.integers(20, 60, size=groups + 3)
    labels = np.concatenate([np.full(n, g % groups, dtype=np.int64) for g, n in enumerate(sizes)])
    labels[labels == groups - 1] = groups - 2  # the last group stays empty
    labels = labels[:rows]
    scores = rng.normal(3, 1, size=(len(labels), domains))
    scores[rng.random(scores.shape) < 0.1] = np.nan  # unanswered domains
    flags = (scores > 3.5) & ~np.isnan(scores)
    return labels, scores, flags


def test_runs_and_scattered_rows_give_the_same_sums():
    rng = np.random.default_rng(7)
    labels, scores, flags = _inputs(rng, groups=8, rows=10_000)
    size = 9  # one bin more than any label
    starts = np.flatnonzero(np.concatenate(([True], labels[1:] != labels[:-1])))
    assert len(starts) * 8 <= len(labels), "the rows come in runs, so the run path is taken"
    by_runs = engine._sums(labels, size, scores, flags)

    shuffle = rng.permutation(len(labels))
    scattered_labels = labels[shuffle]
    assert np.count_nonzero(scattered_labels[1:] != scattered_labels[:-1]) * 8 > len(labels)
    by_rows = engine._sums(scattered_labels, size, scores[shuffle], flags[shuffle])

    assert np.array_equal(by_runs[..., 0], by_rows[..., 0])  # counts
    assert np.array_equal(by_runs[..., 3], by_rows[..., 3])  # high-risk counts
    np.testing.assert_allclose(by_runs[..., 1:3], by_rows[..., 1:3], rtol=1e-9, atol=1e-9)
    assert by_runs[7].sum() == 0 and by_runs[8].sum() == 0  # empty group, unused bin


def test_sums_match_a_direct_computation():
    rng = np.random.default_rng(3)
    labels, scores, flags = _inputs(rng, groups=5, rows=3_000)
    sums = engine._sums(labels, 5, scores, flags)
    for group in range(5):
        for d in range(scores.shape[1]):
            mine = scores[labels == group, d]
            mine = mine[~np.isnan(mine)]
            n, total, m2, risky = sums[group, d]
            assert n == len(mine) and risky == np.count_nonzero(mine > 3.5)
            assert abs(total - mine.sum()) < 1e-9
            spread = ((mine - mine.mean()) ** 2).sum() if len(mine) else 0.0
            assert abs(m2 - spread) < 1e-9
