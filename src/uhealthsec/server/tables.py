"""Every domain's tables, gathered so that migrations see the whole schema.

Here, beside the application that wires the domains together, rather than in
storage/: the database layer is used by every domain and imports none of them.
"""

from __future__ import annotations

from uhealthsec.server.accounts import models as accounts_models
from uhealthsec.server.audit import models as audit_models
from uhealthsec.server.auth import models as auth_models
from uhealthsec.server.consent import models as consent_models
from uhealthsec.server.federation import models as federation_models
from uhealthsec.server.idempotency import models as idempotency_models
from uhealthsec.server.incidents import models as incidents_models
from uhealthsec.server.incidents.anomalies import models as anomalies_models
from uhealthsec.server.jobs import models as jobs_models
from uhealthsec.server.keys import models as keys_models
from uhealthsec.server.mail import models as mail_models
from uhealthsec.server.messaging import models as messaging_models
from uhealthsec.server.records import models as records_models
from uhealthsec.server.retention import models as retention_models
from uhealthsec.server.search import models as search_models
from uhealthsec.server.security import models as security_models
from uhealthsec.server.shield import models as shield_models
from uhealthsec.server.storage import merkle_log
from uhealthsec.server.storage.db import Base

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "anomalies_models",
    "audit_models",
    "auth_models",
    "consent_models",
    "federation_models",
    "idempotency_models",
    "incidents_models",
    "jobs_models",
    "keys_models",
    "mail_models",
    "merkle_log",
    "messaging_models",
    "metadata",
    "records_models",
    "retention_models",
    "search_models",
    "security_models",
    "shield_models",
]
