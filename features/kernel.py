"""The engagement kernel: one compiled definition of every engagement feature.

Both execution paths call :func:`engagement_rows`: the batch path with millions of event
rows and one segment per snapshot, the online path with one request's events as a single
segment. It is compiled with numba (cached on disk), so a twenty-event request costs a few
microseconds and a 12-million-row batch a few seconds, from the same code.

Rows are the columns of a float64 matrix ``data`` (see the ``R_*`` constants): segment,
age in days before ``as_of`` (> 0), event type code, timestamp (epoch seconds), UTC day,
identifier code, device code (-1: not a device) and channel code (-1: none). Rows must be
grouped by segment in ascending order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

R_SEG, R_AGE, R_TYPE, R_TS, R_DAY, R_IDENT, R_DEVICE, R_CHANNEL = range(8)
NEVER_DAYS = 9999.0
SESSION_GAP_S = 30 * 60.0


@njit(cache=True)
def _distinct(values: np.ndarray, k: int) -> int:
    if k == 0:
        return 0
    v = np.sort(values[:k])
    count = 1
    for i in range(1, k):
        if v[i] != v[i - 1]:
            count += 1
    return count


@njit(cache=True)
def engagement_rows(
    data: np.ndarray,
    n_seg: int,
    lead_age: np.ndarray,
    windows: np.ndarray,
    rates: np.ndarray,
    n_types: int,
    high_intent: np.ndarray,
    t_open: int,
    t_click: int,
    t_reg: int,
    t_att: int,
) -> np.ndarray:  # pragma: no cover - compiled
    """Engagement features, one row per segment, in the order of ``engagement_names``."""
    nw = windows.shape[0]
    nh = rates.shape[0]
    other = n_types - 1
    c_tot = other * nw
    c_other = c_tot + nw
    c_decay = c_other + 1
    c_dhi = c_decay + nh
    c_last = c_dhi + 1
    n_cols = c_last + 15
    out = np.zeros((n_seg, n_cols))
    w_last = windows[nw - 1]
    rate_last = rates[nh - 1]
    n = data.shape[1]
    counts = np.zeros((n_types, nw))
    buf_d30 = np.empty(n)
    buf_dl = np.empty(n)
    buf_dev = np.empty(n)
    buf_ch = np.empty(n)
    buf_id = np.empty(n)
    buf_ts = np.empty(n)
    start = 0
    for s in range(n_seg):
        end = start
        while end < n and data[R_SEG, end] == s:
            end += 1
        counts[:, :] = 0.0
        last = np.inf
        last_hi = np.inf
        decay_hi = 0.0
        k30 = kl = kdev = kch = 0
        n7 = n30 = 0
        n_since = hi_since = before = 0.0
        la = lead_age[s]
        for r in range(start, end):
            age = data[R_AGE, r]
            code = int(data[R_TYPE, r])
            b = 0
            while b < nw and age >= windows[b]:
                b += 1
            for w in range(b, nw):
                counts[code, w] += 1.0
            for h in range(nh):
                out[s, c_decay + h] += np.exp(age * rates[h])
            is_hi = high_intent[code]
            if is_hi:
                decay_hi += np.exp(age * rate_last)
                if age < last_hi:
                    last_hi = age
            if age < last:
                last = age
            day = data[R_DAY, r]
            if age < 30.0:
                buf_d30[k30] = day
                buf_id[k30] = data[R_IDENT, r]
                buf_ts[k30] = data[R_TS, r]
                k30 += 1
                n30 += 1
                if age < 7.0:
                    n7 += 1
            if age < w_last:
                buf_dl[kl] = day
                kl += 1
                if data[R_DEVICE, r] >= 0:
                    buf_dev[kdev] = data[R_DEVICE, r]
                    kdev += 1
                if data[R_CHANNEL, r] >= 0:
                    buf_ch[kch] = data[R_CHANNEL, r]
                    kch += 1
            if age < la:
                n_since += 1.0
                if is_hi:
                    hi_since += 1.0
            elif age >= la:
                before += 1.0
        for t in range(other):
            for w in range(nw):
                out[s, t * nw + w] = counts[t, w]
        for w in range(nw):
            total = 0.0
            for t in range(n_types):
                total += counts[t, w]
            out[s, c_tot + w] = total
        out[s, c_other] = counts[other, nw - 1]
        out[s, c_dhi] = decay_hi
        out[s, c_last] = min(last, NEVER_DAYS)
        out[s, c_last + 1] = min(last_hi, NEVER_DAYS)
        out[s, c_last + 2] = _distinct(buf_d30, k30)
        out[s, c_last + 3] = _distinct(buf_dl, kl)
        # Sessions: per identifier, a gap of more than 30 minutes starts a new one.
        sessions = 0
        if k30 > 0:
            order = np.argsort(buf_ts[:k30], kind="mergesort")
            ids = buf_id[:k30][order]
            tss = buf_ts[:k30][order]
            order2 = np.argsort(ids, kind="mergesort")
            prev_id = np.nan
            prev_ts = 0.0
            for q in range(k30):
                i_q = ids[order2[q]]
                t_q = tss[order2[q]]
                if q == 0 or i_q != prev_id or t_q - prev_ts > SESSION_GAP_S:
                    sessions += 1
                prev_id = i_q
                prev_ts = t_q
        out[s, c_last + 4] = sessions
        out[s, c_last + 5] = _distinct(buf_dev, kdev)
        out[s, c_last + 6] = _distinct(buf_ch, kch)
        opens = counts[t_open, nw - 1]
        regs = counts[t_reg, nw - 1]
        out[s, c_last + 7] = counts[t_click, nw - 1] / opens if opens > 0 else np.nan
        out[s, c_last + 8] = counts[t_att, nw - 1] / regs if regs > 0 else np.nan
        out[s, c_last + 9] = (n7 + 1.0) / ((n30 - n7) * (7.0 / 23.0) + 1.0)
        days = max(la, 0.0) + 1.0 if la == la else np.nan
        out[s, c_last + 10] = n_since
        out[s, c_last + 11] = hi_since
        out[s, c_last + 12] = n_since / days
        out[s, c_last + 13] = hi_since / days
        out[s, c_last + 14] = before
        start = end
    return out
