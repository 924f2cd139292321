"""The information notice the software ships (version 0): what a practice tells its
patients about how their file is shared within the care team (CSP L1110-4 III), until
it publishes its own. Plain words first; the article for those who want it."""

from __future__ import annotations

DEFAULT_NOTICE_FR = """\
Votre dossier et votre équipe de soins

Ce qui est partagé : les documents de votre dossier dans ce cabinet (comptes rendus, \
résultats, ordonnances, courriers). Ils sont chiffrés de bout en bout : seules les \
personnes avec qui ils sont partagés peuvent les lire.

Avec qui : les professionnels de ce cabinet qui vous soignent (votre équipe de soins) \
peuvent se partager les documents utiles à vos soins sans vous le redemander à chaque \
fois. Le secrétariat ne lit un document que s'il lui est partagé.

Hors de l'équipe de soins : aucun professionnel extérieur au cabinet ne reçoit vos \
documents sans votre accord.

Votre droit de refuser : vous pouvez à tout moment refuser ce partage, pour toute \
l'équipe ou pour une seule personne. Votre choix s'applique aussitôt : les accès qu'il \
ne permet plus sont retirés.

Comment : dans votre espace, rubrique « Mes consentements », ou en le disant à votre \
praticien. Vous y voyez aussi qui a consulté vos documents.

Pour en savoir plus : article L1110-4 du code de la santé publique.
"""

DEFAULT_NOTICE_EN = """\
Your file and your care team

What is shared: the documents of your file at this practice (reports, results, \
prescriptions, letters). They are end-to-end encrypted: only the people they are \
shared with can read them.

With whom: the professionals of this practice who care for you (your care team) may \
share with each other the documents useful to your care without asking you each time. \
The secretary reads a document only if it is shared with them.

Outside the care team: no professional outside the practice receives your documents \
without your consent.

Your right to object: you may refuse this sharing at any time, for the whole team or \
for one person. Your choice applies at once: the access it no longer allows is removed.

How: in your space, under "My consents", or by telling your practitioner. You also see \
there who looked at your documents.

To know more: article L1110-4 of the French public health code.
"""
