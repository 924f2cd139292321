"""Which upper domain answers what a lower one asks (its ``interfaces.py``).

The server's domains import each other in one order, lowest first:

    accounts < keys < audit < records < retention < consent < messaging

(audit reads accounts; retention journals its purges; journaling/, security/,
storage/ and shield/ are infrastructure below them all). A domain imports the
tables and services of the domains below it; where a rule needs an answer from
above, the lower domain declares a Protocol and the application registers the
implementation here, once, when it builds its context (app.py). Work that spans
several upper domains has one module in flows/.
"""

from __future__ import annotations

from uhealthsec.server.accounts.interfaces import KeyPublication, PatientInforming
from uhealthsec.server.auth.interfaces import FormerKeyCopies
from uhealthsec.server.consent.erasure import DeletedAccountRemnants
from uhealthsec.server.consent.information import InformationService
from uhealthsec.server.consent.service import ConsentService
from uhealthsec.server.context import AppContext
from uhealthsec.server.flows.directory_reach import DirectoryReach
from uhealthsec.server.keys.interfaces import Acquaintances
from uhealthsec.server.keys.service import KeyDirectory
from uhealthsec.server.messaging.retention import PatientCorrespondence
from uhealthsec.server.records.interfaces import RetentionOfFiles, SharingRules
from uhealthsec.server.records.service import RecordsService
from uhealthsec.server.retention.interfaces import AccountRemnants, Correspondence
from uhealthsec.server.retention.service import RetentionService

_DIRECTORY_REACH = DirectoryReach()


def provide_interfaces(ctx: AppContext) -> None:
    ctx.provide(KeyPublication, KeyDirectory)
    ctx.provide(Acquaintances, lambda db, ctx: _DIRECTORY_REACH)
    ctx.provide(SharingRules, ConsentService)
    ctx.provide(PatientInforming, InformationService)
    ctx.provide(RetentionOfFiles, RetentionService)
    ctx.provide(FormerKeyCopies, RecordsService)
    ctx.provide(Correspondence, PatientCorrespondence)
    ctx.provide(AccountRemnants, DeletedAccountRemnants)
