"""The scoring engine: answers in, one tidy DataFrame of result cells out. No Django import.

Inputs are arrays, not model instances: the packed answers as an int8 matrix (one row per
response, one column per item, 0 = not answered), the department of each response, the
department tree, the instrument as an InstrumentModel, k, the coarse attributes per response
and the previous campaign's published results for trends.

Every department's figures include all its descendants; the whole organisation is the root
(department_id <NA>). Suppression (see suppression.py) runs before any figure is computed,
and a suppressed cell leaves the engine with no figure at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from results.scoring.model import HIGHER_IS_WORSE, DomainModel, InstrumentModel
from results.scoring.suppression import publishable

URGENT, IMPROVE, GOOD, WELL = "urgent", "improve", "good", "well"
BAND_SEVERITY = {URGENT: 3, IMPROVE: 2, GOOD: 1, WELL: 0}
OVERALL = "overall"  # domain code of the per-department priority row
# Domain code of the rows that carry only a department's number of respondents (everyone who
# answered, whatever they skipped), suppressed by the same rules as every other count.
RESPONDENTS = "respondents"

COLUMNS = [
    "department_id", "domain_code", "breakdown_attribute", "breakdown_value", "suppressed",
    "n", "mean", "sd", "share_high_risk", "risk_score", "band",
    "trend_diff", "trend_ci_low", "trend_ci_high", "trend_significant", "band_counts",
]  # fmt: skip
BAND_CODES = (URGENT, IMPROVE, GOOD, WELL)


class ScoringInputError(ValueError):
    """The inputs do not fit together (unknown department, code outside a scale, ...)."""


# --- Respondent level -------------------------------------------------------------------


# Rows scored at a time: a block of answers, transposed, stays in the CPU cache.
BLOCK_ROWS = 1 << 15
# A domain whose every combination of answers fits in a table this size is scored by lookup.
MAX_TABLE = 1 << 16


def _domain_scores(
    columns: Sequence[np.ndarray], domain: DomainModel, lookup: np.ndarray
) -> np.ndarray:
    """Domain scores from the codes of its items (`columns[j]` holds item `domain.start + j`):
    NaN where too few are answered, +inf where a code lies outside its item's scale."""
    total = np.zeros(len(columns[0]))
    answered = np.zeros(len(columns[0]), dtype=np.int16)
    outside = np.zeros(len(columns[0]), dtype=bool)
    for item, codes in zip(range(domain.start, domain.stop), columns, strict=True):
        values = lookup[item][codes]
        given = ~np.isnan(values)
        outside |= ~given & (codes > 0)
        total += np.where(given, values, 0.0)
        answered += given
    result = np.full(len(columns[0]), np.nan)
    enough = answered >= domain.min_answered
    result[enough] = total[enough] / answered[enough]
    result[outside] = np.inf
    return result


def _domain_table(lookup: np.ndarray, domain: DomainModel) -> np.ndarray:
    """The domain score of every combination of its items' codes, indexed by the codes read
    as one base-`width` number (first item most significant)."""
    width = lookup.shape[1]
    digits = np.indices((width,) * (domain.stop - domain.start)).reshape(
        domain.stop - domain.start, -1
    )
    return _domain_scores(list(digits), domain, lookup)


def respondent_scores(answers: np.ndarray, model: InstrumentModel) -> np.ndarray:
    """Domain score per respondent (rows) and domain (columns); NaN where too few answered.

    A domain score is the mean of the answered items after reverse keys and value maps, if at
    least the domain's minimum number of items was answered. The result is column-major: each
    domain's scores are contiguous for the aggregation that follows.
    """
    if answers.ndim != 2 or answers.shape[1] != model.item_count:
        raise ScoringInputError(
            f"answers have shape {answers.shape}; expected (responses, {model.item_count})"
        )
    rows = answers.shape[0]
    width = model.lookup.shape[1]
    if rows and (answers.min() < 0 or answers.max() >= width):
        codes = answers.min(axis=0), answers.max(axis=0)
        item = int(np.flatnonzero((codes[0] < 0) | (codes[1] >= width))[0])
        raise ScoringInputError(f"item {item + 1}: stored code outside 0..{width - 1}")
    scores = np.empty((len(model.domains), rows))
    tables = [
        _domain_table(model.lookup, domain)
        if width ** (domain.stop - domain.start) <= MAX_TABLE
        else None
        for domain in model.domains
    ]
    key = np.empty(BLOCK_ROWS, dtype=np.intp)
    for start in range(0, rows, BLOCK_ROWS):
        block = np.ascontiguousarray(answers[start : start + BLOCK_ROWS].T)
        size = block.shape[1]
        for d, domain in enumerate(model.domains):
            out = scores[d, start : start + size]
            if tables[d] is None:  # too many items for a table: item by item
                columns = [block[item] for item in range(domain.start, domain.stop)]
                out[:] = _domain_scores(columns, domain, model.lookup)
                continue
            k = key[:size]
            k[:] = block[domain.start]
            for item in range(domain.start + 1, domain.stop):
                k *= width
                k += block[item]
            np.take(tables[d], k, out=out)
    if np.isinf(scores).any():
        domain = model.domains[int(np.flatnonzero(np.isinf(scores).any(axis=1))[0])]
        raise ScoringInputError(
            f"domain {domain.code}: a stored code lies outside its item's scale"
        )
    return scores.T


def high_risk(scores: np.ndarray, model: InstrumentModel) -> np.ndarray:
    """Whether each respondent is at or beyond the domain's individual cut-off (worse side)."""
    flags = np.zeros(scores.shape, dtype=bool, order="F")
    for d, domain in enumerate(model.domains):
        with np.errstate(invalid="ignore"):
            compare = np.greater_equal if domain.direction == HIGHER_IS_WORSE else np.less_equal
            compare(scores[:, d], domain.high_risk, out=flags[:, d])
    return flags


# --- Tree ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    """Departments as indices 0..N-1 plus the organisation as root index N."""

    ids: np.ndarray  # department id per index
    parent: np.ndarray  # parent index per index; the root's is -1
    bottom_up: np.ndarray  # department indices, deepest first

    @property
    def root(self) -> int:
        return len(self.ids)

    @classmethod
    def from_frame(cls, departments: pd.DataFrame) -> Tree:
        """`departments` has columns id and parent_id (<NA> or None at the top)."""
        ids = departments["id"].to_numpy(dtype=np.int64)
        if len(set(ids.tolist())) != len(ids):
            raise ScoringInputError("department ids are not unique")
        index = pd.Index(ids)
        parent_ids = departments["parent_id"]
        top = parent_ids.isna().to_numpy()
        parent = np.full(len(ids) + 1, -1, dtype=np.int64)
        located = index.get_indexer(parent_ids.fillna(-1).astype(np.int64))
        unknown = (~top) & (located < 0)
        if unknown.any():
            raise ScoringInputError(
                f"parents not in the tree: {sorted(set(parent_ids[unknown].tolist()))[:5]}"
            )
        parent[: len(ids)] = np.where(top, len(ids), located)
        depth = np.full(len(ids) + 1, -1, dtype=np.int64)
        depth[len(ids)] = 0
        # Depth by walking up; a cycle would never reach the root.
        for start in range(len(ids)):
            chain, node = [], start
            while depth[node] < 0:
                chain.append(node)
                node = parent[node]
                if len(chain) > len(ids):
                    raise ScoringInputError("the department tree has a cycle")
            for offset, member in enumerate(reversed(chain), start=1):
                depth[member] = depth[node] + offset
        bottom_up = np.argsort(-depth[: len(ids)], kind="stable")
        return cls(ids=ids, parent=parent, bottom_up=bottom_up)

    def children(self) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {}
        for node, parent in enumerate(self.parent):
            if parent >= 0:
                found.setdefault(int(parent), []).append(node)
        return found


# --- Group statistics ---------------------------------------------------------------------


def _sums(groups: np.ndarray, size: int, scores: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Per group and domain: count, sum, sum of squared deviations from the group mean (M2)
    and high-risk count. Shape (size, D, 4). Two passes, so M2 keeps full precision.

    Rows without a score go to a spare bin rather than being filtered out for each sum.
    """
    out = np.zeros((size, scores.shape[1], 4))
    if len(groups) > 1:
        # Answers arrive in blocks per department: sum each run of equal groups in place
        # (np.add.reduceat), then the few runs per group, instead of scattering every row.
        starts = np.flatnonzero(np.concatenate(([True], groups[1:] != groups[:-1])))
        if len(starts) * 8 <= len(groups):
            return _sums_by_runs(groups, starts, out, scores, flags)
    spare = size + 1
    for d in range(scores.shape[1]):
        column = scores[:, d]
        where = np.where(np.isnan(column), size, groups)
        count = np.bincount(where, minlength=spare)
        # NaN scores land in the spare bin only, which is dropped.
        total = np.bincount(where, weights=column, minlength=spare)
        mean = np.divide(total, count, out=np.zeros(spare), where=count > 0)
        deviation = column - mean[where]
        deviation *= deviation
        out[:, d, 0] = count[:size]
        out[:, d, 1] = total[:size]
        out[:, d, 2] = np.bincount(where, weights=deviation, minlength=spare)[:size]
        out[:, d, 3] = np.bincount(where, weights=flags[:, d], minlength=spare)[:size]
    return out


def _sums_by_runs(
    groups: np.ndarray, starts: np.ndarray, out: np.ndarray, scores: np.ndarray, flags: np.ndarray
) -> np.ndarray:
    """_sums for rows that come in runs of one group (a group may have several runs)."""
    run_group = groups[starts]
    size = out.shape[0]
    for d in range(scores.shape[1]):
        column = scores[:, d]
        valid = ~np.isnan(column)
        filled = np.where(valid, column, 0.0)
        count = np.bincount(
            run_group, weights=np.add.reduceat(valid.astype(np.float64), starts), minlength=size
        )
        total = np.bincount(run_group, weights=np.add.reduceat(filled, starts), minlength=size)
        mean = np.divide(total, count, out=np.zeros(size), where=count > 0)
        deviation = np.where(valid, column - mean[groups], 0.0)
        deviation *= deviation
        risky = np.where(valid, flags[:, d], 0).astype(np.float64)
        out[:, d, 0] = count
        out[:, d, 1] = total
        out[:, d, 2] = np.bincount(
            run_group, weights=np.add.reduceat(deviation, starts), minlength=size
        )
        out[:, d, 3] = np.bincount(
            run_group, weights=np.add.reduceat(risky, starts), minlength=size
        )
    return out


def _roll_up_stats(tree: Tree, direct: np.ndarray) -> np.ndarray:
    """Add each node's statistics into its parent's, deepest first (Chan's pairwise update
    for M2, so a parent's spread includes the spread between its children's means)."""
    rolled = direct.copy()
    for node in tree.bottom_up:
        parent = tree.parent[node]
        a, b = rolled[parent], rolled[node]
        n_a, n_b = a[..., 0], b[..., 0]
        n = n_a + n_b
        mean_a = np.divide(a[..., 1], n_a, out=np.zeros_like(n_a), where=n_a > 0)
        mean_b = np.divide(b[..., 1], n_b, out=np.zeros_like(n_b), where=n_b > 0)
        between = np.divide(n_a * n_b, n, out=np.zeros_like(n), where=n > 0)
        a[..., 2] += b[..., 2] + (mean_b - mean_a) ** 2 * between
        a[..., 0] = n
        a[..., 1] += b[..., 1]
        a[..., 3] += b[..., 3]
    return rolled


def band_of(mean: float, domain: DomainModel) -> str:
    """Band of a group mean: below p20/a urgent ... at or above p80/c doing well, mirrored
    for domains where a higher score is worse."""
    a, b, c = domain.cutoffs
    if domain.direction == HIGHER_IS_WORSE:
        if mean > c:
            return URGENT
        if mean > b:
            return IMPROVE
        if mean > a:
            return GOOD
        return WELL
    if mean < a:
        return URGENT
    if mean < b:
        return IMPROVE
    if mean < c:
        return GOOD
    return WELL


def respondent_bands(column: np.ndarray, domain: DomainModel) -> np.ndarray:
    """Band index per respondent (0 urgent .. 3 well; -1 without a score), with band_of's
    boundaries applied to each person's own score."""
    # Three comparisons beat a binary search over three cut-offs (NaN compares False).
    bands = np.zeros(column.shape, dtype=np.int8)
    if domain.direction == HIGHER_IS_WORSE:
        for cutoff in domain.cutoffs:  # cut-offs below the score: > c urgent ... <= a well
            bands += column > cutoff
        bands = 3 - bands
    else:
        for cutoff in domain.cutoffs:  # cut-offs reached: < a urgent ... >= c well
            bands += column >= cutoff
    bands[np.isnan(column)] = -1
    return bands


def tree_band_counts(
    tree: Tree, nodes: np.ndarray, scores: np.ndarray, model: InstrumentModel
) -> np.ndarray:
    """Respondents per band for every node (rolled up) and domain: shape (N + 1, D, 4)."""
    size = tree.root + 1
    counts = np.zeros((size, len(model.domains), 4))
    spare = size * 4  # respondents without a score in the domain
    for d, domain in enumerate(model.domains):
        bands = respondent_bands(scores[:, d], domain)
        where = np.where(bands >= 0, nodes * 4 + bands, spare)
        counts[:, d, :] = np.bincount(where, minlength=spare + 1)[:spare].reshape(size, 4)
    for node in tree.bottom_up:
        counts[tree.parent[node]] += counts[node]
    return counts


def risk_score(mean: float, domain: DomainModel) -> float:
    """0 (best possible) to 100 (worst possible), whatever the domain's direction."""
    position = (mean - domain.low) / (domain.high - domain.low)
    return 100.0 * (position if domain.direction == HIGHER_IS_WORSE else 1.0 - position)


def _figures(sums: np.ndarray, domain: DomainModel) -> dict:
    n, total, m2, risky = sums
    mean = total / n
    sd = float(np.sqrt(m2 / (n - 1))) if n > 1 else None
    return {
        "n": int(n),
        "mean": float(mean),
        "sd": sd,
        "share_high_risk": float(risky / n),
        "risk_score": risk_score(mean, domain),
        "band": band_of(mean, domain),
    }


def welch(
    n1: float, mean1: float, sd1: float, n0: float, mean0: float, sd0: float
) -> tuple[float, float, float, bool] | None:
    """Difference of means (now minus before) with a Welch 95% interval and significance."""
    if n1 < 2 or n0 < 2 or sd1 is None or sd0 is None or pd.isna(sd1) or pd.isna(sd0):
        return None
    diff = mean1 - mean0
    v1, v0 = sd1 * sd1 / n1, sd0 * sd0 / n0
    se = float(np.sqrt(v1 + v0))
    if se == 0.0:
        return diff, diff, diff, diff != 0.0
    dof = (v1 + v0) ** 2 / (v1 * v1 / (n1 - 1) + v0 * v0 / (n0 - 1))
    half = float(special.stdtrit(dof, 0.975)) * se  # the t quantile, as stats.t.ppf computes it
    low, high = diff - half, diff + half
    return diff, low, high, bool(low > 0 or high < 0)


# --- The whole campaign -------------------------------------------------------------------


def score_campaign(
    *,
    answers: np.ndarray,
    response_departments: np.ndarray,
    departments: pd.DataFrame,
    model: InstrumentModel,
    k: int,
    attributes: Mapping[str, np.ndarray] | None = None,
    previous: pd.DataFrame | None = None,
    known_counts: Sequence[int | None] = (),
) -> pd.DataFrame:
    """Score a closed campaign; one row per published or suppressed cell (see COLUMNS).

    `previous` holds the prior campaign's published department rows (department_id,
    domain_code, n, mean, sd) for trends; departments are matched by id. `known_counts` names
    the departments (None: the organisation) whose number of respondents was already shown
    elsewhere (the answered counts of the open campaign): the cells chosen stay safe beside them.
    """
    tree = Tree.from_frame(departments)
    nodes = pd.Index(tree.ids).get_indexer(np.asarray(response_departments, dtype=np.int64))
    if (nodes < 0).any():
        missing = sorted(set(np.asarray(response_departments)[nodes < 0].tolist()))[:5]
        raise ScoringInputError(f"responses in departments outside the tree: {missing}")
    scores = respondent_scores(answers, model)
    flags = high_risk(scores, model)
    size = tree.root + 1

    # Counts and sums for every cell: the department totals (layer 0), then each breakdown's
    # categories. A layer is (attribute, categories, group per row, scores, flags).
    layers = [("", [""], nodes, scores, flags)]
    codes_by_attribute = []
    for name, raw in (attributes or {}).items():
        codes, categories = _attribute_codes(raw)
        if len(codes) != len(nodes):
            raise ScoringInputError(f"attribute {name}: {len(codes)} values for {len(nodes)} rows")
        codes_by_attribute.append((codes, len(categories)))
        kept = codes >= 0  # people without a value count in the department total only
        width = len(categories)
        with_value = slice(None) if kept.all() else kept  # a view, not a copy, if all have one
        layers.append(
            (name, [str(c) for c in categories], nodes[with_value] * width + codes[with_value],
             scores[with_value], flags[with_value])
        )  # fmt: skip

    sums = []
    for _, categories, groups, layer_scores, layer_flags in layers:
        width = len(categories)
        direct = _sums(groups, size * width, layer_scores, layer_flags)
        sums.append(_roll_up_stats(tree, direct.reshape(size, width, len(model.domains), 4)))

    atoms = _Atoms.of(nodes, codes_by_attribute)
    known = np.zeros(size, dtype=bool)
    located = pd.Index(tree.ids).get_indexer(
        [department for department in known_counts if department is not None]
    )
    known[located[located >= 0]] = True
    known[tree.root] = None in known_counts
    everyone = atoms.counts(np.ones(atoms.rows, dtype=bool))  # respondents per atom
    published = _suppress(tree, atoms, everyone, scores, k, known)
    # How many respondents fall in each band, per department and domain (no breakdowns).
    distribution = tree_band_counts(tree, nodes, scores, model)

    trends = _previous_lookup(previous)
    rows = []
    for node in range(size):
        department_id = None if node == tree.root else int(tree.ids[node])
        for d, domain in enumerate(model.domains):
            row = {
                "department_id": department_id,
                "domain_code": domain.code,
                "breakdown_attribute": "",
                "breakdown_value": "",
                "suppressed": not published[0][node, 0],
            }
            if not row["suppressed"]:
                row.update(_figures(sums[0][node, 0, d], domain))
                counts = distribution[node, d]
                row["band_counts"] = dict(zip(BAND_CODES, (int(c) for c in counts), strict=True))
                if department_id is not None:
                    row.update(_trend(row, trends.get((department_id, domain.code))))
            rows.append(row)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    breakdowns = [
        _breakdown_rows(tree, model, attribute, categories, sums[layer], published[layer])
        for layer, (attribute, categories, *_rest) in enumerate(layers)
        if layer > 0
    ]
    respondents = _respondent_rows(tree, atoms, everyone, published[0][:, 0])
    frame = pd.concat([frame, *breakdowns, _priorities(frame), respondents], ignore_index=True)
    return _typed(frame)


@dataclass(frozen=True)
class _Atoms:
    """The finest groups an attacker can tell apart: respondents attached directly to one
    department with one combination of breakdown values (see suppression.py)."""

    node: np.ndarray  # node index per atom
    values: np.ndarray  # (atoms, attributes) value code per atom, -1 without a value
    widths: tuple[int, ...]
    starts: np.ndarray  # first row of each run of respondents with the same atom
    run_atom: np.ndarray  # atom index of each run
    rows: int

    @classmethod
    def of(cls, nodes: np.ndarray, codes_by_attribute: list[tuple[np.ndarray, int]]) -> _Atoms:
        key = nodes.astype(np.int64)
        for codes, width in codes_by_attribute:
            key = key * (width + 1) + (codes.astype(np.int64) + 1)
        # Answers arrive in blocks per department and values: work on runs, not rows.
        starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))[: len(key)]
        keys, run_atom = np.unique(key[starts], return_inverse=True)
        values = []
        for _, width in reversed(codes_by_attribute):
            values.append(keys % (width + 1) - 1)
            keys = keys // (width + 1)
        return cls(
            node=keys,
            values=np.stack(values[::-1], axis=1) if values else np.zeros((len(keys), 0), int),
            widths=tuple(width for _, width in codes_by_attribute),
            starts=starts,
            run_atom=run_atom.reshape(-1),
            rows=len(key),
        )

    def counts(self, counted: np.ndarray) -> np.ndarray:
        """Respondents per atom among the rows where `counted` is true."""
        if not len(self.starts):
            return np.zeros(len(self.node), dtype=np.int64)
        per_run = np.add.reduceat(counted.astype(np.int64), self.starts)
        return np.bincount(self.run_atom, weights=per_run, minlength=len(self.node)).astype(
            np.int64
        )


def _attribute_codes(raw) -> tuple[np.ndarray, list]:
    """Category code per row (-1 without a value; "" counts as none) and the categories,
    sorted. A pandas Categorical is read through its codes, anything else is factorised."""
    if isinstance(raw, pd.Categorical):
        if "" in raw.categories:
            raw = raw.remove_categories([""])
        raw = raw.remove_unused_categories()
        categories = sorted(raw.categories)
        raw = raw.reorder_categories(categories)
        return np.asarray(raw.codes, dtype=np.int64), categories
    values = pd.Series(np.asarray(raw, dtype=object)).replace("", None)
    codes, categories = pd.factorize(values, sort=True)
    return codes, list(categories)


def _breakdown_rows(
    tree: Tree, model: InstrumentModel, attribute: str, categories: list[str], sums, shown
) -> pd.DataFrame:
    """The cells of one breakdown attribute, built column by column (there can be a hundred
    thousand of them): figures where published, none where suppressed, no band counts."""
    size, width, domains = tree.root + 1, len(categories), len(model.domains)
    node = np.repeat(np.arange(size), width * domains)
    value = np.tile(np.repeat(np.arange(width), domains), size)
    domain = np.tile(np.arange(domains), size * width)
    n, total, m2, risky = (sums[..., i].reshape(-1) for i in range(4))
    published = np.repeat(shown.reshape(-1), domains)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(published, total / n, np.nan)
        sd = np.where(published & (n > 1), np.sqrt(m2 / (n - 1)), np.nan)
        share = np.where(published, risky / n, np.nan)
    risk = np.full(len(node), np.nan)
    band = np.full(len(node), None, dtype=object)
    for d, model_domain in enumerate(model.domains):
        here = np.flatnonzero(published & (domain == d))
        risk[here] = [risk_score(m, model_domain) for m in mean[here]]
        band[here] = [band_of(m, model_domain) for m in mean[here]]
    ids = np.array([None if i == tree.root else int(i_d) for i, i_d in
                    enumerate([*tree.ids.tolist(), None])], dtype=object)  # fmt: skip
    codes = np.array([d.code for d in model.domains], dtype=object)
    counts = pd.array(np.where(published, n, 0).astype(np.int64), dtype="Int64")
    counts[~published] = pd.NA
    return pd.DataFrame(
        {
            "department_id": ids[node],
            "domain_code": codes[domain],
            "breakdown_attribute": attribute,
            "breakdown_value": np.array(categories, dtype=object)[value],
            "suppressed": ~published,
            "n": counts,
            "mean": mean,
            "sd": sd,
            "share_high_risk": share,
            "risk_score": risk,
            "band": band,
        },
        columns=COLUMNS,
    )


def _suppress(
    tree: Tree, atoms: _Atoms, everyone: np.ndarray, scores: np.ndarray, k: int, known: np.ndarray
) -> list[np.ndarray]:
    """published[layer][node, category] for every cell (layer 0: the totals), the same for
    every domain and for the respondent counts.

    The populations differ only where someone skipped a domain; one choice of cells that is
    safe for each of them keeps a domain's cells from being subtracted from another's.
    """
    populations = [everyone]  # first: the known counts are of everyone who answered
    seen = {everyone.tobytes()}
    for d in range(scores.shape[1]):
        population = atoms.counts(~np.isnan(scores[:, d]))
        if population.tobytes() not in seen:
            seen.add(population.tobytes())
            populations.append(population)
    totals, breakdowns = publishable(
        parent=tree.parent, atom_node=atoms.node, atom_values=atoms.values,
        atom_count=np.stack(populations), widths=atoms.widths, k=k, known_totals=known,
    )  # fmt: skip
    return [totals.reshape(-1, 1), *breakdowns]


def _respondent_rows(
    tree: Tree, atoms: _Atoms, everyone: np.ndarray, shown: np.ndarray
) -> pd.DataFrame:
    """One "respondents" row per department (and the organisation): how many answered at all,
    published where the department's other figures are."""
    size = tree.root + 1
    subtree = np.bincount(atoms.node, weights=everyone, minlength=size).astype(np.int64)
    for node in tree.bottom_up:
        subtree[tree.parent[node]] += subtree[node]
    rows = [
        {
            "department_id": None if node == tree.root else int(tree.ids[node]),
            "domain_code": RESPONDENTS,
            "breakdown_attribute": "",
            "breakdown_value": "",
            "suppressed": not shown[node],
            "n": int(subtree[node]) if shown[node] else None,
        }
        for node in range(size)
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def _previous_lookup(previous: pd.DataFrame | None) -> dict:
    if previous is None or previous.empty:
        return {}
    return {
        (int(row.department_id), row.domain_code): (row.n, row.mean, row.sd)
        for row in previous.itertuples(index=False)
        if not pd.isna(row.department_id) and not pd.isna(row.mean)
    }


def _trend(row: dict, before: tuple | None) -> dict:
    if before is None:
        return {}
    result = welch(row["n"], row["mean"], row["sd"], *before)
    if result is None:
        return {}
    diff, low, high, significant = result
    return {
        "trend_diff": diff,
        "trend_ci_low": low,
        "trend_ci_high": high,
        "trend_significant": significant,
    }


def _priorities(frame: pd.DataFrame) -> pd.DataFrame:
    """One "overall" row per department (and the organisation): how urgently it needs action.

    Its risk score (also carried as `mean`) is the mean risk score of the department's
    published domains, its band the worst of their bands, its n the largest of their n.
    A department with no published domain has a suppressed priority row.
    """
    cells = frame[frame["breakdown_attribute"] == ""]
    suppressed = cells["suppressed"].to_numpy(dtype=bool)
    risk = cells["risk_score"].to_numpy(dtype=float, na_value=np.nan)
    n = cells["n"].to_numpy(dtype=float, na_value=np.nan)
    severity = cells["band"].map(BAND_SEVERITY).to_numpy(dtype=float, na_value=np.nan)
    worst = {value: band for band, value in BAND_SEVERITY.items()}
    rows = []
    groups = cells.groupby("department_id", dropna=False, sort=False).indices
    for department_id, where in groups.items():
        shown = where[~suppressed[where]]
        row = {
            "department_id": None if pd.isna(department_id) else department_id,
            "domain_code": OVERALL,
            "breakdown_attribute": "",
            "breakdown_value": "",
            "suppressed": len(shown) == 0,
        }
        if len(shown):
            score = float(risk[shown].sum() / len(shown))
            row.update(
                n=int(n[shown].max()),
                mean=score,
                risk_score=score,
                band=worst[int(severity[shown].max())],
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=frame.columns)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(
        {
            "department_id": "Int64",
            "domain_code": "string",
            "breakdown_attribute": "string",
            "breakdown_value": "string",
            "suppressed": "bool",
            "n": "Int64",
            "mean": "Float64",
            "sd": "Float64",
            "share_high_risk": "Float64",
            "risk_score": "Float64",
            "band": "string",
            "trend_diff": "Float64",
            "trend_ci_low": "Float64",
            "trend_ci_high": "Float64",
            "trend_significant": "boolean",
            "band_counts": "object",
        }
    )[COLUMNS]
