"""Scrape a Prometheus endpoint and parse it with the Prometheus project's own Python client.

usage: scrape.py URL [--until-exit PID] [--every SECONDS]

Scrapes URL every SECONDS (default 0.5) while PID runs (or once without --until-exit), parses
each scrape with prometheus_client.parser.text_string_to_metric_families (a parse error fails
the script), and prints one JSON document: {"scrapes": N, "last": [[name, labels, value], ...],
"max": {"name{labels}": value}} where "last" is the last scrape that parsed and "max" each
sample's largest value over all scrapes.
"""
import json
import os
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scrape(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        kind = r.headers.get("Content-Type", "")
        if not kind.startswith("text/plain"):
            raise SystemExit(f"unexpected Content-Type {kind!r}")
        text = r.read().decode()
    out = []
    for family in text_string_to_metric_families(text):
        if family.type != "gauge":
            raise SystemExit(f"{family.name} is a {family.type}, not a gauge")
        for s in family.samples:
            out.append([s.name, dict(sorted(s.labels.items())), s.value])
    return out


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A zombie (exited, not yet reaped by the test) has stopped serving.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def main():
    args = sys.argv[1:]
    url = args[0]
    pid = int(args[args.index("--until-exit") + 1]) if "--until-exit" in args else None
    every = float(args[args.index("--every") + 1]) if "--every" in args else 0.5
    scrapes, last, most = 0, [], {}
    while True:
        try:
            samples = scrape(url)
        except (OSError, ConnectionError):
            samples = None  # not listening yet, or gone
        if samples is not None:
            scrapes += 1
            last = samples
            for name, labels, value in samples:
                key = name + json.dumps(labels, sort_keys=True)
                most[key] = max(most.get(key, value), value)
        if pid is None or not alive(pid):
            break
        time.sleep(every)
    print(json.dumps({"scrapes": scrapes, "last": last, "max": most}))


main()
