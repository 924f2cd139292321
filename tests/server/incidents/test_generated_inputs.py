"""Generated input on the breach register's routes, sent signed in as a practice's
admin (past the 401 an anonymous request stops at): never a 5xx, every refusal
problem+json (R20)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.server.records.conftest import Practice
from uhealthsec.client.incidents import IncidentClient
from uhealthsec.server.app import create_app


def test_r20_generated_input_on_the_register_is_refused_cleanly(ctx, practice: Practice):
    incident = IncidentClient(practice.alice.exchange).open(
        practice.id, nature=["integrity"], description="Base de test."
    )
    token = practice.alice.user.tokens.access_token
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ctx=ctx))
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        # The register's routes (not the alerts', whose own test covers them).
        if "/incidents" in op.path or "/incident-notices" in op.path
    ]
    assert len(operations) == 10

    statuses: dict[str, set[int]] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case):
            if case.path_parameters:
                # Half the cases on the real incident and practice, to reach the rules.
                if "incident_id" in case.path_parameters and hash(str(case.body)) % 2:
                    case.path_parameters["incident_id"] = incident["id"]
                if "practice_id" in case.path_parameters and hash(str(case.body)) % 2:
                    case.path_parameters["practice_id"] = practice.id
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            statuses.setdefault(case.method, set()).add(response.status_code)
            assert response.status_code < 500, (case.method, case.path, response.text[:500])
            if response.status_code >= 400:
                content_type = response.headers.get("content-type", [""])
                content_type = content_type[0] if isinstance(content_type, list) else content_type
                assert content_type.startswith("application/problem+json"), (
                    case.path,
                    response.status_code,
                    content_type,
                )

        check()
    # The rules were reached, not only the schema's refusals.
    assert statuses["GET"] & {200} and statuses["POST"] & {200, 201, 400, 409}, statuses
