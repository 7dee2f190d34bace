#!/usr/bin/env python3
"""Near-repeat window calculator (standard library only).

Reads a CSV of incidents with projected coordinates and a date, counts every pair of
incidents that falls inside each distance band x time band cell, and compares the
observed counts with counts expected by chance using a Knox-style Monte Carlo test:
the dates are shuffled among the locations, so the spatial layout and the timing of
the series are both kept, and only the link between place and time is broken.

Output, per cell: observed pairs, mean expected pairs, Knox ratio (observed / expected)
and a pseudo p-value. A ratio well above 1 with a small p-value in the short-distance,
short-time cells is the near-repeat signature.

Example:
    python3 near_repeat_window.py sample-incidents.csv \
        --distance-band 400 --distance-bands 4 \
        --time-band 7 --time-bands 4 --iterations 199 --seed 7

Coordinates must be projected (feet or metres, e.g. State Plane or UTM). Band widths are
in the same unit as the coordinates. For latitude/longitude input use --latlon; the
coordinates are then converted to metres with a local equirectangular projection, which
is accurate enough within a city.

Python 3.10+. No third-party packages.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import random
import sys
from collections.abc import Sequence


def parse_date(text: str) -> dt.date | None:
    """Accept YYYY-MM-DD (optionally followed by a time) or MM/DD/YYYY."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        pass
    for fmt in ("%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def read_incidents(
    path: str, x_col: str, y_col: str, date_col: str, latlon: bool
) -> tuple[list[tuple[float, float]], list[int], int]:
    """Return (points, day numbers, number of skipped rows)."""
    points: list[tuple[float, float]] = []
    days: list[int] = []
    skipped = 0
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in (x_col, y_col, date_col) if c not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit(
                f"error: column(s) not found in {path}: {', '.join(missing)}; "
                f"header is: {', '.join(reader.fieldnames or [])}"
            )
        for row in reader:
            try:
                x = float(row[x_col])
                y = float(row[y_col])
            except (TypeError, ValueError):
                skipped += 1
                continue
            day = parse_date(row[date_col])
            if day is None or math.isnan(x) or math.isnan(y):
                skipped += 1
                continue
            points.append((x, y))
            days.append(day.toordinal())
    if latlon and points:
        points = project_latlon(points)
    return points, days, skipped


def project_latlon(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Convert (lon, lat) pairs to metres around the centroid (equirectangular)."""
    radius = 6371008.8
    lat0 = math.radians(sum(p[1] for p in points) / len(points))
    lon0 = math.radians(sum(p[0] for p in points) / len(points))
    out = []
    for lon, lat in points:
        out.append(
            (
                (math.radians(lon) - lon0) * math.cos(lat0) * radius,
                (math.radians(lat) - lat0) * radius,
            )
        )
    return out


def distance_band(dist: float, width: float) -> int:
    """Band 0 covers 0..width (inclusive), band 1 covers (width, 2*width], and so on."""
    if dist <= width:
        return 0
    return int(math.ceil(dist / width)) - 1


def time_band(days_apart: int, width: int) -> int:
    """Band 0 covers 0..width days, band 1 covers width+1..2*width days, and so on."""
    if days_apart <= width:
        return 0
    return (days_apart - 1) // width


def close_pairs(
    points: Sequence[tuple[float, float]], max_dist: float, width: float
) -> list[tuple[int, int, int]]:
    """All pairs (i, j, distance band) within max_dist, using a grid to skip far pairs."""
    cell = max_dist if max_dist > 0 else 1.0
    grid = {}
    for idx, (x, y) in enumerate(points):
        grid.setdefault((int(x // cell), int(y // cell)), []).append(idx)
    pairs = []
    for (gx, gy), members in grid.items():
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                others = grid.get((gx + dx, gy + dy))
                if not others:
                    continue
                for i in members:
                    xi, yi = points[i]
                    for j in others:
                        if j <= i:
                            continue
                        d = math.hypot(points[j][0] - xi, points[j][1] - yi)
                        if d <= max_dist:
                            pairs.append((i, j, distance_band(d, width)))
    return pairs


def count_table(
    pairs: Sequence[tuple[int, int, int]],
    days: Sequence[int],
    n_dist: int,
    n_time: int,
    t_width: int,
) -> list[list[int]]:
    table = [[0] * n_time for _ in range(n_dist)]
    max_days = n_time * t_width
    for i, j, dband in pairs:
        gap = abs(days[i] - days[j])
        if gap <= max_days:
            table[dband][time_band(gap, t_width)] += 1
    return table


def label_distance(band: int, width: float, unit: str) -> str:
    lo = 0 if band == 0 else band * width
    hi = (band + 1) * width
    return f"{lo:g}-{hi:g} {unit}".strip()


def label_time(band: int, width: int) -> str:
    lo = 0 if band == 0 else band * width + 1
    hi = (band + 1) * width
    return f"{lo}-{hi} d"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", help="incident CSV with coordinate and date columns")
    ap.add_argument("--x-col", default="x", help="x / easting / longitude column (default: x)")
    ap.add_argument("--y-col", default="y", help="y / northing / latitude column (default: y)")
    ap.add_argument("--date-col", default="date", help="date column (default: date)")
    ap.add_argument(
        "--latlon", action="store_true", help="x/y are longitude/latitude; bands are then in metres"
    )
    ap.add_argument("--unit", default="", help="label for distance unit, e.g. ft or m")
    ap.add_argument(
        "--distance-band",
        type=float,
        default=400.0,
        help="width of each distance band (default: 400)",
    )
    ap.add_argument(
        "--distance-bands", type=int, default=4, help="number of distance bands (default: 4)"
    )
    ap.add_argument(
        "--time-band", type=int, default=7, help="width of each time band in days (default: 7)"
    )
    ap.add_argument("--time-bands", type=int, default=4, help="number of time bands (default: 4)")
    ap.add_argument(
        "--iterations",
        type=int,
        default=99,
        help="Monte Carlo permutations; 0 = counts only (default: 99)",
    )
    ap.add_argument("--seed", type=int, default=None, help="random seed for repeatable runs")
    ap.add_argument("--out", help="also write the results table to this CSV file")
    args = ap.parse_args(argv)

    if args.distance_band <= 0 or args.time_band <= 0:
        ap.error("band widths must be positive")
    if args.distance_bands < 1 or args.time_bands < 1 or args.iterations < 0:
        ap.error("band counts must be at least 1 and iterations at least 0")

    points, days, skipped = read_incidents(
        args.csv, args.x_col, args.y_col, args.date_col, args.latlon
    )
    if len(points) < 2:
        print("error: fewer than two usable incidents", file=sys.stderr)
        return 1
    if not args.latlon and all(abs(x) <= 180 and abs(y) <= 90 for x, y in points):
        print("warning: coordinates look like longitude/latitude; use --latlon", file=sys.stderr)

    unit = args.unit or ("m" if args.latlon else "")
    max_dist = args.distance_band * args.distance_bands
    pairs = close_pairs(points, max_dist, args.distance_band)
    observed = count_table(pairs, days, args.distance_bands, args.time_bands, args.time_band)

    n_d, n_t = args.distance_bands, args.time_bands
    sums = [[0.0] * n_t for _ in range(n_d)]
    at_least = [[0] * n_t for _ in range(n_d)]
    rng = random.Random(args.seed)
    shuffled = list(days)
    for _ in range(args.iterations):
        rng.shuffle(shuffled)
        sim = count_table(pairs, shuffled, n_d, n_t, args.time_band)
        for a in range(n_d):
            for b in range(n_t):
                sums[a][b] += sim[a][b]
                if sim[a][b] >= observed[a][b]:
                    at_least[a][b] += 1

    first, last = min(days), max(days)
    print(
        f"incidents used: {len(points)}  skipped: {skipped}  "
        f"span: {dt.date.fromordinal(first)} to {dt.date.fromordinal(last)}"
    )
    unit_txt = f" {unit}" if unit else ""
    print(f"pairs within {max_dist:g}{unit_txt}: {len(pairs)}  iterations: {args.iterations}")
    print()
    header = ["distance", "time", "observed", "expected", "knox_ratio", "p_value"]
    rows = []
    for a in range(n_d):
        for b in range(n_t):
            obs = observed[a][b]
            if args.iterations:
                exp = sums[a][b] / args.iterations
                ratio = (obs / exp) if exp > 0 else float("nan")
                p_val = (at_least[a][b] + 1) / (args.iterations + 1)
                rows.append(
                    [
                        label_distance(a, args.distance_band, unit),
                        label_time(b, args.time_band),
                        obs,
                        f"{exp:.2f}",
                        "n/a" if math.isnan(ratio) else f"{ratio:.2f}",
                        f"{p_val:.3f}",
                    ]
                )
            else:
                rows.append(
                    [
                        label_distance(a, args.distance_band, unit),
                        label_time(b, args.time_band),
                        obs,
                        "",
                        "",
                        "",
                    ]
                )
    widths = [max(len(str(r[k])) for r in rows + [header]) for k in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        flag = ""
        if (
            args.iterations
            and r[5]
            and float(r[5]) <= 0.05
            and r[4] not in ("n/a", "")
            and float(r[4]) > 1
        ):
            flag = "  *"
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)) + flag)
    if args.iterations:
        print("\n* observed pairs exceed chance (p <= 0.05, Knox ratio > 1)")

    if args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
