"""Decode (or any command) time by torch threads and OpenMP wait policy, with and without a
competing load of busy-loop processes, as separate processes in alternating order.

    python benchmarks/threads_under_load.py photo.pxc --configs 2:default,1:default,2:passive \
        --loads 0,2 --repeats 3 --out benchmarks/results/threads_under_load.json

A config is THREADS:POLICY; THREADS 0 is pixcodec's default (the cores other work leaves
idle when the run starts, pixcodec/threads.py). POLICY ``default`` leaves OMP_WAIT_POLICY unset (libgomp spins a
while before sleeping); ``passive`` sets it to PASSIVE. Each run is a fresh interpreter that
times one in-process decode (benchmarks/decode_once.py), so torch reads the policy at start-up.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def busy() -> None:
    while True:
        pass


def one_run(pxc: str, threads: int, policy: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "PIXCODEC_THREADS")}
    if policy == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    out = subprocess.run([sys.executable, str(HERE / "decode_once.py"), pxc, str(threads or "auto")], env=env,
                         check=True, capture_output=True, text=True).stdout
    return float(out.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("pxc")
    parser.add_argument("--configs", default="2:default,1:default,2:passive,1:passive")
    parser.add_argument("--loads", default="0,2", help="busy-loop processes beside each run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    configs = [(int(t), p) for t, p in (c.split(":") for c in args.configs.split(","))]
    results = []
    for load in (int(n) for n in args.loads.split(",")):
        hogs = [multiprocessing.Process(target=busy, daemon=True) for _ in range(load)]
        for h in hogs:
            h.start()
        time.sleep(1)
        times: dict = {c: [] for c in configs}
        try:
            for _ in range(args.repeats):       # alternate the configs within each repeat
                for c in configs:
                    times[c].append(one_run(args.pxc, *c))
                    print(f"load {load} threads {c[0]} {c[1]}: {times[c][-1]:.2f} s", file=sys.stderr)
        finally:
            for h in hogs:
                h.terminate()
        for (threads, policy), ts in times.items():
            results.append({"load": load, "threads": threads, "wait_policy": policy, "seconds": ts,
                            "median_s": statistics.median(ts)})
    report = {"file": args.pxc, "repeats": args.repeats, "cores": os.cpu_count(), "machine": platform.machine(),
              "results": results}
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    for r in results:
        print(f"load {r['load']}  threads {r['threads']}  {r['wait_policy']:8}  median {r['median_s']:.2f} s")


if __name__ == "__main__":
    main()
