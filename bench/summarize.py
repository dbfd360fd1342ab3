#!/usr/bin/env python3
"""Turns the JSON reports of bench/compare.sh into one Markdown table with the ratios."""

import json
import pathlib
import platform
import sys


def load(out, name, server):
    path = out / f"{name}.{server}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def get(report, *keys):
    value = report
    for key in keys:
        if not isinstance(value, dict) or value.get(key) is None:
            return None
        value = value[key]
    return value


def fmt(value, unit="", digits=1):
    if value is None:
        return "—"
    if isinstance(value, float) and abs(value) >= 1000:
        return f"{value:,.0f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return f"{value:.{digits}f}{unit}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}×"


ROWS = [
    # (scenario, label, [(column, keys, unit, digits)])
    ("latency", "1,000 subs × 100 ev/s: p99 publish→deliver", ("latency_ms", "p99"), " ms", 2),
    ("latency", "1,000 subs × 100 ev/s: p50 publish→deliver", ("latency_ms", "p50"), " ms", 2),
    ("cpu", "1,000 subs × 500 ev/s: server CPU per delivery", ("server", "cpu_us_per_delivery"), " µs", 2),
    ("cpu", "1,000 subs × 500 ev/s: p99 publish→deliver", ("latency_ms", "p99"), " ms", 1),
    ("open", "1,000 subs × 1,000 ev/s: deliveries/s", ("deliveries", "per_s"), "", 0),
    ("open", "1,000 subs × 1,000 ev/s: p99 publish→deliver", ("latency_ms", "p99"), " ms", 1),
    ("open", "1,000 subs × 1,000 ev/s: server CPU per delivery", ("server", "cpu_us_per_delivery"), " µs", 2),
    ("max", "closed loop, 1 event/publish ×4 in flight: deliveries/s", ("deliveries", "per_s"), "", 0),
    ("max", "closed loop, 1 event/publish ×4 in flight: p99", ("latency_ms", "p99"), " ms", 1),
    ("idle", "10,000 idle WebSockets: RSS per connection", ("server", "rss_per_connection_bytes"), " B", 0),
    ("fdmax", "connections held (fd hard limit − 100)", ("connections", "established"), "", 0),
    ("fdmax", "at the fd limit: RSS per connection", ("server", "rss_per_connection_bytes"), " B", 0),
]


def main():
    out = pathlib.Path(sys.argv[1])
    lines = [
        f"Run {out.name}: {platform.node()}, {platform.machine()}, "
        f"{len(open('/proc/cpuinfo').read().split('processor')) - 1} CPUs; servers on CPU 0, generator on CPU 1.",
        "",
        "| scenario | socfeed | nginx + nchan | socfeed ÷ nchan | socfeed (memory log) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for scenario, label, keys, unit, digits in ROWS:
        ours = load(out, scenario, "socfeed")
        theirs = load(out, scenario, "nchan")
        memory = load(out, scenario, "socfeed-memory")
        if ours is None and theirs is None:
            continue
        a = get(ours, *keys) if ours else None
        b = get(theirs, *keys) if theirs else None
        m = get(memory, *keys) if memory else None
        lines.append(
            f"| {label} | {fmt(a, unit, digits)} | {fmt(b, unit, digits)} | {ratio(a, b)} | {fmt(m, unit, digits)} |"
        )
    lines.append("")
    lines.append("| run | deliveries/s | lost | dup | p50 | p99 | p99.9 | server CPU/delivery | publish p50 / p99 | closes | other CPU (s) |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for path in sorted(out.glob("*.json")):
        report = json.loads(path.read_text())
        lines.append(
            "| {run} | {dps} | {lost} | {dup} | {p50} | {p99} | {p999} | {cpu} | {pub50} / {pub99} | {closes} | {other} |".format(
                run=path.stem,
                dps=fmt(get(report, "deliveries", "per_s"), "", 0),
                lost=fmt(get(report, "deliveries", "lost")),
                dup=fmt(get(report, "deliveries", "duplicates")),
                p50=fmt(get(report, "latency_ms", "p50"), " ms", 2),
                p99=fmt(get(report, "latency_ms", "p99"), " ms", 2),
                p999=fmt(get(report, "latency_ms", "p99_9"), " ms", 2),
                cpu=fmt(get(report, "server", "cpu_us_per_delivery"), " µs", 2),
                pub50=fmt(get(report, "publish_latency_ms", "p50"), " ms", 2),
                pub99=fmt(get(report, "publish_latency_ms", "p99"), " ms", 2),
                closes=json.dumps(get(report, "server_closes") or {}),
                other=fmt(get(report, "other_processes_cpu_s"), "", 1),
            )
        )
    ingest = load(out, "ingest-batch", "socfeed")
    if ingest:
        lines.append("")
        lines.append(
            f"Durable ingest, batches of 100, 16 in flight: {fmt(get(ingest, 'published', 'events_per_s'), '', 0)} events/s "
            f"(publish p99 {fmt(get(ingest, 'publish_latency_ms', 'p99'), ' ms', 2)})."
        )
    single = load(out, "ingest-single", "socfeed")
    if single:
        lines.append(
            f"Single-event publish, one in flight: 202 p50 {fmt(get(single, 'publish_latency_ms', 'p50'), ' ms', 2)}, "
            f"p99 {fmt(get(single, 'publish_latency_ms', 'p99'), ' ms', 2)} "
            f"({fmt(get(single, 'published', 'events_per_s'), '', 0)} events/s)."
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
