"""The journal's action names: which route a request took, as its entry names it.

An entry's action is part of what is signed (docs/PROTOCOL.md, 13 and 13.3), so it is
written down here, route by route, instead of derived from where a route's function
lives or what it is called: moving or renaming a function changes nothing an
auditor reads, and a new route needs its name chosen here, once. The names are those
the journal has always used, ``<domain>.<operation>``; a test checks this table
against the routes of the application and against PROTOCOL 13.3.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType

logger = logging.getLogger(__name__)

#: The action of a request that reached a route missing from the table: a test
#: refuses such a route; a running server journals the request under this name
#: (and logs the route) rather than failing it.
UNKNOWN = "unknown"

#: (method, route path template) -> action. HEAD and OPTIONS are never journaled.
ACTIONS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        # The application's own routes (OpenAPI schema, its viewer, liveness).
        ("GET", "/openapi.json"): "fastapi.openapi",
        ("GET", "/docs"): "server.docs",
        ("GET", "/docs/{asset}"): "server.docs_asset",
        ("GET", "/health"): "server.health",
        ("GET", "/ready"): "server.ready",
        # The web application: its address redirected to its home, and the log of the
        # files it is made of (server/web_release.py).
        ("GET", "/"): "server.root",
        ("GET", "/app"): "server.app_home",
        ("GET", "/web-release/head"): "web.release_head",
        ("GET", "/web-release/assets"): "web.release_assets",
        ("POST", "/accounts/registrations"): "accounts.register",
        ("POST", "/accounts/email-verifications"): "accounts.verify_email",
        ("GET", "/accounts/me"): "accounts.me",
        ("GET", "/accounts/me/keystore"): "accounts.my_keystore",
        ("PUT", "/accounts/me/password"): "accounts.change_password",
        ("POST", "/accounts/password-recoveries"): "accounts.start_password_recovery",
        ("POST", "/accounts/password-recoveries/proof"): "accounts.prove_password_recovery",
        (
            "POST",
            "/accounts/password-recoveries/completion",
        ): "accounts.complete_password_recovery",
        ("POST", "/practices"): "accounts.create_practice",
        ("GET", "/practices"): "accounts.my_practices",
        ("GET", "/practices/{practice_id}/members"): "accounts.members",
        ("POST", "/practices/{practice_id}/invitations"): "accounts.invite",
        ("POST", "/practices/invitations/accept"): "accounts.accept_invitation",
        (
            "POST",
            "/practices/{practice_id}/members/{account_id}/identity-verification",
        ): "accounts.verify_identity",
        ("POST", "/search/indexes"): "search.create_index",
        ("GET", "/search/indexes"): "search.my_indexes",
        ("GET", "/search/indexes/{index_id}/state"): "search.state",
        ("POST", "/search/updates"): "search.update",
        ("POST", "/search/lookup"): "search.lookup",
        ("POST", "/search/documents"): "search.documents",
        ("POST", "/auth/prelogin"): "auth.prelogin",
        ("POST", "/auth/login"): "auth.login",
        ("POST", "/auth/login/passkey-options"): "auth.login_passkey_options",
        ("POST", "/auth/login/second-factor"): "auth.login_second_factor",
        ("POST", "/auth/login/webauthn-options"): "auth.login_webauthn_options",
        ("POST", "/auth/login/enrol/totp"): "auth.login_enrol_totp",
        ("POST", "/auth/login/enrol/totp/confirm"): "auth.login_enrol_totp_confirm",
        ("POST", "/auth/login/enrol/webauthn-options"): "auth.login_enrol_webauthn_options",
        ("POST", "/auth/login/enrol/webauthn"): "auth.login_enrol_webauthn",
        ("POST", "/auth/unblock"): "auth.unblock_authenticator",
        ("POST", "/auth/step-up/webauthn-options"): "auth.step_up_webauthn_options",
        ("POST", "/auth/step-up"): "auth.step_up",
        ("GET", "/auth/factors"): "auth.list_factors",
        ("POST", "/auth/factors/totp"): "auth.add_totp",
        ("POST", "/auth/factors/change-nonce"): "auth.factor_change_nonce",
        ("POST", "/auth/factors/totp/confirm"): "auth.confirm_totp",
        ("DELETE", "/auth/factors/totp"): "auth.remove_totp",
        ("POST", "/auth/factors/webauthn-options"): "auth.add_webauthn_options",
        ("POST", "/auth/factors/webauthn"): "auth.add_webauthn",
        ("DELETE", "/auth/factors/webauthn/{key_id}"): "auth.remove_webauthn",
        ("POST", "/auth/recovery-codes"): "auth.new_recovery_codes",
        ("GET", "/auth/sessions"): "auth.list_sessions",
        ("DELETE", "/auth/sessions/{session_id}"): "auth.revoke_session",
        ("POST", "/auth/logout"): "auth.logout",
        ("POST", "/oauth/authorize"): "auth.authorize",
        ("POST", "/oauth/token"): "auth.token",
        ("POST", "/oauth/revoke"): "auth.revoke",
        ("POST", "/oauth/introspect"): "auth.introspect",
        ("GET", "/.well-known/oauth-authorization-server"): "auth.metadata",
        ("GET", "/auth/federated/authorize"): "federation.authorize",
        ("GET", "/auth/federated/callback"): "federation.callback",
        ("POST", "/auth/federated/links"): "federation.start_link",
        ("POST", "/auth/federated/links/complete"): "federation.complete_link",
        ("GET", "/auth/federated/identities"): "federation.identities",
        ("DELETE", "/auth/federated/identities/{identity_id}"): "federation.unlink",
        ("POST", "/consents"): "consent.record_directive",
        ("GET", "/consents"): "consent.my_directives",
        ("GET", "/consents/fhir"): "consent.my_directives_as_fhir",
        ("GET", "/patient-files/{patient_file_id}/consents"): "consent.patient_directives",
        ("GET", "/consents/information"): "consent.my_information",
        ("GET", "/patient-files/{patient_file_id}/information"): "consent.file_information",
        ("POST", "/patient-files/{patient_file_id}/information"): "consent.record_information",
        ("GET", "/practices/{practice_id}/notice"): "consent.current_notice",
        ("GET", "/practices/{practice_id}/notices"): "consent.notice_versions",
        ("GET", "/practices/{practice_id}/notices/{version}"): "consent.notice_version",
        ("POST", "/practices/{practice_id}/notices"): "consent.publish_notice",
        ("POST", "/invitations/notice"): "consent.invitation_notice",
        ("POST", "/practices/{practice_id}/studies"): "consent.declare_study",
        ("GET", "/practices/{practice_id}/studies"): "consent.practice_studies",
        ("POST", "/studies/{study_id}/close"): "consent.close_study",
        ("POST", "/rights-requests"): "consent.ask",
        ("GET", "/rights-requests"): "consent.my_requests",
        ("GET", "/rights-requests/fhir"): "consent.my_requests_as_fhir",
        ("POST", "/rights-requests/{request_id}/withdraw"): "consent.withdraw",
        ("POST", "/rights-requests/{request_id}/lift"): "consent.lift",
        ("GET", "/practices/{practice_id}/rights-requests"): "consent.practice_requests",
        ("POST", "/rights-requests/{request_id}/extend"): "consent.extend",
        ("POST", "/rights-requests/{request_id}/complete"): "consent.complete",
        ("POST", "/rights-requests/{request_id}/refuse"): "consent.refuse",
        ("GET", "/accounts/me/deletion"): "consent.account_deletion_preview",
        ("POST", "/accounts/me/deletion"): "consent.delete_account",
        ("GET", "/keys/head"): "keys.head",
        ("GET", "/keys/checkpoint"): "keys.checkpoint",
        ("GET", "/keys/entries"): "keys.lookup",
        ("GET", "/keys/entries/{index}"): "keys.entry",
        ("POST", "/keys/lookups"): "keys.lookup_many",
        ("POST", "/keys/rotations"): "keys.rotate",
        ("GET", "/keys/tile/{tile_path:path}"): "keys.tile",
        ("POST", "/patient-files"): "records.open_patient_file",
        ("GET", "/patient-files"): "records.patient_files",
        ("GET", "/patient-files/mine"): "records.my_files",
        ("GET", "/patient-files/{patient_file_id}"): "records.patient_file",
        ("POST", "/blobs"): "records.upload",
        ("POST", "/documents"): "records.create_document",
        ("POST", "/documents/{document_id}/versions"): "records.add_version",
        ("GET", "/documents"): "records.inbox",
        ("GET", "/documents/{document_id}"): "records.document",
        ("GET", "/documents/{document_id}/versions/{number}/content"): "records.content",
        ("POST", "/documents/{document_id}/versions/{number}/read"): "records.mark_read",
        ("POST", "/documents/{document_id}/shares"): "records.share",
        ("POST", "/documents/{document_id}/revocations"): "records.revoke",
        ("POST", "/documents/{document_id}/restriction"): "records.restrict_document",
        ("DELETE", "/documents/{document_id}/restriction"): "records.lift_restriction",
        ("POST", "/documents/rewraps"): "records.rewrap",
        ("GET", "/practices/{practice_id}/patient-invitations"): "records.patient_invitations",
        ("POST", "/documents/{document_id}/pending-shares"): "records.create_pending_share",
        ("GET", "/pending-shares"): "records.pending_shares",
        (
            "POST",
            "/pending-shares/{pending_share_id}/completion",
        ): "records.complete_pending_share",
        ("DELETE", "/pending-shares/{pending_share_id}"): "records.cancel_pending_share",
        ("GET", "/retention/fhir"): "retention.my_retention_as_fhir",
        ("GET", "/patient-files/{patient_file_id}/retention"): "retention.file_retention",
        ("PUT", "/patient-files/{patient_file_id}/retention"): "retention.record_facts",
        ("POST", "/patient-files/{patient_file_id}/retention/claim"): "retention.open_claim",
        ("POST", "/patient-files/{patient_file_id}/retention/claim/close"): "retention.close_claim",
        ("GET", "/practices/{practice_id}/retention-policy"): "retention.policy",
        ("PUT", "/practices/{practice_id}/retention-policy"): "retention.set_policy",
        ("POST", "/practices/{practice_id}/incidents"): "incidents.open",
        ("GET", "/practices/{practice_id}/incidents"): "incidents.register",
        ("GET", "/incidents/{incident_id}"): "incidents.show",
        ("PUT", "/incidents/{incident_id}"): "incidents.update",
        ("POST", "/incidents/{incident_id}/count"): "incidents.count",
        ("POST", "/incidents/{incident_id}/notifications"): "incidents.notify",
        ("POST", "/incidents/{incident_id}/decision"): "incidents.decide",
        ("POST", "/incidents/{incident_id}/people-decision"): "incidents.decide_people",
        ("GET", "/incidents/{incident_id}/export"): "incidents.export",
        ("GET", "/incident-notices"): "incidents.my_notices",
        ("GET", "/practices/{practice_id}/alerts"): "incidents.alerts",
        ("POST", "/alerts/{alert_id}/dismissal"): "incidents.dismiss_alert",
        ("POST", "/alerts/{alert_id}/incident"): "incidents.alert_incident",
        ("GET", "/practices/{practice_id}/anomaly-settings"): "incidents.anomaly_settings",
        ("PUT", "/practices/{practice_id}/anomaly-settings"): "incidents.tune_anomaly_settings",
        ("GET", "/practices/{practice_id}/compliance"): "compliance.dashboard",
        ("GET", "/compliance/practices"): "compliance.all_practices",
        ("POST", "/threads"): "messaging.create_thread",
        ("GET", "/threads"): "messaging.threads",
        ("GET", "/threads/{thread_id}"): "messaging.thread",
        ("POST", "/threads/{thread_id}/messages"): "messaging.post_message",
        ("GET", "/threads/{thread_id}/messages"): "messaging.messages",
        ("POST", "/threads/{thread_id}/read"): "messaging.mark_read",
        ("POST", "/threads/{thread_id}/rewraps"): "messaging.rewrap",
        ("GET", "/journal/head"): "audit.head",
        ("GET", "/journal/checkpoint"): "audit.checkpoint",
        ("GET", "/journal/heads"): "audit.heads",
        ("GET", "/journal/leaves"): "audit.leaves",
        ("GET", "/journal/tile/{tile_path:path}"): "audit.tile",
        ("GET", "/journal/entries"): "audit.entries",
        ("GET", "/journal/entries/{index}"): "audit.entry",
        ("GET", "/journal/history"): "audit.history",
        ("GET", "/practices/{practice_id}/journal"): "audit.practice_activity",
        ("POST", "/journal/cosignatures"): "audit.cosign",
        ("GET", "/journal/cosignatures"): "audit.cosignatures",
        ("GET", "/journal/history/export"): "audit.export_history",
        ("GET", "/practices/{practice_id}/journal/export"): "audit.export_practice_activity",
        ("GET", "/journal/metrics"): "audit.journal_metrics",
        ("GET", "/shield/metrics"): "shield.metrics",
        ("GET", "/metrics"): "shield.prometheus",
    }
)


def route_action(method: str, path: str, route_methods: frozenset[str] | set[str]) -> str:
    """The action of a request with ``method`` that reached the route ``path`` (its
    template) answering ``route_methods``.

    A method the route does not answer (a 405) is journaled under the route's own
    action, as it always was: the route that refused it.
    """
    if method not in route_methods:
        method = min(route_methods - {"HEAD"}, default=method)
    action = ACTIONS.get((method, path))
    if action is None:
        logger.error("the route %s %s has no journal action (audit/actions.py)", method, path)
        return UNKNOWN
    return action
