"""Relevance of `cacop search` on the bundled kb/, beside a plain SQLite FTS5 BM25 baseline.

    python scripts/relevance.py            # table of recall@5 and MRR, by kind of query
    python scripts/relevance.py --misses   # and every query that missed an expected entry

`evaluate()` returns the figures as a dict (for `make bench` and tests/relevance/).
The queries live in tests/relevance/queries.yaml. The baseline indexes the same
entries (title, summary, tags, body; Porter stemming; the same field weights),
turns the query into an FTS5 query of the same words and phrases, and applies
the same filters, but has no vocabulary, no typo correction and no fallback.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
QUERIES = REPO / "tests" / "relevance" / "queries.yaml"
CUTOFF = 5
sys.path.insert(0, str(REPO))


def load_queries(path: Path = QUERIES) -> list[dict[str, Any]]:
    from cacop_cli import yamlsafe

    return yamlsafe.load(path.read_text("utf-8")).value["queries"]


def _metrics(ranked: list[str], expected: list[str]) -> tuple[float, float]:
    top = ranked[:CUTOFF]
    recall = sum(1 for entry_id in expected if entry_id in top) / len(expected)
    reciprocal = next(
        (1 / rank for rank, entry_id in enumerate(ranked, 1) if entry_id in expected), 0.0
    )
    return recall, reciprocal


def _summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    kinds: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        kinds.setdefault(row["kind"], []).append(row)

    def mean(items: list[dict[str, Any]], key: str) -> float:
        return round(sum(item[key] for item in items) / len(items), 3) if items else 0.0

    return {
        "recall_at_5": mean(rows, "recall"),
        "mrr": mean(rows, "rr"),
        "by_kind": {
            kind: {
                "queries": len(items),
                "recall_at_5": mean(items, "recall"),
                "mrr": mean(items, "rr"),
            }
            for kind, items in sorted(kinds.items())
        },  # fmt: skip
        "queries": rows,
    }


def _private_copy(kb_root: Path) -> Path:
    """A copy of the KB's files, so evaluating never touches the real .cacop/."""
    target = Path(tempfile.mkdtemp(prefix="cacop-relevance-"))
    shutil.copy2(kb_root / "cacop.yaml", target / "cacop.yaml")
    shutil.copytree(kb_root / "kb", target / "kb")
    if (kb_root / "schemas").is_dir():
        shutil.copytree(kb_root / "schemas", target / "schemas")
    return target


def evaluate_cacop(
    kb_root: Path,
    queries: list[dict[str, Any]],
    mode: str | None = None,
    ranking: Any = None,
):
    from cacop_cli import search
    from cacop_cli.config import load_kb

    kb = load_kb(kb_root)
    rows = []
    for item in queries:
        options = dict(item.get("filters") or {})
        if mode is not None:
            options["mode"] = mode
        if ranking is not None:
            options["ranking"] = ranking
        result = search.search(kb, item["query"], limit=20, facets=False, **options)
        ranked = [hit.id for hit in result.hits]
        recall, reciprocal = _metrics(ranked, item["expect"])
        rows.append({**item, "recall": recall, "rr": reciprocal, "got": ranked[:CUTOFF]})
    return _summarise(rows)


# ---------------------------------------------------------------- the FTS5 baseline

_FTS_COLUMNS = ("title", "summary", "tags", "body")


def _fts_index(kb_root: Path) -> sqlite3.Connection:
    from cacop_cli.config import load_kb
    from cacop_cli.entries import iter_entry_files, read_entry
    from cacop_cli.errors import EntryError

    kb = load_kb(kb_root)
    database = sqlite3.connect(":memory:")
    database.execute(
        "CREATE VIRTUAL TABLE entries USING fts5(id UNINDEXED, type UNINDEXED, site UNINDEXED,"
        " status UNINDEXED, topics UNINDEXED, date UNINDEXED, title, summary, tags, body,"
        " tokenize='porter unicode61')"
    )
    for path in iter_entry_files(kb.root):
        try:
            entry = read_entry(path, kb.root, kb.limits)
        except EntryError:
            continue
        meta = entry.meta
        database.execute(
            "INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                entry.id,
                meta.get("type", ""),
                meta.get("site", ""),
                meta.get("status", ""),
                ",".join(meta.get("topics") or []),
                meta.get("updated") or meta.get("created") or "",
                entry.title,
                str(meta.get("summary", "")),
                " ".join(meta.get("tags") or []).replace("-", " "),
                entry.body,
            ),
        )
    return database


def _fts_query(query: str) -> str:
    """The same words and phrases as an FTS5 query (all of them, like cacop's default)."""
    parts = []
    for phrase, word in re.findall(r'"([^"]*)"|(\S+)', query):
        text = phrase or word
        tokens = re.findall(r"\w+", text)
        if tokens:
            parts.append('"' + " ".join(tokens) + '"')
    return " ".join(parts)


def evaluate_fts(kb_root: Path, queries: list[dict[str, Any]]) -> dict[str, Any]:
    database = _fts_index(kb_root)
    rows = []
    for item in queries:
        filters = dict(item.get("filters") or {})
        where, arguments = [], []
        for name in ("type", "site", "status"):
            if name in filters:
                where.append(f"{name} = ?")
                arguments.append(filters[name])
        if "topic" in filters:
            where.append("(',' || topics || ',') LIKE ?")
            arguments.append(f"%,{filters['topic']},%")
        if "since" in filters:
            where.append("date >= ?")
            arguments.append(filters["since"])
        match = _fts_query(item["query"])
        if match:
            where.insert(0, "entries MATCH ?")
            arguments.insert(0, match)
            order = "bm25(entries, 0, 0, 0, 0, 0, 0, 3.0, 1.5, 2.0, 1.0)"
        else:
            order = "date DESC"
        sql = "SELECT id FROM entries"
        sql += (" WHERE " + " AND ".join(where)) if where else ""
        sql += f" ORDER BY {order} LIMIT 20"
        ranked = [row[0] for row in database.execute(sql, arguments)]
        recall, reciprocal = _metrics(ranked, item["expect"])
        rows.append({**item, "recall": recall, "rr": reciprocal, "got": ranked[:CUTOFF]})
    return _summarise(rows)


def evaluate(kb_root: Path = REPO, modes: tuple[str, ...] = ()) -> dict[str, Any]:
    """recall@5 and MRR of cacop (default mode, plus any `modes`), of the same engine with
    each ranking step switched (vocabulary, coordination, feedback; `bare`: none of them),
    and of the FTS5 baseline."""
    queries = load_queries()
    copy = _private_copy(kb_root)
    from cacop_cli.search import Ranking

    default = Ranking()
    steps = {  # each step of the ranking switched off, or feedback switched on, alone
        "cacop": default,
        "+prf" if not default.feedback else "-prf": Ranking(feedback=not default.feedback),
        "-vocab": Ranking(vocabulary=False, feedback=default.feedback),
        "-coord": Ranking(coordination=False, feedback=default.feedback),
        "bare": Ranking(vocabulary=False, coordination=False, feedback=False),
    }
    try:
        figures: dict[str, Any] = {"queries": len(queries)}
        for name, ranking in steps.items():
            figures[name] = evaluate_cacop(copy, queries, ranking=ranking)
        for mode in modes:
            figures[f"cacop_{mode}"] = evaluate_cacop(copy, queries, mode)
        figures["fts5"] = evaluate_fts(copy, queries)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list the queries that missed")
    parser.add_argument("--modes", action="store_true", help="also compare all- and any-words")
    arguments = parser.parse_args()
    figures = evaluate(modes=("strict", "any") if arguments.modes else ())
    systems = [name for name in figures if name != "queries"]
    print(f"relevance on the bundled kb/: {figures['queries']} queries, cutoff {CUTOFF}")
    print(f"{'kind':<16}" + "".join(f"{name + ' R@5':>12}{'MRR':>7}" for name in systems))
    kinds = figures["cacop"]["by_kind"]
    for kind in kinds:
        cells = "".join(
            f"{figures[name]['by_kind'][kind]['recall_at_5']:>12.3f}"
            f"{figures[name]['by_kind'][kind]['mrr']:>7.3f}"
            for name in systems
        )
        print(f"{kind + ' (' + str(kinds[kind]['queries']) + ')':<16}{cells}")
    print(
        f"{'all':<16}"
        + "".join(
            f"{figures[name]['recall_at_5']:>12.3f}{figures[name]['mrr']:>7.3f}" for name in systems
        )
    )
    if arguments.misses:
        for name in systems:
            for row in figures[name]["queries"]:
                if row["recall"] < 1:
                    print(f"[{name}] {row['kind']}: {row['query']!r} {row.get('filters') or ''}")
                    print(f"    expected {row['expect']}\n    got      {row['got']}")


if __name__ == "__main__":
    main()
