"""An example application: serve a prompt from pvc, run an A/B experiment, record outcomes.

Start a local primary and a repository first (see docs/serving.md), then:

    python examples/ab_app.py http://localhost:8080 --users 500

It reads the `production` prompt, serves each user the prompt of their experiment arm
(arm B comes from the branch database), records a simulated outcome per user, and keeps
polling the production prompt so you can watch a `pvc experiment promote` take effect
without restarting it.
"""

from __future__ import annotations

import argparse
import random
import time

from promptvc.serve import PromptSource


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url", help="the primary, e.g. http://localhost:8080")
    ap.add_argument("--path", default="prompts/support.md")
    ap.add_argument("--experiment", default="tone")
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--watch", type=float, default=0.0, help="seconds to watch production")
    args = ap.parse_args()
    rnd = random.Random(42)
    with PromptSource.remote(args.url, interval=1.0) as src:
        prod = src.get(args.path, ref="production")
        print(f"production ({prod.commit[:8]}, stale {src.staleness():.1f}s):\n{prod.content}")
        for u in range(args.users):
            unit = f"user-{u}"
            p = src.get(args.path, experiment=args.experiment, unit=unit)
            converted = rnd.random() < (0.30 if p.arm == "control" else 0.36)
            src.record(args.experiment, unit, "converted", 1 if converted else 0)
        src.flush()
        print(f"recorded {args.users} outcomes; run `pvc experiment report {args.experiment}`")
        end = time.monotonic() + args.watch
        last = prod.version
        while time.monotonic() < end:
            p = src.get(args.path, ref="production")
            if p.version != last:
                print(f"production changed to {p.commit[:8]}:\n{p.content}")
                last = p.version
            time.sleep(0.2)


if __name__ == "__main__":
    main()
