"""The processing activities of a U-HealthSec server, as declared by its code.

Each activity names the tables that hold its data and the journaled actions that do
it; tests/server/test_record_of_processing.py fails when a table or an action is in
none, so a new one cannot land undescribed. Periods that the settings or the code
set are read from them when the record is made (service.py), not written here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Activity:
    key: str
    name: str
    purposes: tuple[str, ...]
    legal_bases: tuple[str, ...]
    data_subjects: tuple[str, ...]
    data_categories: tuple[str, ...]
    #: Who receives the data, beyond the server's operator (the host).
    recipients: tuple[str, ...]
    #: How long, as a template filled with the deployment's values (service.py).
    retention: tuple[str, ...]
    tables: frozenset[str]
    actions: frozenset[str]


ACCOUNTS = Activity(
    key="accounts",
    name="Accounts, sign-in and professional identity",
    purposes=(
        "Let practitioners, practice staff and patients open an account and sign in with "
        "a password and a mandatory second factor (TOTP, passkey, recovery codes).",
        "Prove a practitioner's professional identity (RPPS number, e-CPS sign-in through "
        "Pro Santé Connect, a colleague's vouching) before they act on health data.",
        "Organise practices: members, roles and invitations.",
    ),
    legal_bases=(
        "GDPR art. 6(1)(b): the service the user signed up for.",
        "GDPR art. 6(1)(c) and art. 32: strong authentication required of health-data "
        "systems (CSP L1110-4-1, the HDS certification's security reference).",
    ),
    data_subjects=("practitioners", "practice staff (secretaries, admins)", "patients"),
    data_categories=(
        "identity: e-mail address, display name, account kind, RPPS number",
        "authentication: a hash of a secret derived from the password (never the "
        "password), TOTP secrets sealed under the server key, passkey public keys, "
        "hashes of recovery codes, sessions and tokens",
        "the keystore: the user's private keys sealed on the user's device (unreadable "
        "by the server)",
        "e-CPS federation: the identity provider's subject identifier",
    ),
    recipients=(
        "the practice's admins see their practice's members",
        "the identity provider (Pro Santé Connect) when a practitioner signs in with e-CPS",
    ),
    retention=(
        "the account's life; sessions until they end (refresh tokens: {refresh_token_days} "
        "days at most); sign-in, confirmation and recovery records until "
        "`uhs-server cleanup` after they end; invitations {invitation_days} days",
    ),
    tables=frozenset(
        {
            "accounts",
            "authenticator_unblocks",
            "authorization_codes",
            "email_verifications",
            "factor_budgets",
            "federated_identities",
            "federated_requests",
            "invitations",
            "login_flows",
            "memberships",
            "oauth_clients",
            "password_recoveries",
            "practices",
            "recovery_codes",
            "refresh_tokens",
            "sessions",
            "token_keys",
            "totp_credentials",
            "webauthn_challenges",
            "webauthn_credentials",
        }
    ),
    actions=frozenset(
        {
            "accounts.accept_invitation",
            "accounts.change_password",
            "accounts.complete_password_recovery",
            "accounts.create_practice",
            "accounts.invite",
            "accounts.me",
            "accounts.members",
            "accounts.my_keystore",
            "accounts.my_practices",
            "accounts.prove_password_recovery",
            "accounts.register",
            "accounts.start_password_recovery",
            "accounts.verify_email",
            "accounts.verify_identity",
            "auth.add_totp",
            "auth.add_webauthn",
            "auth.add_webauthn_options",
            "auth.authorize",
            "auth.confirm_totp",
            "auth.factor_change_nonce",
            "auth.authenticator_blocked",
            "auth.factors_locked",
            "auth.introspect",
            "auth.list_factors",
            "auth.list_sessions",
            "auth.login",
            "auth.login_enrol_totp",
            "auth.login_enrol_totp_confirm",
            "auth.login_enrol_webauthn",
            "auth.login_enrol_webauthn_options",
            "auth.login_passkey_options",
            "auth.login_second_factor",
            "auth.login_webauthn_options",
            "auth.logout",
            "auth.metadata",
            "auth.new_recovery_codes",
            "auth.prelogin",
            "auth.remove_totp",
            "auth.remove_webauthn",
            "auth.revoke",
            "auth.revoke_session",
            "auth.step_up",
            "auth.step_up_webauthn_options",
            "auth.token",
            "auth.unblock_authenticator",
            "federation.authorize",
            "federation.callback",
            "federation.complete_link",
            "federation.identities",
            "federation.start_link",
            "federation.unlink",
        }
    ),
)

KEY_DIRECTORY = Activity(
    key="key_directory",
    name="Key directory",
    purposes=(
        "Publish each account's public keys in an append-only, verifiable log, so that "
        "others encrypt to the right person and nobody, the host included, can "
        "substitute keys unseen.",
    ),
    legal_bases=("GDPR art. 6(1)(b), and art. 32: end-to-end encryption of health data.",),
    data_subjects=("practitioners", "patients"),
    data_categories=(
        "e-mail address, account kind and public keys, in the log, with each replacement "
        "of an account's keys and the statement its former keys signed",
        "how many addresses an account looked up without finding keys, per hour",
        "the accounts whose keys are revoked (deleted by their owner), and when",
    ),
    recipients=(
        "a practitioner's entry: any signed-in user; a patient's: only herself and the "
        "practitioners who care for her (docs/PROTOCOL.md, 10.1)",
        "the monitors the operator lists, who audit the whole log",
    ),
    retention=(
        "the log's entries for the life of the log: its being append-only is what lets "
        "clients detect a substituted key (an address, an account kind and public keys; "
        "no health data)",
        "lookup counts: one hour, then purged by `uhs-server cleanup`",
    ),
    tables=frozenset(
        {"key_directory", "key_map_commitments", "directory_misses", "key_revocations"}
    ),
    actions=frozenset(
        {
            "keys.checkpoint",
            "keys.entry",
            "keys.head",
            "keys.lookup",
            "keys.lookup_many",
            "keys.rotate",
            "keys.tile",
        }
    ),
)

EXCHANGE = Activity(
    key="exchange",
    name="Exchange of health documents",
    purposes=(
        "Let a practitioner send a patient's documents, signed and encrypted on their "
        "device, to the colleagues and the patient they choose, and let readers open "
        "them; keep each patient's file at their practice.",
    ),
    legal_bases=(
        "GDPR art. 9(2)(h) (care) with art. 6(1)(c)/(e); sharing within the care team "
        "and, with the patient's consent, outside it (CSP L1110-4, L1110-12).",
        "GDPR art. 9(2)(h) and CSP L1111-7: the patient's own access to her documents.",
    ),
    data_subjects=("patients", "practitioners (authors and readers)"),
    data_categories=(
        "health data: the documents, encrypted end to end (ciphertext only on the server, "
        "which holds no key to it)",
        "in clear for the server: which account shared which document with whom and "
        "when, each version's size, the link between a patient and a practice's file, "
        "pending shares with patients invited and not yet registered",
    ),
    recipients=(
        "the practitioners and the patient the author chose, each through their own keys",
        "the host stores ciphertext it cannot read",
    ),
    retention=(
        "the legal retention of the patient's file (CSP R1112-7: 20 years after the last "
        "care, longer for a minor, 10 years after death), then crypto-shredding of every "
        "version; answers kept for retried writes: one day",
    ),
    tables=frozenset(
        {
            "blobs",
            "document_restrictions",
            "document_versions",
            "documents",
            "kept_answers",
            "patient_files",
            "pending_shares",
            "revocation_statements",
            "share_statements",
            "shares",
        }
    ),
    actions=frozenset(
        {
            "records.add_version",
            "records.cancel_pending_share",
            "records.complete_pending_share",
            "records.content",
            "records.create_document",
            "records.create_pending_share",
            "records.document",
            "records.inbox",
            "records.lift_restriction",
            "records.mark_read",
            "records.my_files",
            "records.open_patient_file",
            "records.patient_file",
            "records.patient_files",
            "records.patient_invitations",
            "records.pending_shares",
            "records.restrict_document",
            "records.revoke",
            "records.rewrap",
            "records.share",
            "records.upload",
        }
    ),
)

MESSAGING = Activity(
    key="messaging",
    name="Secure messaging",
    purposes=("Let practitioners and patients write to each other, end-to-end encrypted.",),
    legal_bases=("GDPR art. 9(2)(h) with art. 6(1)(b).",),
    data_subjects=("patients", "practitioners"),
    data_categories=(
        "messages, encrypted end to end; in clear: who is in which conversation, when each "
        "message was posted and read, its size",
    ),
    recipients=("the conversation's participants",),
    retention=(
        "a conversation with a patient: with the patient's file of each practice a "
        "participant belongs to, destroyed with the last of those files (R16); between "
        "practitioners only: while the conversation exists (no patient is visible to the "
        "server)",
    ),
    tables=frozenset(
        {"message_keys", "messages", "thread_memberships", "thread_participants", "threads"}
    ),
    actions=frozenset(
        {
            "messaging.create_thread",
            "messaging.mark_read",
            "messaging.messages",
            "messaging.post_message",
            "messaging.rewrap",
            "messaging.thread",
            "messaging.threads",
        }
    ),
)

JOURNAL = Activity(
    key="journal",
    name="Journal of access and actions",
    purposes=(
        "Record every action on health data (who, what, when, outcome) in a tamper-evident "
        "log that patients and practices verify, and show each patient who saw her data.",
    ),
    legal_bases=(
        "GDPR art. 6(1)(c) and art. 32: traceability of access to health data (CSP "
        "L1111-8, the HDS certification); the patient's information on access (EHDS).",
    ),
    data_subjects=("patients", "practitioners", "practice staff"),
    data_categories=(
        "entries: the acting account, the action, the objects' identifiers, the patients "
        "concerned, the time and the outcome (never a document's content)",
        "connection data: the network address of each journaled request",
        "witnesses' cosignatures of the log's checkpoints",
    ),
    recipients=(
        "each patient: the entries about her; a practice's admins: their practice's",
        "the witnesses the operator lists, who cosign checkpoints (hashes only)",
    ),
    retention=(
        "entries for the life of the log (append-only, the proof of what happened; "
        "readable by the patient at least three years)",
        "network addresses: {network_retention_days} days",
    ),
    tables=frozenset(
        {
            "journal_chains",
            "journal_cosignatures",
            "journal_entries",
            "journal_network",
            "journal_outbox",
            "journal_patients",
            "journal_reads",
            "journal_witnesses",
            "merkle_checkpoints",
            "merkle_logs",
            "merkle_nodes",
            "merkle_tree_heads",
            "read_budgets",
        }
    ),
    actions=frozenset(
        {
            "audit.checkpoint",
            "audit.cosign",
            "audit.cosignatures",
            "audit.entries",
            "audit.entry",
            "audit.export_history",
            "audit.export_practice_activity",
            "audit.head",
            "audit.heads",
            "audit.history",
            "audit.journal_metrics",
            "audit.leaves",
            "audit.practice_activity",
            "audit.tile",
        }
    ),
)

PATIENT_RIGHTS = Activity(
    key="patient_rights",
    name="Consent, patients' rights and legal retention",
    purposes=(
        "Record the patient's consent directives (care-team objection, sharing outside "
        "the team, research) with their history, and apply them to every share.",
        "Publish the practice's information notice about care-team sharing, and record "
        "that each patient was informed of it (which version, when, how) before their "
        "care team shares their file (CSP L1110-4 III).",
        "Declare the research studies a practice takes part in, and record each "
        "patient's consent to each study, given and withdrawn per study.",
        "Receive and answer the patient's requests (access, rectification, erasure, "
        "restriction, objection, portability, medical file) within their legal deadlines.",
        "Keep each file for its legal retention and destroy it at the end.",
        "Delete a patient's account at their request: erase everything that may be "
        "erased, keep what the law requires and say until when (GDPR art. 17).",
    ),
    legal_bases=(
        "GDPR art. 6(1)(c) and arts. 7, 12 and 15 to 21; CSP L1110-4, L1111-7, R1112-7.",
        "Research: the patient's explicit consent to each study (GDPR art. 6(1)(a), 9(2)(a)).",
    ),
    data_subjects=("patients",),
    data_categories=(
        "consent directives and their versions",
        "the practice's information notices (versions, texts) and, per patient, the "
        "version they were given, the day, and how (invitation or in person)",
        "research studies: title, sponsor, purpose, CNIL methodology or authorisation, dates",
        "rights requests, their dates, state and answers",
        "retention facts: date of birth, date of death, last care, claims suspending destruction",
    ),
    recipients=("the patient's practice", "the patient"),
    retention=("with the patient's file (its legal retention); directives keep their history",),
    tables=frozenset(
        {
            "consent_directives",
            "file_retention",
            "information_notices",
            "patient_information",
            "research_studies",
            "retention_policies",
            "rights_requests",
        }
    ),
    actions=frozenset(
        {
            "consent.account_deletion_preview",
            "consent.ask",
            "consent.close_study",
            "consent.delete_account",
            "consent.complete",
            "consent.current_notice",
            "consent.declare_study",
            "consent.extend",
            "consent.file_information",
            "consent.invitation_notice",
            "consent.lift",
            "consent.my_directives",
            "consent.my_directives_as_fhir",
            "consent.my_information",
            "consent.my_requests",
            "consent.my_requests_as_fhir",
            "consent.notice_version",
            "consent.notice_versions",
            "consent.patient_directives",
            "consent.practice_requests",
            "consent.practice_studies",
            "consent.publish_notice",
            "consent.record_directive",
            "consent.record_information",
            "consent.refuse",
            "consent.withdraw",
            "retention.close_claim",
            "retention.file_retention",
            "retention.my_retention_as_fhir",
            "retention.open_claim",
            "retention.policy",
            "retention.purge",
            "retention.record_facts",
            "retention.set_policy",
        }
    ),
)

SECURITY = Activity(
    key="security",
    name="Defence against automated attacks and abuse",
    purposes=(
        "Slow down password guessing and credential stuffing without CAPTCHAs, tracking "
        "cookies or device fingerprints; bound refused requests and reads per account.",
    ),
    legal_bases=("GDPR art. 6(1)(f) (the security of the service) and art. 32.",),
    data_subjects=("anyone who signs in or tries to", "users"),
    data_categories=(
        "counts of attempts and failures per account and per network (an address's "
        "network prefix), spent proof-of-work challenges",
        "counts of refused requests and of reads per account, in the technical log",
    ),
    recipients=("the operator (metrics without identifiers)",),
    retention=(
        "shield counts: hours (purged by `uhs-server cleanup` once no decision needs them)",
        "technical log of refusals: {refusal_log_days} days",
    ),
    tables=frozenset(
        {
            "journal_refusals",
            "shield_accounts",
            "shield_counters",
            "shield_minutes",
            "shield_networks",
            "shield_spent_challenges",
        }
    ),
    actions=frozenset({"shield.metrics", "shield.prometheus"}),
)

MAIL = Activity(
    key="mail",
    name="Mail to users",
    purposes=(
        "Send confirmation codes and notices (a new sign-in, a factor changed, a document "
        "or a request waiting), never health data.",
    ),
    legal_bases=("GDPR art. 6(1)(b) and art. 32 (security notices).",),
    data_subjects=("users",),
    data_categories=("the recipient's address, the subject and text until sent",),
    recipients=("the operator's mail relay (SMTP: {smtp})",),
    retention=(
        "the text until sent or given up; the record of it (address, subject, dates) "
        "{mail_keep_days} days",
    ),
    tables=frozenset({"mail_outbox"}),
    actions=frozenset(),
)

SEARCH = Activity(
    key="search",
    name="Search over encrypted documents",
    purposes=(
        "Let each user find their documents by words, names and dates without the server "
        "reading the documents or the words searched.",
    ),
    legal_bases=("GDPR art. 6(1)(b), and art. 32: the index is encrypted on the device.",),
    data_subjects=("patients", "practitioners"),
    data_categories=(
        "an encrypted index: labels and values that only the user's index key makes or "
        "opens, each document's keyword list sealed, the index's counters sealed",
        "in clear for the server: how many entries each index holds, when it changes, "
        "and which entries a search reads (docs/PROTOCOL.md 18, its leakage profile)",
    ),
    recipients=("none: only the index's owner reads or searches it",),
    retention=(
        "until the owner's client removes a document's entries (its deletion, "
        "revocation, erasure or retention purge), the index with the account",
    ),
    tables=frozenset({"search_documents", "search_entries", "search_indexes"}),
    actions=frozenset(
        {
            "search.create_index",
            "search.documents",
            "search.lookup",
            "search.my_indexes",
            "search.state",
            "search.update",
        }
    ),
)

BREACHES = Activity(
    key="breaches",
    name="Breach register and notifications (GDPR art. 33 and 34)",
    purposes=(
        "Keep each practice's register of personal-data breaches, notified or not, with "
        "its decisions and their reasons (art. 33(5)).",
        "Count from the journal the patients and documents a breach may have reached, "
        "run the 72-hour clock and remind the practice's admins, prepare the CNIL's "
        "notification form (art. 33(1), (3), (4)).",
        "Tell the patients concerned in clear language when the risk is high (art. 34).",
        "Watch the journal for anomalies (mass downloads, access outside the practice's "
        "hours, repeated denials, read throttles, one account on two networks within "
        "minutes) and alert the practice's admins, who dismiss an alert or open an "
        "incident from it (art. 32, 33; R22).",
    ),
    legal_bases=("GDPR art. 6(1)(c): the obligations of art. 33 and 34.",),
    data_subjects=("patients concerned by a breach", "the practice's admins"),
    data_categories=(
        "the incident as the practice describes it (nature, circumstances, categories "
        "and numbers, consequences, measures, decisions)",
        "which patients the journal shows a breach reached, and the notices sent to them",
        "notifications made to the CNIL (the form as sent, reasons for a delay)",
        "anomaly alerts: the rule, the pseudonymous id of the account (or patient) "
        "concerned, a window and counts, the practice's thresholds; no address",
    ),
    recipients=(
        "the CNIL, through the practice (the server sends it nothing itself)",
        "the patients concerned, each their own notice",
    ),
    retention=("the practice's life: the register keeps every breach (art. 33(5))",),
    tables=frozenset(
        {
            "incidents",
            "incident_notices",
            "incident_notifications",
            "incident_patients",
            "anomaly_alerts",
            "anomaly_settings",
            "anomaly_settings_changes",
            "anomaly_positions",
        }
    ),
    actions=frozenset(
        {
            "incidents.alert_incident",
            "incidents.alert_raised",
            "incidents.alerts",
            "incidents.anomaly_settings",
            "incidents.count",
            "incidents.decide",
            "incidents.dismiss_alert",
            "incidents.decide_people",
            "incidents.export",
            "incidents.my_notices",
            "incidents.notice_sent",
            "incidents.notify",
            "incidents.open",
            "incidents.register",
            "incidents.reminder",
            "incidents.show",
            "incidents.tune_anomaly_settings",
            "incidents.update",
        }
    ),
)

COMPLIANCE = Activity(
    key="compliance",
    name="Compliance dashboard and report",
    purposes=(
        "Show a practice's admins, and an inspector through its dated report, whether the "
        "practice complies: second factors, patients' requests and their deadlines, "
        "consents, retention, breaches and their 72-hour clock, the journal, backups and "
        "their restore drill, transport (GDPR art. 5(2), 24 and 32).",
    ),
    legal_bases=("GDPR art. 6(1)(c): the controller's accountability (art. 5(2), 24).",),
    data_subjects=("the practice's members", "patients (counted only)"),
    data_categories=(
        "the name, address and role of each member without a second factor",
        "counts and dates: open requests with their deadlines, directives, files due for "
        "destruction, alerts and incidents with their deadlines (no patient named)",
    ),
    recipients=(
        "the practice's admins",
        "the operators listed in UHS_INCIDENT_OPERATORS, every practice's",
    ),
    retention=(
        "nothing kept: computed from the other activities' tables when asked; each "
        "reading is journaled",
    ),
    tables=frozenset(),
    actions=frozenset({"compliance.dashboard", "compliance.all_practices", "backup.restore_drill"}),
)

ACTIVITIES = (
    ACCOUNTS,
    KEY_DIRECTORY,
    EXCHANGE,
    MESSAGING,
    JOURNAL,
    PATIENT_RIGHTS,
    SEARCH,
    SECURITY,
    MAIL,
    BREACHES,
    COMPLIANCE,
)

#: Tables that hold no personal data, and why.
NOT_PERSONAL = {
    "job_runs": "how many times each server job ran, and when",
}

#: Journaled actions that touch no personal data: the server's own pages and documents.
NOT_PERSONAL_ACTIONS = frozenset(
    {
        "fastapi.openapi",
        "server.app_home",
        "server.docs",
        "server.docs_asset",
        "server.health",
        "server.ready",
        "server.root",
        "web.release_assets",
        "web.release_head",
    }
)
