"""`eco bench gate --lower-case` with the names' read-back switched off: what a request written in lower
case got before ``gate/truecase.py`` (no names, so a topic classifier). The comparison arm of
``benchmarks/results/gate-lower-case.json``.

    .venv/bin/python scripts/gate_lower_case_without_readback.py --requests austen,hazard \
        --out benchmarks/results/gate-lower-case-without-readback.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import eco_unlearn.gate.create as create
from eco_unlearn.evaluation.bench import gate
from eco_unlearn.fileio import atomic_write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", default="austen,hazard")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    create.names_in_lower_case = lambda forget, negatives: []  # the read-back off: no names are found
    with tempfile.TemporaryDirectory() as tmp:
        result = gate.run(tuple(args.requests.split(",")), args.seeds, lower_case=True, out_dir=Path(tmp))
    result["command"] = "scripts/gate_lower_case_without_readback.py " + result["command"]
    atomic_write_json(args.out, result)
    print(json.dumps({n: r["goals_met"] for n, r in result["requests"].items()}))


if __name__ == "__main__":
    main()
