"""R25: the record of processing activities (GDPR art. 30) is produced from the code's
declarations and the deployment's settings, and cannot fall behind the code: every
table and every journaled action is described."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime

import pytest

from tests.server_fixtures import make_settings
from tests.serving import UHS_SERVER
from uhealthsec.server.audit.actions import ACTIONS
from uhealthsec.server.auth.factors import LOCK_ACTION
from uhealthsec.server.auth.unblocking import BLOCK_ACTION
from uhealthsec.server.compliance.dashboard import RESTORE_DRILL_ACTION
from uhealthsec.server.compliance.processing import (
    ACTIVITIES,
    NOT_PERSONAL,
    NOT_PERSONAL_ACTIONS,
)
from uhealthsec.server.compliance.service import MISSING, record_of_processing, to_markdown
from uhealthsec.server.incidents.anomalies.service import RAISED_ACTION
from uhealthsec.server.incidents.service import NOTIFY_PATIENT_ACTION, REMIND_ACTION
from uhealthsec.server.retention.service import PURGE_ACTION
from uhealthsec.server.tables import metadata

ART_30_1 = (
    "purposes",
    "legal_bases",
    "data_subjects",
    "data_categories",
    "recipients",
    "transfers_outside_the_eu",
    "retention",
)


def test_r25_every_table_is_described_once_and_every_described_table_exists():
    described = [table for activity in ACTIVITIES for table in activity.tables]
    described += list(NOT_PERSONAL)
    assert sorted(described) == sorted(set(described)), "a table described twice"
    missing = set(metadata.tables) - set(described)
    assert not missing, f"tables no processing activity describes: {sorted(missing)}"
    assert set(described) <= set(metadata.tables), set(described) - set(metadata.tables)


def test_r25_every_journaled_action_is_described():
    done = set(ACTIONS.values()) | {
        LOCK_ACTION,
        BLOCK_ACTION,
        PURGE_ACTION,
        NOTIFY_PATIENT_ACTION,
        REMIND_ACTION,
        RAISED_ACTION,
        RESTORE_DRILL_ACTION,
    }
    described = [action for activity in ACTIVITIES for action in activity.actions]
    described += list(NOT_PERSONAL_ACTIONS)
    assert sorted(described) == sorted(set(described)), "an action described twice"
    assert done - set(described) == set(), "actions no processing activity describes"
    assert set(described) - done == set(), "described actions the server does not do"


def test_r25_each_activity_has_what_article_30_asks_filled_from_the_settings(tmp_path):
    settings = make_settings(
        tmp_path,
        "sqlite://",
        controller_name="Maison de santé des Lilas",
        controller_contact="contact@lilas.example",
        refresh_token_days=12,
        mail_keep_days=3,
        blob_store="s3",
        s3_bucket="lilas-documents",
        public_url="https://sante.lilas.example",
    )
    record = record_of_processing(settings, datetime(2026, 11, 27, tzinfo=UTC))
    assert record["controller"]["name"] == "Maison de santé des Lilas"
    assert record["controller"]["data_protection_officer"] == MISSING
    assert [a["key"] for a in record["activities"]] == [a.key for a in ACTIVITIES]
    for activity in record["activities"]:
        for field in ART_30_1:
            assert activity[field], (activity["key"], field)
    text = json.dumps(record)
    assert "{" not in "".join(r for a in record["activities"] for r in a["retention"])
    assert "refresh tokens: 12 days" in text and "3 days" in text
    measures = " ".join(record["security_measures"])
    assert "lilas-documents" in measures and "TLS (https)" in measures
    assert f"Backups: {MISSING}" in measures  # nothing configured: said, not hidden
    # R6: the password policy is stated as the clients apply it (client/passwords.py).
    assert "CNIL deliberation 2022-100" in measures and "50 bits" in measures
    markdown = to_markdown(record)
    assert markdown.startswith("# Record of processing activities")
    assert markdown.count("\n## ") == len(ACTIVITIES) + 3  # controller, security, others


def test_r25_the_operator_prints_it_from_the_command_line(tmp_path):
    env = {
        **os.environ,
        "UHS_DATA_DIR": str(tmp_path),
        "UHS_CONTROLLER_NAME": "Cabinet Martin",
        "NO_COLOR": "1",
    }
    as_json = subprocess.run(
        [*UHS_SERVER, "processing-record", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(as_json.stdout)["controller"]["name"] == "Cabinet Martin"
    out = tmp_path / "record.md"
    subprocess.run(
        [*UHS_SERVER, "processing-record", "-o", str(out)], env=env, timeout=60, check=True
    )
    assert "## 3. Exchange of health documents" in out.read_text()


@pytest.mark.parametrize("unknown", ["pdf", ""])
def test_r25_an_unknown_format_is_refused(tmp_path, unknown):
    done = subprocess.run(
        [*UHS_SERVER, "processing-record", "--format", unknown],
        env={**os.environ, "UHS_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "format" in done.stderr.lower()
