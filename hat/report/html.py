"""Small HTML helpers for the report: every asset local, no template engine, everything escaped."""

from __future__ import annotations

import html
from typing import Any, Iterable, Sequence

#: the report's own stylesheet and script (written once under assets/), nothing fetched from the network
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#263238;color:#fff;padding:10px 24px}header a{color:#cfe8ff;margin-right:18px;text-decoration:none}
header b{margin-right:24px}main{padding:12px 24px 40px;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0;background:#fff}td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#eceff1}table.sortable th{cursor:pointer}table.sortable th:after{content:" \\21C5";color:#999}
td.num{text-align:right;font-variant-numeric:tabular-nums}small,.muted{color:#666}
figure{display:inline-block;margin:8px 16px 16px 0;max-width:720px;vertical-align:top}figure img{max-width:100%;border:1px solid #ddd;background:#fff}
figcaption{font-size:12px;color:#444}.clip{margin:14px 0 22px}.clip img{border:1px solid #ddd;vertical-align:top;margin-right:10px}
.thumbs a{display:inline-block;margin:0 8px 8px 0;text-align:center;font-size:11px}.thumbs img{display:block;border:1px solid #ddd}
pre{background:#fff;border:1px solid #ddd;padding:8px;overflow:auto;max-height:420px}.warn{color:#a15c00}.flag{color:#b71c1c}
.cards span{display:inline-block;background:#fff;border:1px solid #ddd;padding:6px 12px;margin:0 8px 8px 0}
"""

JS = """
// Click a column head to sort the table by it (numbers by value, empty cells last); click again to reverse.
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var dir = th.getAttribute("data-dir") === "asc" ? -1 : 1;
      th.setAttribute("data-dir", dir === 1 ? "asc" : "desc");
      function key(row) {
        var cell = row.cells[col], v = cell.getAttribute("data-v");
        if (v === null) { v = cell.textContent.trim(); }
        if (v === "" || v === "-") { return null; }
        var n = Number(v);
        return isNaN(n) ? v.toLowerCase() : n;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === y) { return 0; }
        if (x === null) { return 1; }
        if (y === null) { return -1; }
        if (typeof x === typeof y) { return (x < y ? -1 : 1) * dir; }
        return (typeof x === "number" ? -1 : 1) * dir;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

NAV = (("index.html", "Overview"), ("benchmark.html", "Benchmark"), ("results.html", "Results"))


def esc(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def page(title: str, body: str, depth: int = 0, nav: Sequence[tuple[str, str]] = NAV, brand: str = "hat report") -> str:
    """A whole document; ``depth`` is how many folders below the report's root the page lies."""
    up = "../" * depth
    links = "".join(f'<a href="{up}{href}">{esc(text)}</a>' for href, text in nav)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{esc(title)}</title><link rel="icon" href="data:,">'
            f'<link rel="stylesheet" href="{up}assets/style.css"></head>\n<body><header><b>{esc(brand)}</b>{links}</header>\n'
            f'<main><h1>{esc(title)}</h1>\n{body}\n</main><script src="{up}assets/sort.js"></script></body></html>\n')


def cell(v: Any, sort: Any = None, raw: bool = False, num: bool = False) -> str:
    """A table cell; ``sort`` is the value it sorts by (numbers), ``raw`` when ``v`` is already HTML."""
    attrs = f' data-v="{esc(sort)}"' if sort is not None else ""
    cls = ' class="num"' if num else ""
    return f"<td{cls}{attrs}>{v if raw else esc(v)}</td>"


def table(heads: Iterable[str], rows: Iterable[Iterable[str]], sortable: bool = True) -> str:
    """``rows`` hold cells made by :func:`cell` (or plain values, escaped here)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in heads)
    body = "\n".join("<tr>" + "".join(c if isinstance(c, str) and c.startswith("<td") else cell(c) for c in r) + "</tr>"
                     for r in rows)
    cls = ' class="sortable"' if sortable else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def figure(src: str, caption: str, alt: str, extra: str = "") -> str:
    return f'<figure><img src="{esc(src)}" alt="{esc(alt)}" loading="lazy"><figcaption>{esc(caption)}{extra}</figcaption></figure>'


def pct(v: Any, digits: int = 1) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "-"
    return "-" if f != f else f"{100 * f:.{digits}f}"


def ratio(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "-"
    return "-" if f != f else f"{f:.2f}"
