"""What a practice's compliance dashboard costs the server, computed when asked.

    .venv/bin/python benchmarks/compliance_dashboard.py [--patients 1000] [--rounds 10]

A practice of 10 practitioners and ``--patients`` patients, each with a file and an
open rights request (SQLite, in a scratch directory, rows written directly). Times
``ComplianceService``'s dashboard of the practice (every line: members' factors,
requests, directives, the retention of every file, incidents, journal, backups) and its
PDF report, against the baseline of the practice's member listing
(``AccountService.members``, what its admin's practice screen reads: every member,
patients included). Median of
``--rounds``; load average printed, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import cpu_name, median_seconds

from uhealthsec.server.accounts.models import Account, Membership, Practice, Role
from uhealthsec.server.accounts.service import AccountService
from uhealthsec.server.app import build_context
from uhealthsec.server.compliance.dashboard import ComplianceService
from uhealthsec.server.compliance.report import report_pdf
from uhealthsec.server.consent.models import RightsRequest
from uhealthsec.server.records.models import PatientFile
from uhealthsec.server.settings import Settings


def account(kind: str, n: int) -> Account:
    return Account(
        id=uuid.uuid4(),
        email=f"{kind}{n}@bench.test",
        display_name=f"{kind} {n}",
        kind="patient" if kind == "patient" else "practitioner",
        status="active",
        password_hash="x",
        keystore=b"k",
        public_keys=b"p",
        key_fingerprint=os.urandom(32),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(data_dir=Path(scratch) / "var", database_url="")
        ctx = build_context(settings)
        now = ctx.now()
        practice = Practice(id=uuid.uuid4(), name="Cabinet du banc d'essai")
        with ctx.sessions.begin() as db:
            db.add(practice)
            admin = account("practitioner", 0)
            # Verified: the listing then holds the patients too, as the dashboard reads them.
            admin.identity_verified_at = now
            staff = [admin] + [account("practitioner", n) for n in range(1, 10)]
            db.add_all(staff)
            db.flush()
            for n, member in enumerate(staff):
                role = Role.ADMIN if n == 0 else Role.PRACTITIONER
                db.add(Membership(practice_id=practice.id, account_id=member.id, role=role))
            db.flush()
            for n in range(args.patients):
                patient = account("patient", n)
                db.add(patient)
                db.flush()
                db.add(
                    Membership(practice_id=practice.id, account_id=patient.id, role=Role.PATIENT)
                )
                db.add(
                    PatientFile(
                        practice_id=practice.id,
                        patient_id=patient.id,
                        created_by=admin.id,
                        created_at=now,
                    )
                )
                db.add(
                    RightsRequest(
                        patient_id=patient.id,
                        practice_id=practice.id,
                        right="access",
                        status="pending",
                        received_at=now,
                        due_at=now + timedelta(days=30),
                    )
                )
        with ctx.sessions.begin() as db:
            admin_row = db.get(Account, admin.id)
            chosen = db.get(Practice, practice.id)
            assert admin_row is not None and chosen is not None
            service = ComplianceService(db, ctx)
            baseline = median_seconds(
                lambda: AccountService(db, ctx).members(admin_row, practice.id), args.rounds
            )
            dashboard = median_seconds(lambda: service._dashboard(chosen), args.rounds)
            found = service._dashboard(chosen)
            pdf = median_seconds(lambda: report_pdf(found), args.rounds)
        ctx.close()
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs; load average {os.getloadavg()}")
    print(f"practice: 10 practitioners, {args.patients} patients, each a file and an open request")
    print("| what | median ms | x baseline |")
    print("|---|---:|---:|")
    for name, seconds in (
        ("members listing (baseline)", baseline),
        ("compliance dashboard", dashboard),
        ("its PDF report", pdf),
    ):
        print(f"| {name} | {seconds * 1000:.1f} | {seconds / baseline:.2f} |")


if __name__ == "__main__":
    main()
