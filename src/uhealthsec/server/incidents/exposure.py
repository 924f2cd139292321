"""What the server holds in clear about the people a practice serves: the one list an
art. 34(3)(a) decision records.

Contents (documents, their titles and types, messages) are encrypted on the sender's
device and unreadable without a recipient's private key, which the server never holds;
a thief of the database and of the blob store gets ciphertext. What they do get in
clear is listed here, read from the tables (records/, messaging/, accounts/,
retention/, audit/ models): a breach of end-to-end encrypted content still exposes
this, and the people concerned are told so if the practice tells them anything.
Change this list with the models it describes.
"""

from __future__ import annotations

#: (where, what is in clear), in French for the register and the CNIL form.
CLEAR_METADATA: tuple[tuple[str, str], ...] = (
    (
        "compte",
        "adresse e-mail, nom affiché, type de compte (patient ou professionnel), numéro "
        "RPPS d'un professionnel, date de création, clés publiques",
    ),
    ("cabinet", "appartenance d'un patient à un cabinet, rôle de chaque membre"),
    (
        "dossier patient",
        "cabinet et patient concernés, qui l'a ouvert et quand ; dates de conservation "
        "saisies (naissance, décès, dernier soin, réclamation)",
    ),
    (
        "document",
        "dossier auquel il appartient, auteur, dates de création de chaque version, "
        "taille et empreinte du contenu chiffré, destinataires et dates de partage, de "
        "lecture, d'expiration ou de révocation (le titre, le type et le contenu sont "
        "chiffrés)",
    ),
    (
        "message",
        "fil de discussion, membres du fil, expéditeur, date, taille du message chiffré, "
        "état de lecture (le texte est chiffré)",
    ),
    ("journal", "qui a fait quelle action, quand, sur quel patient ou document"),
)


def clear_metadata_text() -> str:
    """The list as recorded with a decision: one line per kind of object."""
    return "\n".join(f"{where} : {what}" for where, what in CLEAR_METADATA)
