"""Identity resolution: which events belong to which lead, and from when.

Identifiers (lead ids, emails, cookies, device ids) are nodes; each row of the identities
table is an edge observed at a time. People are the connected components of this graph
(``scipy.sparse.csgraph.connected_components``).

Point-in-time: an edge observed at time ``t`` counts only for snapshots with
``as_of > t``. So for every (identifier, lead) pair we compute ``join_start``, the earliest
time from which the identifier is connected to one of the lead's own identifiers (its
``lead_id`` and its email). Over a path that is the latest edge time on the path; over all
paths it is the minimum of that (a bottleneck shortest path), found by vectorised
relaxation over the edge list, a handful of rounds for the shallow graphs identity data
makes.

Shared devices: an identifier linked to more than ``max_people`` distinct people (emails or
lead ids) is shared (a kiosk, a family computer). From the moment its ``max_people + 1``-th
person is linked it merges nobody: each edge carries ``valid_until``, the time its
endpoints became shared, and a path is usable only for ``join_start < as_of <= join_end``
(``join_end`` is the smallest ``valid_until`` on the path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from features.contract import Tables

NEG_INF = -np.inf
POS_INF = np.inf


def normalise_identifier(values: pd.Series) -> pd.Series:
    """Strip whitespace; emails (anything with an ``@``) are compared case-insensitively.

    Vectorised over distinct values: each distinct identifier goes through
    :func:`normalise_one` once, so batch and online normalise identically.
    """
    codes, uniques = normalised_codes(values)
    out = np.full(len(values), None, dtype=object)
    ok = codes >= 0
    out[ok] = uniques[codes[ok]]
    return pd.Series(out, index=values.index, dtype=object)


def normalised_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``codes`` into ``uniques`` (normalised distinct values); -1 for missing values."""
    codes, raw = pd.factorize(values, use_na_sentinel=True)
    uniques = _normalise_many(np.asarray(raw, dtype=object))
    missing = np.array([u is None for u in uniques], dtype=bool)
    if missing.any():  # values that normalise to nothing (e.g. blank) count as missing
        codes = np.where(missing[np.maximum(codes, 0)] & (codes >= 0), -1, codes)
    return np.asarray(codes, dtype=np.int64), uniques


def factorize_text(parts: list[pd.Series]) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` of the parts end to end: codes (-1 for missing) and raw uniques in
    order of first appearance. Text goes through Arrow's hash table, about four times faster
    than pandas' on two million identifiers; other values (numbers in an object column)
    through pandas."""
    text = (pa.string(), pa.large_string(), pa.null())
    chunks: list[pa.Array] = []
    try:
        for p in parts:
            a = pa.array(p, from_pandas=True)
            chunks += a.chunks if isinstance(a, pa.ChunkedArray) else [a]
        all_text = all(c.type in text for c in chunks)  # numbers and bytes stay themselves
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, UnicodeEncodeError):
        all_text = False  # mixed types, or text Arrow cannot hold (lone surrogates)
    if not all_text:
        codes, uniques = pd.factorize(pd.concat([p.astype(object) for p in parts], ignore_index=True), use_na_sentinel=True)
        return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)
    chunks = [c.cast(pa.large_string()) for c in chunks]
    # One hash table over all chunks: every chunk's dictionary is the same, complete one.
    encoded = pa.chunked_array(chunks, type=pa.large_string()).dictionary_encode().chunks
    if not encoded:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    codes = np.concatenate([c.indices.fill_null(-1).to_numpy(zero_copy_only=False) for c in encoded])
    return codes.astype(np.int64), encoded[-1].dictionary.to_numpy(zero_copy_only=False).astype(object)


def _normalise_many(raw: np.ndarray) -> np.ndarray:
    """:func:`normalise_one` of every element: string methods run in pandas' loop for text
    (the common case, identical to the scalar's ``str.strip``/``str.lower``), the scalar
    function for anything else."""
    if len(raw) == 0:
        return np.array([], dtype=object)
    text = np.fromiter((type(v) is str for v in raw.tolist()), dtype=bool, count=len(raw))
    out = np.empty(len(raw), dtype=object)
    if text.any():
        s = pd.Series(raw[text], dtype=object).str.strip()
        s = s.where(~s.str.contains("@", regex=False), s.str.lower())
        out[text] = s.where(s != "", None).to_numpy(dtype=object)
    if not text.all():
        out[~text] = [normalise_one(v) for v in raw[~text].tolist()]
    return out


def normalise_one(value: object) -> str | None:
    """The scalar twin of :func:`normalise_identifier` (used by the online path)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    v = str(value).strip()
    if not v:
        return None
    return v.lower() if "@" in v else v


def epoch_seconds(times: pd.Series) -> np.ndarray:
    """datetime64 series → float seconds since 1970 (NaT → NaN), exact to the microsecond."""
    us = times.astype("datetime64[us]")
    out = us.to_numpy().astype("int64").astype("float64") / 1e6
    out[us.isna().to_numpy()] = np.nan
    return out


@dataclass
class IdentityMap:
    """Resolved identities.

    Attributes
    ----------
    node_index : pd.Index
        Identifier string of each node id.
    pairs : pd.DataFrame
        Columns ``node`` (int), ``lead`` (int, row of the leads table), ``join_start`` and
        ``join_end`` (float epoch seconds): events of ``node`` belong to ``lead`` for
        snapshots with ``join_start < as_of <= join_end``.
    lead_nodes : np.ndarray
        Node id of each lead's ``lead_id``.
    component : np.ndarray
        Connected component (person) of each node, over all edges ever valid.
    shared : np.ndarray
        Node ids found to be shared devices.
    """

    node_index: pd.Index
    pairs: pd.DataFrame
    lead_nodes: np.ndarray
    component: np.ndarray
    shared: np.ndarray
    events: pd.DataFrame | None = None
    event_nodes: np.ndarray | None = None
    node_is_email: np.ndarray | None = None

    def event_nodes_of(self, events: pd.DataFrame) -> np.ndarray:
        """Node id of each event row (cached for the events frame the map was built from)."""
        if self.events is events and self.event_nodes is not None:
            return self.event_nodes
        return self.nodes_of(events["identifier"]) if len(events) else np.array([], dtype=np.int64)

    def nodes_of(self, identifiers: pd.Series) -> np.ndarray:
        """Node id of each identifier (-1 when the identifier is unknown)."""
        codes, uniques = normalised_codes(identifiers)
        idx = np.asarray(self.node_index.get_indexer(pd.Index(uniques, dtype=object)), dtype=np.int64)
        return np.where(codes >= 0, idx[np.maximum(codes, 0)] if len(idx) else -1, -1)

    def events_for(self, events: pd.DataFrame, lead: int, as_of: object) -> pd.DataFrame:
        """The rows of ``events`` whose identifier belongs to ``lead`` at ``as_of``.

        These are the events a snapshot may see (before ``as_of`` filtering of their own
        timestamps) and what an application would send to the online path for that lead.
        """
        t = pd.Timestamp(as_of).value / 1e9
        p = self.pairs
        ok = p[(p["lead"] == lead) & (p["join_start"] < t) & (t <= p["join_end"])]
        names = set(self.node_index[ok["node"].to_numpy()])
        return events[normalise_identifier(events["identifier"]).isin(names).to_numpy()]

    def report(self, events: pd.DataFrame) -> dict[str, object]:
        """Share of events attributed to some lead, and the person size distribution."""
        nodes = self.nodes_of(events["identifier"]) if len(events) else np.array([], dtype=np.int64)
        attributed = np.isin(nodes, self.pairs["node"].to_numpy()) & (nodes >= 0)
        sizes = np.bincount(self.component) if len(self.component) else np.array([])
        bins = [1, 2, 3, 4, 6, 11, 51, np.inf]
        labels = ["1", "2", "3", "4-5", "6-10", "11-50", "51+"]
        hist = pd.cut(pd.Series(sizes), bins=bins, right=False, labels=labels).value_counts()
        return {
            "events": len(events),
            "events_attributed_share": float(attributed.mean()) if len(events) else float("nan"),
            "identifiers": len(self.node_index),
            "people": len(sizes),
            "shared_identifiers": len(self.shared),
            "component_sizes": {k: int(hist.get(k, 0)) for k in labels},
            "largest_component": int(sizes.max()) if len(sizes) else 0,
        }


def resolve_identities(tables: Tables, max_people: int = 3, max_rounds: int = 50) -> IdentityMap:
    """Build the identity graph and the time-aware identifier → lead attribution."""
    if max_people < 1:
        raise ValueError("max_people must be at least 1")
    leads, ident, events = tables.leads, tables.identities, tables.events
    n_leads = len(leads)
    # Every identifier of every table, normalised once per distinct raw value; a node is a
    # distinct normalised identifier, numbered in order of first appearance. A lead's email
    # is an identifier only if it looks like one.
    raw_emails = leads["email"] if "email" in leads else pd.Series([None] * n_leads, dtype=object)
    raw_emails = raw_emails.astype(object).where(raw_emails.astype(str).str.contains("@", regex=False), None)
    parts = [leads["lead_id"], raw_emails, ident["identifier_a"], ident["identifier_b"], events["identifier"]]
    bounds = np.cumsum([0] + [len(p) for p in parts])
    raw_codes, raw_uniques = factorize_text(parts)
    node_of_raw, names = pd.factorize(pd.Series(_normalise_many(np.asarray(raw_uniques, dtype=object)), dtype=object), use_na_sentinel=True)
    node_of_raw = np.append(np.asarray(node_of_raw, dtype=np.int64), -1)  # raw code -1 (missing) → -1
    nodes_all = node_of_raw[raw_codes]
    node_index = pd.Index(np.asarray(names, dtype=object))
    n_nodes = len(node_index)
    lead_nodes, email_nodes, ea, eb, event_nodes = (nodes_all[bounds[i]:bounds[i + 1]] for i in range(5))
    if (lead_nodes < 0).any():
        raise ValueError("every lead needs a lead_id")

    # Edges, both endpoints known; self-loops and missing ends dropped.
    et = epoch_seconds(ident["timestamp"])
    ok = (ea >= 0) & (eb >= 0) & (ea != eb) & ~np.isnan(et)
    ea, eb, et = ea[ok].astype(np.int64), eb[ok].astype(np.int64), et[ok]

    # Person anchors: emails and lead ids. A node linked to more than max_people anchors
    # becomes shared at the time of the (max_people + 1)-th distinct one.
    is_anchor = np.zeros(n_nodes, dtype=bool)
    is_anchor[lead_nodes] = True
    is_anchor[email_nodes[email_nodes >= 0]] = True
    node_is_email = np.array(["@" in v for v in node_index.tolist()], dtype=bool)
    is_anchor |= node_is_email
    shared_since = _shared_since(ea, eb, et, is_anchor, n_nodes, max_people)
    valid_until = np.minimum(shared_since[ea], shared_since[eb])
    usable = et < valid_until
    ea, eb, et, valid_until = ea[usable], eb[usable], et[usable], valid_until[usable]

    # People: components over every edge that was ever usable, plus each lead's own
    # lead_id–email tie.
    has_email = email_nodes >= 0
    ga = np.concatenate([ea, lead_nodes[has_email]])
    gb = np.concatenate([eb, email_nodes[has_email].astype(np.int64)])
    graph = coo_matrix((np.ones(len(ga)), (ga, gb)), shape=(n_nodes, n_nodes))
    _, component = connected_components(graph, directed=False)

    # Initial state: each lead owns its lead_id and its email from the beginning of time.
    init_nodes = np.concatenate([lead_nodes, email_nodes])
    init_leads = np.concatenate([np.arange(n_leads), np.arange(n_leads)])
    keep = init_nodes >= 0
    state = pd.DataFrame(
        {
            "node": init_nodes[keep],
            "lead": init_leads[keep],
            "join_start": NEG_INF,
            "join_end": POS_INF,
        }
    ).drop_duplicates(["node", "lead"])
    edges = pd.DataFrame(
        {
            "u": np.concatenate([ea, eb]),
            "v": np.concatenate([eb, ea]),
            "t": np.concatenate([et, et]),
            "until": np.concatenate([valid_until, valid_until]),
        }
    )
    state = _relax(state, edges, max_rounds)
    shared = np.flatnonzero(np.isfinite(shared_since))
    # event_nodes (the node of every event row) is kept for the feature pipeline.
    return IdentityMap(
        node_index, state.reset_index(drop=True), lead_nodes, component, shared, tables.events, event_nodes,
        node_is_email,
    )


def _shared_since(
    ea: np.ndarray, eb: np.ndarray, et: np.ndarray, is_anchor: np.ndarray, n_nodes: int, k: int
) -> np.ndarray:
    """Time from which each node is shared (+inf if never)."""
    out = np.full(n_nodes, POS_INF)
    if len(ea) == 0:
        return out
    node = np.concatenate([ea, eb])
    other = np.concatenate([eb, ea])
    t = np.concatenate([et, et])
    m = is_anchor[other]
    links = pd.DataFrame({"node": node[m], "other": other[m], "t": t[m]})
    first = links.groupby(["node", "other"], sort=False)["t"].min().reset_index()
    first = first.sort_values(["node", "t"], kind="stable")
    first["rank"] = first.groupby("node").cumcount()
    hit = first[first["rank"] == k]
    out[hit["node"].to_numpy()] = hit["t"].to_numpy()
    return out


def _relax(state: pd.DataFrame, edges: pd.DataFrame, max_rounds: int) -> pd.DataFrame:
    """Bottleneck relaxation: best (earliest start, then latest end) per (node, lead)."""
    frontier = state
    for _ in range(max_rounds):
        if frontier.empty or edges.empty:
            break
        cand = frontier.merge(edges, left_on="node", right_on="u", how="inner")
        if cand.empty:
            break
        cand = pd.DataFrame(
            {
                "node": cand["v"].to_numpy(),
                "lead": cand["lead"].to_numpy(),
                "join_start": np.maximum(cand["join_start"].to_numpy(), cand["t"].to_numpy()),
                "join_end": np.minimum(cand["join_end"].to_numpy(), cand["until"].to_numpy()),
            }
        )
        cand = cand[cand["join_start"] < cand["join_end"]]
        cand = _best(cand)
        merged = cand.merge(state, on=["node", "lead"], how="left", suffixes=("", "_old"))
        better = merged["join_start_old"].isna() | (merged["join_start"] < merged["join_start_old"]) | (
            (merged["join_start"] == merged["join_start_old"]) & (merged["join_end"] > merged["join_end_old"])
        )
        frontier = merged.loc[better, ["node", "lead", "join_start", "join_end"]]
        if frontier.empty:
            break
        state = _best(pd.concat([state, frontier], ignore_index=True))
    return state


def _best(df: pd.DataFrame) -> pd.DataFrame:
    df = df.sort_values(["node", "lead", "join_start", "join_end"], ascending=[True, True, True, False], kind="stable")
    return df.drop_duplicates(["node", "lead"], keep="first")
