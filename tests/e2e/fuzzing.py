"""schemathesis over every operation of `api_schema/openapi.json` against a local stack, as the admin.

It fails on any 5xx and on any response whose body is not what the document says. The local gateway counts
every request it answers, by status, so the totals do not rest on schemathesis' own report. schemathesis runs
out of new cases for most operations after a few hundred, so rounds with further seeds follow until enough
requests were made. The test suite runs a bounded round (test_fuzz.py); `make fuzz` a long one:

    python -m tests.e2e.fuzzing --max-examples 300 --min-requests 10000
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from lambdas.api.openapi import OPENAPI_PATH
from sdcloud.local.gateway import ApiGateway
from sdcloud.local.stack import LocalStack

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CHECKS = "not_a_server_error,response_schema_conformance"
MAX_ROUNDS = 20


@dataclass
class FuzzRun:
    statuses: Counter[int] = field(default_factory=Counter)
    failed_rounds: list[str] = field(default_factory=list)  # schemathesis' report of each failed round
    rounds: int = 0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def summary(self) -> str:
        by_status = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        return (f"{self.requests} requests in {self.rounds} rounds, {self.server_errors} server errors, "
                f"{len(self.failed_rounds)} failed rounds ({by_status})")


def fuzz(stack: LocalStack, max_examples: int, seed: int, min_requests: int, processes: int = 2) -> FuzzRun:
    """Rounds of schemathesis (seed, seed + 1, ...), `processes` at a time, until `min_requests` requests were
    answered. Each round is a process of one worker: schemathesis' worker threads build hypothesis strategies
    side by side, and CPython 3.11's ast is not safe for that (gh-106905: "AST constructor recursion depth
    mismatch" as a Runtime Error, seen in whole runs)."""
    run = FuzzRun()
    lock = threading.Lock()
    handle = ApiGateway.handle

    def counted(self: ApiGateway, *args: Any, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
        answer = handle(self, *args, **kwargs)
        with lock:
            run.statuses[answer[0]] += 1
        return answer

    with mock.patch.object(ApiGateway, "handle", counted):
        while run.requests < min_requests and run.rounds < MAX_ROUNDS:
            seeds = range(seed + run.rounds, seed + run.rounds + processes)
            with tempfile.TemporaryDirectory() as scratch:  # where schemathesis keeps its example databases
                rounds = [_start_round(stack, max_examples, one, Path(scratch) / str(one)) for one in seeds]
                for process, report in rounds:
                    if process.wait() != 0:
                        run.failed_rounds.append(_problems(report.read_text()))
            run.rounds += len(rounds)
    return run


def _start_round(stack: LocalStack, max_examples: int, seed: int, scratch: Path) -> tuple[subprocess.Popen, Path]:
    command = [
        str(SCHEMATHESIS), "run", str(OPENAPI_PATH), "--url", stack.api_url,
        "--header", f"x-api-key: {stack.api_key}", "--checks", CHECKS,
        "--max-examples", str(max_examples), "--seed", str(seed), "--workers", "1",
        "--mode", "all", "--suppress-health-check", "all", "--request-timeout", "60", "--no-color",
    ]  # fmt: skip
    scratch.mkdir()
    report = scratch / "report.txt"
    with report.open("w") as out:
        process = subprocess.Popen(command, cwd=scratch, stdout=out, stderr=subprocess.STDOUT, text=True)
    return process, report


def _problems(report: str, limit: int = 6000) -> str:
    """The errors and failures a schemathesis report lists (its first `limit` characters), else its end."""
    found = re.search(r"^=+ (?:ERRORS|FAILURES) =+$.*?(?=^=+ (?:WARNINGS|SUMMARY) =+$|\Z)", report, re.M | re.S)
    return found.group(0)[:limit] if found else report[-limit:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=300, help="test cases per operation and phase")
    parser.add_argument("--min-requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    with LocalStack(port=0, device="cpu") as stack:
        run = fuzz(stack, args.max_examples, args.seed, args.min_requests)
    for report in run.failed_rounds:
        print(report)
    print(f"fuzz: {run.summary()}")
    if run.failed_rounds or run.server_errors or run.requests < args.min_requests:
        sys.exit(1)


if __name__ == "__main__":
    main()
