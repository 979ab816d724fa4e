"""checkov on the synthesized template: every finding is fixed or acknowledged in the template with its reason."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from synthesized_stack import Synthesized

from infrastructure.checkov import REASONS
from infrastructure.lambda_code import REPO_ROOT

# The pinned checkov lives in a venv of its own (`make checkov`): its pins would downgrade boto3 and others.
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


def checkov(template: Path) -> dict[str, Any]:
    assert CHECKOV.exists(), "run `make checkov` first (make test does): it installs the pinned checkov"
    result = subprocess.run(
        [str(CHECKOV), "--file", str(template), "--framework", "cloudformation", "--output", "json",
         "--skip-download", "--compact"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: some check failed
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_checkov_leaves_no_unacknowledged_finding(synthesized: Synthesized) -> None:
    report = checkov(synthesized.outdir / "SdCloud.template.json")

    failed = [(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]]
    assert failed == []
    skipped = report["results"]["skipped_checks"]
    for finding in skipped:
        assert finding["check_result"]["suppress_comment"] in REASONS.values(), finding
    assert report["summary"]["passed"] > 200
    print(f"\ncheckov: {report['summary']['passed']} passed, {len(skipped)} acknowledged:")
    for check, count in sorted(Counter(f["check_id"] for f in skipped).items()):
        print(f"  {check} x{count}: {next(f['check_name'] for f in skipped if f['check_id'] == check)}")


def test_a_new_finding_fails_and_only_an_acknowledgement_in_the_template_answers_it(tmp_path: Path) -> None:
    queue: dict[str, Any] = {"Type": "AWS::SQS::Queue", "Properties": {"SqsManagedSseEnabled": True}}
    template = tmp_path / "template.json"
    template.write_text(json.dumps({"Resources": {"Queue": queue}}))

    assert "CKV_AWS_27" in {f["check_id"] for f in checkov(template)["results"]["failed_checks"]}

    queue["Metadata"] = {"checkov": {"skip": [{"id": "CKV_AWS_27", "comment": "a test"}]}}
    template.write_text(json.dumps({"Resources": {"Queue": queue}}))
    report = checkov(template)["results"]
    assert "CKV_AWS_27" not in {f["check_id"] for f in report["failed_checks"]}
    skipped = [(f["check_id"], f["check_result"]["suppress_comment"]) for f in report["skipped_checks"]]
    assert skipped == [("CKV_AWS_27", "a test")]
