"""Publish a pandas DataFrame as evidence: a Prefect table artifact, a markdown summary artifact, and files for
auditors (CSV plus a self-contained HTML page) under the reports directory."""

from __future__ import annotations

import datetime as dt
import html
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import get_run_context

from dbpatch import paths
from reports import provenance as prov
from reports.markdown import to_html

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1b1f24}
h1{font-size:1.4rem;margin-bottom:.2rem} .meta{color:#57606a;margin-bottom:1rem}
table{border-collapse:collapse;font-size:.9rem} th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left}
th{background:#f6f8fa} td.s-compliant{background:#dafbe1} td.s-behind,td.s-failed,td.s-rolled_back{background:#ffebe9}
td.s-unreachable,td.s-eol,td.s-rejected{background:#ffd8d3} td.s-ahead,td.s-unapproved,td.s-skipped{background:#fff8c5}
td.s-healthy{background:#dafbe1} td.s-unhealthy{background:#ffd8d3} td.s-unknown,td.s-not_supported{background:#fff8c5}
pre{background:#f6f8fa;padding:.6rem} code{background:#f6f8fa;padding:0 .2rem}
.summary table{margin:.5rem 0} table.origin{font-size:.8rem;margin-top:2rem} table.origin td{font-family:monospace}
.interrupted{background:#ffd8d3;border:1px solid #cf222e;padding:.5rem;font-weight:bold}
"""


@dataclass(frozen=True)
class Published:
    csv: Path
    html: Path


def _cell(value: object) -> object:
    """JSON-safe cell: blanks for missing values, ISO text for dates, plain Python for numpy scalars."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, dt.date | dt.datetime | pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def records(df: pd.DataFrame) -> list[dict]:
    return [{k: _cell(v) for k, v in row.items()} for row in df.to_dict("records")]


def html_page(
    title: str,
    summary_md: str,
    df: pd.DataFrame,
    status_column: str | None = "status",
    provenance: dict[str, str] | None = None,
) -> str:
    return _page(title, summary_md, _table(df, status_column), provenance)


def _page(
    title: str, summary_md: str, body: str, provenance: dict[str, str] | None, interrupted: bool = False
) -> str:
    """One self-contained page: title, the summary rendered from Markdown, the tables, the provenance
    (this process's when the caller gives none: version, operator, flow run)."""
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    banner = (
        "<div class='interrupted'>INTERRUPTED: this run did not finish; the tables show what it had done.</div>"
        if interrupted
        else ""
    )
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{_provenance_cell(k, v)}</td></tr>"
        for k, v in (provenance if provenance is not None else prov.provenance(None, None)).items()
    )
    footer = f"<h2>Origin of this report</h2><table class='origin'>{rows}</table>" if rows else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><div class='meta'>generated {generated} by dbpatch</div>{banner}"
        f"<div class='summary'>{to_html(summary_md)}</div>{body}{footer}"
        "</body></html>\n"
    )


def _provenance_cell(key: str, value: str) -> str:
    if key.endswith("_url") and value.startswith(("http://", "https://")):
        return f'<a href="{html.escape(value)}">{html.escape(value)}</a>'
    return html.escape(value)


def _artifact_markdown(title: str, summary_md: str, files: str, provenance: dict[str, str] | None) -> str:
    tail = f"\n\n{prov.markdown(provenance)}" if provenance else ""
    return f"# {title}\n\n{summary_md}\n\n{files}{tail}"


def _in_prefect_run() -> bool:
    try:
        return get_run_context() is not None
    except Exception:  # noqa: BLE001 - outside a run
        return False


def publish_sections(
    sections: dict[str, pd.DataFrame],
    *,
    key: str,
    title: str,
    summary_md: str,
    reports_dir: Path | None = None,
    provenance: dict[str, str] | None = None,
    interrupted: bool = False,
) -> dict[str, Path]:
    """Several tables on one self-contained HTML page plus one CSV per table, and a table artifact per table."""
    out_dir = reports_dir or paths.reports()
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    written: dict[str, Path] = {}
    body = []
    for name, df in sections.items():
        path = out_dir / f"{key}-{stamp}-{name}.csv"
        df.to_csv(path, index=False)
        written[name] = path
        status = "outcome" if "outcome" in df.columns else "status" if "status" in df.columns else None
        body.append(f"<h2>{html.escape(name)}</h2>" + _table(df, status))
    provenance = provenance if provenance is not None else prov.provenance(None, None)
    page = _page(title, summary_md, "".join(body), provenance, interrupted)
    written["html"] = out_dir / f"{key}-{stamp}.html"
    written["html"].write_text(page, encoding="utf-8")
    (out_dir / f"{key}-latest.html").write_text(page, encoding="utf-8")
    if _in_prefect_run():
        for name, df in sections.items():
            create_table_artifact(key=f"{key}-{name}", table=records(df), description=f"{title}: {name}")
        create_markdown_artifact(
            key=f"{key}-summary",
            markdown=_artifact_markdown(title, summary_md, f"Report: `{written['html']}`", provenance),
            description=title,
        )
    return written


def _table(df: pd.DataFrame, status_column: str | None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for rec in records(df):
        cells = []
        for col, val in rec.items():
            cls = f' class="s-{html.escape(str(val))}"' if col in (status_column, "health") else ""
            cells.append(f"<td{cls}>{html.escape(str(val))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def publish(
    df: pd.DataFrame,
    *,
    key: str,
    title: str,
    summary_md: str,
    reports_dir: Path | None = None,
    status_column: str | None = "status",
    provenance: dict[str, str] | None = None,
) -> Published:
    """Write ``<key>-<UTC timestamp>.csv/.html`` (and ``<key>-latest.*``) and create the two artifacts."""
    out_dir = reports_dir or paths.reports()
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    csv_path, html_path = out_dir / f"{key}-{stamp}.csv", out_dir / f"{key}-{stamp}.html"
    df.to_csv(csv_path, index=False)
    provenance = provenance if provenance is not None else prov.provenance(None, None)
    page = html_page(title, summary_md, df, status_column, provenance)
    html_path.write_text(page, encoding="utf-8")
    df.to_csv(out_dir / f"{key}-latest.csv", index=False)
    (out_dir / f"{key}-latest.html").write_text(page, encoding="utf-8")
    if _in_prefect_run():
        create_table_artifact(key=key, table=records(df), description=title)
        create_markdown_artifact(
            key=f"{key}-summary",
            markdown=_artifact_markdown(title, summary_md, f"Files: `{csv_path}`, `{html_path}`", provenance),
            description=title,
        )
    return Published(csv_path, html_path)
