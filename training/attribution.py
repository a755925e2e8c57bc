"""Exact path-dependent TreeSHAP for LightGBM boosters, in numpy, fast enough per request.

LightGBM's ``pred_contrib=True`` runs the recursive TreeSHAP algorithm; for one row of a few
hundred trees it costs milliseconds. This module computes the same values (to float64
rounding) from the dumped trees, with the per-request work reduced to a handful of
vectorised gathers.

The identity used: for a root-to-leaf path with unique features ``j`` (zero fraction
``z_j`` = product of the cover ratios of the path's splits on ``j``; one fraction ``o_j`` = 1
if the row satisfies all of them, else 0), the path adds to feature ``i``::

    phi_i = v_leaf * (o_i - z_i) * Σ_{S ⊆ P∖i} |S|! (m-|S|-1)! / m! Π_{j∈S} o_j Π_{j∉S} z_j
          = v_leaf * (o_i - z_i) * ∫_0^1 Π_{j≠i} (z_j (1 - t) + o_j t) dt

(the Shapley weight is a Beta integral). The integrand is a polynomial of degree ``m - 1``,
so Gauss–Legendre quadrature with ``ceil(m / 2)`` nodes integrates it exactly.

Since every ``o_j`` is 0 or 1, a path of ``m`` unique features has only ``2**m`` possible
outcomes. For paths up to :data:`MAX_TABLE_FEATURES` unique features the contributions of
every outcome are tabulated when the explainer is built; a request then only evaluates
the split decisions of all nodes, turns each path's decisions into its outcome number and
gathers the tabulated values. Longer paths (rare) are integrated per request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_TABLE_FEATURES = 12
MAX_TABLE_ENTRIES = 40_000_000  # float64 values across all tabulated paths (~320 MB at most)
_ZERO = 1e-35  # LightGBM's kZeroThreshold
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}
_CAT_BITS = 256


def _gauss01(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(max(n, 1))
    return (x + 1.0) / 2.0, w / 2.0


def path_contributions(v: np.ndarray, z: np.ndarray, o: np.ndarray) -> np.ndarray:
    """SHAP contributions of paths to their features.

    ``v`` (..., ) leaf values; ``z`` and ``o`` (..., m) zero and one fractions of each
    path's unique features (pad with z = o = 1, which contributes nothing). Returns (..., m).
    """
    m = z.shape[-1]
    t, w = _gauss01(math.ceil(m / 2))
    zc = np.maximum(z, 1e-300)[..., None]
    f = zc * (1.0 - t) + o[..., None] * t  # (..., m, q)
    loo = np.prod(f, axis=-2, keepdims=True) / f
    return v[..., None] * (o - z) * (loo @ w)


@dataclass
class _Trees:
    """All internal nodes and root-to-leaf paths of a booster, flattened."""

    feat: np.ndarray  # per internal node
    thr: np.ndarray
    default_left: np.ndarray
    missing: np.ndarray
    cat_row: np.ndarray  # row in cat_mask, -1 for numerical splits
    cat_mask: np.ndarray  # (n_cat_nodes, _CAT_BITS) bool: category goes left
    paths: list[tuple[float, list[tuple[int, float, list[tuple[int, bool]]]]]]
    bias: float


def _parse(dump: dict[str, Any]) -> _Trees:
    feat: list[int] = []
    thr: list[float] = []
    dleft: list[bool] = []
    missing: list[int] = []
    cat_row: list[int] = []
    cat_sets: list[list[int]] = []
    paths: list[tuple[float, list[tuple[int, float, list[tuple[int, bool]]]]]] = []
    bias = 0.0

    for info in dump["tree_info"]:
        root = info["tree_structure"]
        if "split_feature" not in root:
            bias += float(root["leaf_value"])
            continue
        # Iterative walk: (node, steps [(node id, went left, cover ratio, feature)])
        stack: list[tuple[dict[str, Any], list[tuple[int, bool, float, int]]]] = [(root, [])]
        while stack:
            node, steps = stack.pop()
            if "split_feature" not in node:
                v = float(node["leaf_value"])
                by_feat: dict[int, tuple[float, list[tuple[int, bool]]]] = {}
                weight = 1.0
                for nid, left, ratio, f in steps:
                    zf, lst = by_feat.get(f, (1.0, []))
                    by_feat[f] = (zf * ratio, [*lst, (nid, left)])
                    weight *= ratio
                bias += v * weight
                paths.append((v, [(f, zf, lst) for f, (zf, lst) in sorted(by_feat.items())]))
                continue
            nid = len(feat)
            f = int(node["split_feature"])
            feat.append(f)
            dleft.append(bool(node.get("default_left", False)))
            missing.append(_MISSING[node.get("missing_type", "None")])
            if node["decision_type"] == "==":
                cats = [int(c) for c in str(node["threshold"]).split("||")]
                if max(cats) >= _CAT_BITS:
                    raise ValueError(f"categorical split on code {max(cats)} ≥ {_CAT_BITS} is not supported")
                cat_row.append(len(cat_sets))
                cat_sets.append(cats)
                thr.append(math.nan)
            elif node["decision_type"] == "<=":
                cat_row.append(-1)
                thr.append(float(node["threshold"]))
            else:
                raise ValueError(f"unsupported decision type {node['decision_type']!r}")
            n = float(node["internal_count"])
            for child, left in ((node["left_child"], True), (node["right_child"], False)):
                cn = float(child.get("internal_count", child.get("leaf_count", 0)))
                stack.append((child, [*steps, (nid, left, cn / n if n > 0 else 0.0, f)]))

    cat_mask = np.zeros((max(len(cat_sets), 1), _CAT_BITS), dtype=bool)
    for r, cats in enumerate(cat_sets):
        cat_mask[r, cats] = True
    return _Trees(
        feat=np.asarray(feat, dtype=np.int64),
        thr=np.asarray(thr, dtype="float64"),
        default_left=np.asarray(dleft, dtype=bool),
        missing=np.asarray(missing, dtype=np.int8),
        cat_row=np.asarray(cat_row, dtype=np.int64),
        cat_mask=cat_mask,
        paths=paths,
        bias=bias,
    )


class TreeExplainer:
    """Exact path-dependent TreeSHAP of one or more LightGBM boosters over the same features.

    :meth:`shap` returns, like LightGBM's ``pred_contrib=True``, one row per input row and
    ``n_features + 1`` columns per booster (the last column is the expected value).

    Parameters
    ----------
    boosters : list of lightgbm.Booster
        Models explained together (one output block per booster).
    """

    def __init__(self, boosters: list[Any]) -> None:
        self.n_features = int(boosters[0].num_feature())
        self.n_models = len(boosters)
        parsed = [_parse(b.dump_model()) for b in boosters]
        width = self.n_features + 1
        self.bias = np.array([p.bias for p in parsed])

        # Nodes of all boosters, concatenated.
        node_off = np.cumsum([0] + [len(p.feat) for p in parsed])
        cat_off = np.cumsum([0] + [p.cat_mask.shape[0] for p in parsed])
        self.feat = np.concatenate([p.feat for p in parsed])
        self.thr = np.concatenate([p.thr for p in parsed])
        self.default_left = np.concatenate([p.default_left for p in parsed])
        missing = np.concatenate([p.missing for p in parsed])
        cat_row = np.concatenate([np.where(p.cat_row >= 0, p.cat_row + cat_off[k], -1) for k, p in enumerate(parsed)])
        self.cat_mask = np.concatenate([p.cat_mask for p in parsed])
        self.is_cat = cat_row >= 0
        self.num_nodes = np.flatnonzero(~self.is_cat)
        self.cat_nodes = np.flatnonzero(self.is_cat)
        self.cat_rows = cat_row[self.cat_nodes]
        self.nan_missing = missing == _MISSING["NaN"]
        self.zero_missing = missing == _MISSING["Zero"]
        # Per-kind copies for the one-row path.
        nn, cn = self.num_nodes, self.cat_nodes
        self.n_feat, self.n_thr, self.n_dleft = self.feat[nn], self.thr[nn], self.default_left[nn]
        self.n_nanm, self.n_zerom = self.nan_missing[nn], self.zero_missing[nn]
        self.c_feat, self.c_nanm = self.feat[cn], self.nan_missing[cn]
        self.cat_flat = self.cat_mask.ravel()
        self.c_base = self.cat_rows * _CAT_BITS

        # Paths: tabulated (short) and integrated (long).
        short: list[tuple[int, float, list[tuple[int, float, list[tuple[int, bool]]]]]] = []
        long_: list[tuple[int, float, list[tuple[int, float, list[tuple[int, bool]]]]]] = []
        budget = MAX_TABLE_ENTRIES
        all_paths = [(k, v, [(f, zf, [(nid + int(node_off[k]), left) for nid, left in st]) for f, zf, st in els])
                     for k, p in enumerate(parsed) for v, els in p.paths]
        for k, v, els in sorted(all_paths, key=lambda item: len(item[2])):
            size = len(els) << len(els)
            if len(els) <= MAX_TABLE_FEATURES and size <= budget:
                short.append((k, v, els))
                budget -= size
            else:
                long_.append((k, v, els))
        self._build_short(short, width)
        self._build_long(long_, width)
        self.width = width

    # -- construction ---------------------------------------------------------------------
    def _build_short(self, paths: list[tuple[int, float, list[tuple[int, float, list[tuple[int, bool]]]]]], width: int) -> None:
        step_node: list[int] = []
        step_dir: list[bool] = []
        step_bit: list[int] = []
        step_path: list[int] = []
        elem_out: list[int] = []
        elem_base: list[int] = []
        elem_mult: list[int] = []
        elem_path: list[int] = []
        tables: list[np.ndarray] = []
        offset = 0
        by_m: dict[int, list[int]] = {}
        for p, (k, _v, els) in enumerate(paths):
            by_m.setdefault(len(els), []).append(p)
            m = len(els)
            for j, (f, _z, steps) in enumerate(els):
                for nid, left in steps:
                    step_node.append(nid)
                    step_dir.append(left)
                    step_bit.append(1 << j)
                    step_path.append(p)
                elem_out.append(k * width + f)
                elem_base.append(offset + j)
                elem_mult.append(m)
                elem_path.append(p)
            offset += m << m
        table = np.zeros(offset)
        # Tabulate each group of equally long paths at once: (paths, 2**m outcomes, m).
        starts = np.cumsum([0] + [len(els) << len(els) for _, _, els in paths])
        for m, idx in by_m.items():
            bits = ((np.arange(1 << m)[:, None] >> np.arange(m)) & 1).astype("float64")  # (2**m, m)
            for lo in range(0, len(idx), max(1, 2_000_000 // ((m << m) * max(1, math.ceil(m / 2))))):
                chunk = idx[lo: lo + max(1, 2_000_000 // ((m << m) * max(1, math.ceil(m / 2))))]
                v = np.array([paths[p][1] for p in chunk])
                z = np.array([[zf for _, zf, _ in paths[p][2]] for p in chunk])  # (n, m)
                phi = path_contributions(
                    np.broadcast_to(v[:, None], (len(chunk), 1 << m)),
                    np.broadcast_to(z[:, None, :], (len(chunk), 1 << m, m)),
                    np.broadcast_to(bits, (len(chunk), 1 << m, m)),
                )  # (n, 2**m, m): stored as [outcome][element], so one path's values are adjacent
                block = phi.reshape(len(chunk), -1)
                for r, p in enumerate(chunk):
                    table[starts[p]: starts[p + 1]] = block[r]
        tables.append(table)
        self.s_node = np.asarray(step_node, dtype=np.int64)
        self.s_dir = np.asarray(step_dir, dtype=bool)
        self.s_bit = np.asarray(step_bit, dtype=np.int16)
        self.s_path = np.asarray(step_path, dtype=np.int64)
        # reduceat needs segment starts; paths with no steps do not occur (every leaf of a
        # tree with splits has at least one).
        self.s_starts = np.flatnonzero(np.r_[True, self.s_path[1:] != self.s_path[:-1]]) if len(step_path) else np.array([], dtype=np.int64)
        self.full = np.array([(1 << len(els)) - 1 for _, _, els in paths], dtype=np.int16)
        self.e_out = np.asarray(elem_out, dtype=np.int64)
        self.e_base = np.asarray(elem_base, dtype=np.int64)
        self.e_mult = np.asarray(elem_mult, dtype=np.int64)
        self.e_path = np.asarray(elem_path, dtype=np.int64)
        self.table = table

    def _build_long(self, paths: list[tuple[int, float, list[tuple[int, float, list[tuple[int, bool]]]]]], width: int) -> None:
        self.n_long = len(paths)
        if not paths:
            return
        m = max(len(els) for _, _, els in paths)
        self.l_v = np.array([v for _, v, _ in paths])
        self.l_z = np.ones((len(paths), m))
        self.l_out = np.zeros((len(paths), m), dtype=np.int64)
        self.l_pad = np.ones((len(paths), m), dtype=bool)
        node: list[int] = []
        direction: list[bool] = []
        slot: list[int] = []
        for p, (k, _v, els) in enumerate(paths):
            for j, (f, zf, steps) in enumerate(els):
                self.l_z[p, j] = zf
                self.l_out[p, j] = k * width + f
                self.l_pad[p, j] = False
                for nid, left in steps:
                    node.append(nid)
                    direction.append(left)
                    slot.append(p * m + j)
        self.l_node = np.asarray(node, dtype=np.int64)
        self.l_dir = np.asarray(direction, dtype=bool)
        self.l_slot = np.asarray(slot, dtype=np.int64)

    # -- evaluation ------------------------------------------------------------------------
    def go_left(self, X: np.ndarray) -> np.ndarray:
        """LightGBM's split decision of every node for every row: (n_rows, n_nodes) bool."""
        xv = X[:, self.feat]
        nan = np.isnan(xv)
        left = np.empty(xv.shape, dtype=bool)
        xn = xv[:, self.num_nodes]
        nn = nan[:, self.num_nodes]
        nan_m = self.nan_missing[self.num_nodes]
        xn0 = np.where(nn & ~nan_m, 0.0, xn)
        miss = (nn & nan_m) | (self.zero_missing[self.num_nodes] & (np.abs(xn0) <= _ZERO))
        left[:, self.num_nodes] = np.where(miss, self.default_left[self.num_nodes], xn0 <= self.thr[self.num_nodes])
        if len(self.cat_nodes):
            xc = xv[:, self.cat_nodes]
            nc = nan[:, self.cat_nodes]
            code = np.where(nc, 0.0, xc)
            valid = (code >= 0) & (code < _CAT_BITS) & ~(nc & self.nan_missing[self.cat_nodes])
            ci = np.where(valid, code, 0).astype(np.int64)
            left[:, self.cat_nodes] = valid & self.cat_mask[self.cat_rows, ci]
        return left

    def _go_left_one(self, x: np.ndarray) -> np.ndarray:
        """:meth:`go_left` for one row (1-D arrays throughout: cheaper per call)."""
        xn = x.take(self.n_feat)
        nn = np.isnan(xn)
        xn0 = np.where(nn & ~self.n_nanm, 0.0, xn)
        miss = (nn & self.n_nanm) | (self.n_zerom & (np.abs(xn0) <= _ZERO))
        left = np.empty(len(self.feat), dtype=bool)
        left[self.num_nodes] = np.where(miss, self.n_dleft, xn0 <= self.n_thr)
        if len(self.cat_nodes):
            xc = x.take(self.c_feat)
            nc = np.isnan(xc)
            code = np.where(nc, 0.0, xc)
            valid = (code >= 0) & (code < _CAT_BITS) & ~(nc & self.c_nanm)
            left[self.cat_nodes] = valid & self.cat_flat.take(self.c_base + np.where(valid, code, 0).astype(np.int64))
        return left

    def shap_one(self, x: np.ndarray) -> np.ndarray:
        """:meth:`shap` of one feature vector: (n_models * (n_features + 1),)."""
        out = np.zeros(self.n_models * self.width)
        out[self.width - 1:: self.width] = self.bias
        if self.n_long:
            return self.shap(x.reshape(1, -1))[0]
        if len(self.s_node):
            left = self._go_left_one(x)
            failed = np.bitwise_or.reduceat((left.take(self.s_node) != self.s_dir) * self.s_bit, self.s_starts)
            outcome = (self.full ^ failed).astype(np.int64)
            vals = self.table.take(self.e_base + outcome.take(self.e_path) * self.e_mult)
            out += np.bincount(self.e_out, weights=vals, minlength=len(out))
        return out

    def shap(self, X: np.ndarray) -> np.ndarray:
        """Contributions (n_rows, n_models * (n_features + 1)); expected values last per block."""
        X = np.atleast_2d(np.asarray(X, dtype="float64"))
        n = X.shape[0]
        out = np.zeros((n, self.n_models * self.width))
        out[:, self.width - 1:: self.width] = self.bias
        left = self.go_left(X)
        if len(self.s_node):
            fail = left[:, self.s_node] != self.s_dir
            failed = np.bitwise_or.reduceat(fail * self.s_bit, self.s_starts, axis=1)
            outcome = self.full ^ failed  # (n, n_paths)
            vals = self.table[self.e_base + outcome[:, self.e_path] * self.e_mult]
            w = out.shape[1]
            idx = self.e_out if n == 1 else (np.arange(n)[:, None] * w + self.e_out).ravel()
            out += np.bincount(idx, weights=vals.ravel(), minlength=n * w).reshape(n, w)
        if self.n_long:
            ok = left[:, self.l_node] == self.l_dir
            flat = np.ones((n, self.l_z.size))
            for r in range(n):
                flat[r] = np.bincount(self.l_slot, weights=~ok[r], minlength=self.l_z.size) == 0
            o = flat.reshape(n, *self.l_z.shape)
            o[:, self.l_pad] = 1.0
            phi = path_contributions(np.broadcast_to(self.l_v, (n, len(self.l_v))), np.broadcast_to(self.l_z, o.shape), o)
            for r in range(n):
                out[r] += np.bincount(self.l_out.ravel(), weights=phi[r].ravel(), minlength=out.shape[1])
        return out
