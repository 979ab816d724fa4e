"""schemathesis over every operation of `api_schema/openapi.json` against a local stack, as the admin.

It fails on any 5xx and on any response whose body is not what the document says. The local gateway counts
every request it answers, by status, so the totals do not rest on schemathesis' own report. The test suite
runs a bounded round (test_fuzz.py); `make fuzz` a long one:

    python -m tests.e2e.fuzzing --max-examples 300 --max-time 1200 --min-requests 10000

(schemathesis runs out of new cases for most operations after a few hundred; with --max-time its fuzzing and
stateful phases repeat until the time is spent.)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from lambdas.api.openapi import OPENAPI_PATH
from sdcloud.local.gateway import ApiGateway
from sdcloud.local.stack import LocalStack

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CHECKS = "not_a_server_error,response_schema_conformance"


@dataclass
class FuzzRun:
    statuses: Counter[int]
    returncode: int
    output: str

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def summary(self) -> str:
        by_status = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        return f"{self.requests} requests, {self.server_errors} server errors ({by_status})"


def fuzz(stack: LocalStack, max_examples: int, seed: int, workers: int = 2, max_time: int | None = None) -> FuzzRun:
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    handle = ApiGateway.handle

    def counted(self: ApiGateway, *args: Any, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
        answer = handle(self, *args, **kwargs)
        with lock:
            statuses[answer[0]] += 1
        return answer

    command = [
        str(SCHEMATHESIS), "run", str(OPENAPI_PATH), "--url", stack.api_url,
        "--header", f"x-api-key: {stack.api_key}", "--checks", CHECKS,
        "--max-examples", str(max_examples), "--seed", str(seed), "--workers", str(workers),
        "--mode", "all", "--suppress-health-check", "all", "--request-timeout", "60", "--no-color",
        *(["--max-time", str(max_time)] if max_time else []),
    ]  # fmt: skip
    with mock.patch.object(ApiGateway, "handle", counted):
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    return FuzzRun(statuses, result.returncode, result.stdout + result.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=300, help="test cases per operation and phase")
    parser.add_argument("--max-time", type=int, default=1200, help="seconds: fuzzing repeats until they are spent")
    parser.add_argument("--min-requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    with LocalStack(port=0, device="cpu") as stack:
        run = fuzz(stack, args.max_examples, args.seed, max_time=args.max_time)
    print(run.output[-6000:])
    print(f"fuzz: {run.summary()}")
    if run.returncode != 0 or run.server_errors or run.requests < args.min_requests:
        sys.exit(1)


if __name__ == "__main__":
    main()
