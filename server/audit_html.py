"""The audit report as one self-contained HTML page: no external resources, so it can be
mailed, archived and opened offline.

The verdict comes first (green or red, with the first fault). The charts are drawn in the
browser by a small inline script from the figures embedded as JSON, as inline SVG bars; when
it is done the script sets ``document.body.dataset.chartsDrawn`` to the number of charts it
drew. Every number of every chart is also in plain tables below them, for screen readers,
printing, and readers without scripts.

``render`` takes the JSON forms of the results (``AuditResult.to_json()`` and, optionally,
``InquiryAuditResult.to_json()``), so a report can be made again from saved results.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

DISPUTE_BUCKETS = ((0, 5), (6, 10), (11, 20), (21, 30), (31, None))
MAX_ROWS = 500  # per list table (findings, disputes); the JSON result has them all


def _months(keys: Sequence[str]) -> list[str]:
    """Every month from the first to the last of ``keys`` ("YYYY-MM"), gaps filled."""
    if not keys:
        return []
    first, last = min(keys), max(keys)
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _bucket(days: int) -> str:
    for lo, hi in DISPUTE_BUCKETS:
        if hi is None or days <= hi:
            return f"over {lo - 1} days" if hi is None else f"{lo}-{hi} days"
    raise AssertionError("unreachable")


def charts(audit: Mapping[str, Any], inquiries: Mapping[str, Any] | None = None) -> list[Any]:
    """The charts of a report: each ``{id, title, unit, stacked, categories, series}`` with
    ``series`` a list of ``{name, values}`` (one value per category)."""
    stats = audit.get("stats", {})
    out: list[dict[str, Any]] = []

    by_month: Mapping[str, Mapping[str, int]] = stats.get("entries_by_month", {})
    months = _months(list(by_month))
    members = sorted({m for c in by_month.values() for m in c})
    out.append(
        {
            "id": "entries",
            "axis": "month",
            "title": "Entries per member per month",
            "unit": "entries",
            "stacked": True,
            "categories": months,
            "series": [
                {"name": m, "values": [by_month.get(mo, {}).get(m, 0) for mo in months]}
                for m in members
            ],
        }
    )

    loan: Mapping[str, int] = stats.get("defaults_by_loan_type", {})
    out.append(
        {
            "id": "loan-types",
            "axis": "loan type",
            "title": "Defaults by loan type",
            "unit": "records",
            "stacked": False,
            "categories": list(loan),
            "series": [{"name": "defaults", "values": list(loan.values())}],
        }
    )

    dpd: Mapping[str, int] = stats.get("defaults_by_dpd_bucket", {})
    out.append(
        {
            "id": "dpd-buckets",
            "axis": "days past due",
            "title": "Defaults by days past due (latest reported)",
            "unit": "records",
            "stacked": False,
            "categories": list(dpd),
            "series": [{"name": "defaults", "values": list(dpd.values())}],
        }
    )

    labels = [_bucket(lo) for lo, _ in DISPUTE_BUCKETS]
    resolved = dict.fromkeys(labels, 0)
    still_open = dict.fromkeys(labels, 0)
    for d in stats.get("disputes", []):
        (still_open if d["outcome"] == "open" else resolved)[_bucket(int(d["days"]))] += 1
    out.append(
        {
            "id": "disputes",
            "axis": "time to resolution",
            "title": "Disputes by time to resolution (open ones: time so far)",
            "unit": "disputes",
            "stacked": True,
            "categories": labels,
            "series": [
                {"name": "resolved", "values": list(resolved.values())},
                {"name": "still open", "values": list(still_open.values())},
            ],
        }
    )

    erasures: Mapping[str, int] = stats.get("erasures_by_month", {})
    expiries: Mapping[str, int] = stats.get("expiries_by_month", {})
    months2 = _months([*erasures, *expiries])
    out.append(
        {
            "id": "erasures",
            "axis": "month",
            "title": "Erasures and retention expiries per month",
            "unit": "records",
            "stacked": False,
            "categories": months2,
            "series": [
                {"name": "erased", "values": [erasures.get(m, 0) for m in months2]},
                {"name": "retention ended", "values": [expiries.get(m, 0) for m in months2]},
            ],
        }
    )

    if inquiries is not None:
        by_member: Mapping[str, Mapping[str, int]] = inquiries.get("by_member_purpose", {})
        who = sorted(by_member)
        purposes = sorted({p for c in by_member.values() for p in c})
        out.append(
            {
                "id": "inquiries",
                "axis": "member",
                "title": "Inquiries per member by purpose",
                "unit": "lookups",
                "stacked": True,
                "categories": who,
                "series": [
                    {"name": p, "values": [by_member[m].get(p, 0) for m in who]} for p in purposes
                ],
            }
        )
    return out


# --- the page ------------------------------------------------------------------------------------

_CSS = """
:root { --ok: #1a7f37; --bad: #cf222e; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  margin: 0 auto; max-width: 960px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid var(--line);
  padding-bottom: 4px; }
.meta { color: var(--muted); margin: 0 0 16px; }
.verdict { border-radius: 8px; padding: 16px 20px; color: #fff; margin: 0 0 16px; }
.verdict.ok { background: var(--ok); }
.verdict.failed { background: var(--bad); }
.verdict strong { font-size: 26px; letter-spacing: .02em; display: block; }
.verdict p { margin: 6px 0 0; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 13px; overflow-wrap: anywhere; }
figure.chart { margin: 16px 0 24px; break-inside: avoid; }
figure.chart figcaption { font-weight: 600; margin-bottom: 4px; }
.plot svg { width: 100%; height: auto; display: block; }
.plot .axis { stroke: var(--muted); stroke-width: 1; }
.plot .grid { stroke: var(--line); stroke-width: 1; }
.plot text { font-size: 11px; fill: var(--muted); }
.plot .legend text { fill: var(--ink); font-size: 12px; }
.plot .empty { font-size: 14px; }
.plot text.value { fill: var(--ink); font-size: 11px; }
table { border-collapse: collapse; margin: 8px 0 20px; width: 100%; break-inside: auto; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left;
  vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: var(--muted); font-size: 13px; }
@media print { body { max-width: none; padding: 0; } .verdict { print-color-adjust: exact;
  -webkit-print-color-adjust: exact; } h2 { break-after: avoid; } }
"""

# Draws every chart of the embedded data as SVG bars: stacked or side by side, y axis with
# round ticks, category labels (slanted when many), a legend when there are several series.
_SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("audit-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var COLOURS = ["#0969da", "#bf8700", "#1a7f37", "#8250df", "#cf222e", "#1b7c83",
                 "#953800", "#4d2d8c", "#57606a", "#e16f24", "#116329", "#a40e26"];

  function el(name, attrs, parent, text) {
    var node = document.createElementNS(NS, name);
    for (var k in attrs) { node.setAttribute(k, attrs[k]); }
    if (text !== undefined) { node.textContent = text; }
    if (parent) { parent.appendChild(node); }
    return node;
  }

  // Whole-number ticks (these are counts): a step of 1, 2 or 5 times a power of ten, at most
  // five steps up to the top.
  function scale(max) {
    for (var p = 1; ; p *= 10) {
      for (var i = 0, steps = [1, 2, 5]; i < steps.length; i++) {
        var step = steps[i] * p, n = Math.max(1, Math.ceil(max / step));
        if (n <= 5) { return { top: n * step, step: step, n: n }; }
      }
    }
  }

  function fmt(n) { return n.toLocaleString("en-US"); }

  function draw(spec, box) {
    var cats = spec.categories, series = spec.series;
    var W = 900, H = 300;
    var slanted = cats.length > 8;
    var legendH = series.length > 1 ? 22 * Math.ceil(series.length / 5) : 0;
    var m = { l: 56, r: 12, t: 24 + legendH, b: slanted ? 78 : 34 };
    var pw = W - m.l - m.r, ph = H - m.t - m.b;
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img",
                          "aria-label": spec.title + " (the table below has the numbers)" }, null);
    var total = 0;
    var heights = cats.map(function (_, i) {
      var vals = series.map(function (s) { return s.values[i] || 0; });
      vals.forEach(function (v) { total += v; });
      return spec.stacked ? vals.reduce(function (a, b) { return a + b; }, 0)
                          : Math.max.apply(null, vals.concat([0]));
    });
    if (!cats.length || total === 0) {
      el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", "class": "empty" }, svg,
         "no " + spec.unit + " to show");
      box.appendChild(svg);
      return;
    }
    var sc = scale(Math.max.apply(null, heights)), top = sc.top;
    var y = function (v) { return m.t + ph - (v / top) * ph; };
    for (var t = 0; t <= sc.n; t++) {
      var v = sc.step * t, yy = y(v);
      el("line", { x1: m.l, x2: W - m.r, y1: yy, y2: yy, "class": t ? "grid" : "axis" }, svg);
      el("text", { x: m.l - 6, y: yy + 4, "text-anchor": "end" }, svg, fmt(v));
    }
    var band = pw / cats.length, gap = Math.min(12, band * 0.2);
    var bars = el("g", { "class": "bars" }, svg);
    cats.forEach(function (cat, i) {
      var bw = Math.min(band - gap, 28 * Math.max(2, series.length));
      var x0 = m.l + i * band + (band - bw) / 2;
      var base = 0;
      series.forEach(function (s, j) {
        var v = s.values[i] || 0;
        if (v <= 0) { return; }
        var x = spec.stacked ? x0 : x0 + j * bw / series.length;
        var w = spec.stacked ? bw : bw / series.length;
        var y1 = spec.stacked ? y(base + v) : y(v), y2 = spec.stacked ? y(base) : y(0);
        var r = el("rect", { "class": "bar", x: x.toFixed(2), y: y1.toFixed(2),
                             width: Math.max(1, w - 1).toFixed(2),
                             height: Math.max(0.5, y2 - y1).toFixed(2),
                             fill: COLOURS[j % COLOURS.length] }, bars);
        el("title", {}, r, cat + ", " + s.name + ": " + fmt(v) + " " + spec.unit);
        if (!spec.stacked && band >= 24) {
          el("text", { x: x + w / 2, y: y1 - 4, "text-anchor": "middle", "class": "value" },
             svg, fmt(v));
        }
        base += v;
      });
      if (spec.stacked && base > 0 && band >= 24) {
        el("text", { x: x0 + bw / 2, y: y(base) - 4, "text-anchor": "middle", "class": "value" },
           svg, fmt(base));
      }
      var lx = m.l + i * band + band / 2, ly = m.t + ph + 14;
      if (slanted) {
        el("text", { x: lx, y: ly, "text-anchor": "end",
                     transform: "rotate(-45 " + lx + " " + ly + ")" }, svg, cat);
      } else {
        el("text", { x: lx, y: ly, "text-anchor": "middle" }, svg, cat);
      }
    });
    if (series.length > 1) {
      var legend = el("g", { "class": "legend" }, svg);
      series.forEach(function (s, j) {
        var lx = m.l + (j % 5) * 165, ly = 6 + 22 * Math.floor(j / 5);
        el("rect", { "class": "swatch", x: lx, y: ly, width: 12, height: 12,
                     fill: COLOURS[j % COLOURS.length] }, legend);
        el("text", { x: lx + 17, y: ly + 11 }, legend, s.name);
      });
    }
    box.appendChild(svg);
  }

  var drawn = 0;
  data.charts.forEach(function (spec) {
    var box = document.querySelector("#chart-" + spec.id + " .plot");
    if (!box) { return; }
    box.textContent = "";
    draw(spec, box);
    drawn += 1;
  });
  document.body.dataset.chartsDrawn = String(drawn);
})();
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _n(value: int | float) -> str:
    return f"{value:,}"


def _table(caption: str, head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    numeric = [bool(rows) and all(isinstance(r[i], int) for r in rows) for i in range(len(head))]
    th = "".join(
        f'<th scope="col"{" class=n" if numeric[i] else ""}>{_e(h)}</th>'
        for i, h in enumerate(head)
    )
    body = []
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            if i == 0:
                cells.append(f'<th scope="row">{_e(v)}</th>')
            elif numeric[i]:
                cells.append(f'<td class="n">{_n(v) if isinstance(v, int) else _e(v)}</td>')
            else:
                cells.append(f"<td>{_e(v)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    if not rows:
        body.append(f'<tr><td colspan="{len(head)}" class="note">none</td></tr>')
    return (
        f"<table><caption>{_e(caption)}</caption><thead><tr>{th}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _chart_table(chart: Mapping[str, Any]) -> str:
    series = chart["series"]
    if len(series) == 1:
        head = [chart["axis"], series[0]["name"]]
        rows = [[c, series[0]["values"][i]] for i, c in enumerate(chart["categories"])]
    else:
        head = [chart["axis"], *(s["name"] for s in series), "total"]
        rows = [
            [c, *(s["values"][i] for s in series), sum(s["values"][i] for s in series)]
            for i, c in enumerate(chart["categories"])
        ]
    return _table(f"{chart['title']} ({chart['unit']})", head, rows)


def _verdict(audit: Mapping[str, Any], inquiries: Mapping[str, Any] | None = None) -> str:
    cp = audit.get("checkpoint") or {}
    first = audit.get("first_fault")
    counts: Mapping[str, int] = audit.get("finding_counts", {})
    if audit.get("ok") and inquiries is not None and not inquiries.get("ok"):
        first = inquiries.get("first_fault") or {}
        where = "the checkpoint" if first.get("index") is None else f"index {first['index']}"
        return (
            '<section class="verdict failed" id="verdict"><strong>FAILED</strong>'
            f"<p>The ledger's {_n(audit.get('size', 0))} entries agree with checkpoint "
            f"{_e(cp.get('tree_size', '?'))}; the <b>inquiry log</b> does not: first fault at "
            f"<b>{_e(where)}</b>: <b>{_e(first.get('kind', '?'))}</b> — "
            f"{_e(first.get('message', ''))}</p></section>"
        )
    if audit.get("ok"):
        return (
            '<section class="verdict ok" id="verdict"><strong>OK</strong>'
            f"<p>{_n(audit.get('size', 0))} entries audited: every link, signature, rule and "
            f"the root agree with checkpoint {_e(cp.get('tree_size', '?'))}, whose signature "
            "verifies under the log key.</p></section>"
        )
    where = (
        "the checkpoint" if first is None or first["index"] is None else f"index {first['index']}"
    )
    summary = ", ".join(f"{_e(k)}: {_n(v)}" for k, v in sorted(counts.items()))
    return (
        '<section class="verdict failed" id="verdict"><strong>FAILED</strong>'
        f"<p>First fault at <b>{_e(where)}</b>: <b>{_e(first['kind'] if first else '?')}"
        f"</b> — {_e(first['message'] if first else '')}</p>"
        f"<p>Findings: {summary}</p></section>"
    )


def _inquiry_verdict(inquiries: Mapping[str, Any]) -> str:
    head = (
        f"<p><b>Inquiry log</b> {_e(inquiries.get('origin', ''))}: "
        f"{_n(inquiries.get('size', 0))} lookups, "
    )
    first = inquiries.get("first_fault")
    if inquiries.get("ok") or not first:
        return head + '<span style="color:var(--ok)">OK</span></p>'
    where = "the checkpoint" if first["index"] is None else f"index {first['index']}"
    return (
        head + f'<span style="color:var(--bad)">FAILED</span>: first fault at {_e(where)}: '
        f"<b>{_e(first['kind'])}</b> — {_e(first['message'])}</p>"
    )


def _json_for_script(data: object) -> str:
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(
    audit: Mapping[str, Any],
    inquiries: Mapping[str, Any] | None = None,
    *,
    generated: datetime | None = None,
) -> str:
    """The report page for an audit result (and an inquiry audit result) in JSON form."""
    specs = charts(audit, inquiries)
    stats = audit.get("stats", {})
    cp = audit.get("checkpoint") or {}
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    parts: list[str] = []
    parts.append(
        f"<h1>Audit of {_e(audit.get('origin', ''))}</h1>"
        f'<p class="meta">as of {_e(audit.get("as_of", date.today().isoformat()))} · checkpoint '
        f"{_e(cp.get('tree_size', '?'))} · root <span class=mono>{_e(cp.get('root', '?'))}"
        f"</span> · generated {_e(when)}</p>"
    )
    parts.append(_verdict(audit, inquiries))

    findings = audit.get("findings", [])
    overdue = audit.get("overdue_disputes", [])
    parts.append("<h2>Findings</h2>")
    parts.append(
        _table(
            f"{_n(sum(audit.get('finding_counts', {}).values()))} finding(s)"
            + (f", the first {MAX_ROWS} shown" if len(findings) > MAX_ROWS else ""),
            ["index", "kind", "finding"],
            [
                ["checkpoint" if f["index"] is None else str(f["index"]), f["kind"], f["message"]]
                for f in findings[:MAX_ROWS]
            ],
        )
    )
    parts.append(
        _table(
            f"Disputes past their deadline as of {audit.get('as_of', '')}",
            ["record", "dispute", "opened", "deadline", "days open"],
            [
                [d["record"], d["dispute_id"], d["opened_on"], d["deadline"], d["days_open"]]
                for d in overdue[:MAX_ROWS]
            ],
        )
    )
    if inquiries is not None:
        parts.append(_inquiry_verdict(inquiries))

    parts.append("<h2>Charts</h2>")
    for c in specs:
        parts.append(
            f'<figure class="chart" id="chart-{_e(c["id"])}"><figcaption>{_e(c["title"])}'
            '</figcaption><div class="plot"><noscript>The chart needs scripts; its numbers are '
            "in the tables below.</noscript></div></figure>"
        )

    parts.append("<h2>The figures as tables</h2>")
    for c in specs:
        parts.append(_chart_table(c))
    parts.append(
        _table(
            "Entries by event",
            ["event", "entries"],
            [[k.replace("_", " "), v] for k, v in sorted(stats.get("events", {}).items())],
        )
    )
    parts.append(
        _table(
            "Records by status",
            ["status", "records"],
            sorted(stats.get("records_by_status", {}).items()),
        )
    )
    disputes = stats.get("disputes", [])
    parts.append(
        _table(
            "Disputes"
            + (
                f" (the first {MAX_ROWS} of {_n(len(disputes))})"
                if len(disputes) > MAX_ROWS
                else ""
            ),
            ["record", "dispute", "opened", "outcome", "resolved", "days"],
            [
                [
                    d["record"],
                    d["dispute_id"],
                    d["opened_on"],
                    d["outcome"],
                    d["resolved_on"] or "",
                    d["days"],
                ]
                for d in disputes[:MAX_ROWS]
            ],
        )
    )
    if inquiries is not None and inquiries.get("findings"):
        parts.append(
            _table(
                "Inquiry log findings",
                ["index", "kind", "finding"],
                [
                    [
                        "checkpoint" if f["index"] is None else str(f["index"]),
                        f["kind"],
                        f["message"],
                    ]
                    for f in inquiries["findings"][:MAX_ROWS]
                ],
            )
        )
    parts.append(
        f'<p class="note">{_n(stats.get("members", 0))} members, {_n(stats.get("keys", 0))} '
        f"keys. Audited in {_e(audit.get('seconds', '?'))} s.</p>"
    )

    ok = audit.get("ok") and (inquiries is None or inquiries.get("ok"))
    title = f"Audit of {audit.get('origin', '')}: {'OK' if ok else 'FAILED'}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n"
        f"<body>\n{''.join(parts)}\n"
        f'<script type="application/json" id="audit-data">{_json_for_script({"charts": specs})}'
        f"</script>\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )
