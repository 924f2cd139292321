/**
 * The application's words, French first (its users work in France), English
 * available. The choice is kept in localStorage: a language is not health data.
 */

const fr = {
  "app.name": "U-HealthSec",
  "app.skip": "Aller au contenu",
  "app.starting": "Démarrage du module de chiffrement…",
  "app.workerFailed": "Le module de chiffrement n'a pas démarré : {reason}. Rechargez la page ; si cela continue, votre navigateur est peut-être trop ancien.",
  "app.releaseRefused": "Le code de cette application n'est pas celui que le serveur a publié : {reason}. N'y saisissez ni mot de passe ni document, et prévenez votre contact sécurité.",
  "app.language": "English",
  "app.languageLabel": "Switch to English",
  "nav.label": "Navigation principale",
  "nav.inbox": "Documents",
  "nav.send": "Envoyer",
  "nav.trust": "Vérifier un correspondant",
  "nav.signOut": "Se déconnecter",
  "nav.signedInAs": "Connecté·e : {name}",
  "signin.title": "Connexion",
  "signin.intro": "Vos documents sont chiffrés sur cet appareil : ni le serveur ni personne d'autre que leurs destinataires ne peut les lire.",
  "signin.email": "Adresse e-mail",
  "signin.password": "Mot de passe",
  "signin.submit": "Se connecter",
  "signin.working": "Ouverture de vos clés…",
  "signin.factorTitle": "Vérification en deux étapes",
  "signin.totp": "Code à 6 chiffres de votre application d'authentification",
  "signin.totpHint": "Ouvrez votre application d'authentification et saisissez le code affiché pour U-HealthSec.",
  "signin.recovery": "Code de secours",
  "signin.recoveryHint": "Un des codes de secours reçus à l'inscription ; chaque code ne sert qu'une fois.",
  "signin.useRecovery": "Je n'ai pas mon téléphone : utiliser un code de secours",
  "signin.useTotp": "Utiliser le code de mon application",
  "signin.verify": "Valider",
  "signin.verifying": "Vérification…",
  "signin.back": "Recommencer",
  "inbox.title": "Documents",
  "inbox.caption": "Les documents que vous avez reçus ou envoyés, du plus récent au plus ancien.",
  "inbox.loading": "Chargement des documents…",
  "inbox.empty": "Aucun document pour l'instant.",
  "inbox.send": "Envoyer un document",
  "inbox.document": "Document",
  "inbox.patient": "Patient·e",
  "inbox.from": "Envoyé par",
  "inbox.date": "Date",
  "inbox.size": "Taille",
  "inbox.filter": "Rechercher (titre, patient·e, expéditeur)",
  "inbox.count": "{count} document(s)",
  "document.back": "Retour aux documents",
  "document.patient": "Patient·e",
  "document.from": "Envoyé par",
  "document.date": "Date",
  "document.size": "Taille",
  "document.file": "Fichier",
  "document.version": "Version",
  "document.readers": "Peuvent le lire",
  "document.opening": "Téléchargement, vérification de la signature et déchiffrement sur cet appareil…",
  "document.verified": "Signature vérifiée : ce document a été signé par {signer}, dont la clé est prouvée par l'annuaire des clés.",
  "document.refused": "Ce document a été refusé : {reason}",
  "document.refusedAdvice": "Ne l'utilisez pas. Prévenez l'expéditeur et votre contact sécurité : le document ou le serveur a pu être altéré.",
  "document.save": "Enregistrer le fichier",
  "document.notShown": "Ce type de fichier n'est pas affiché ici, pour votre sécurité : enregistrez-le pour l'ouvrir avec l'application habituelle.",
  "document.preview": "Aperçu du document",
  "document.pdfPage": "Page {page} sur {total}",
  "document.pdfMore": "Les {drawn} premières pages sur {pages} sont affichées : enregistrez le fichier pour lire la suite.",
  "document.pdfUnreadable": "Ce PDF ne peut pas être affiché ici : enregistrez-le pour l'ouvrir avec votre lecteur habituel.",
  "document.notFound": "Ce document n'existe pas ou ne vous est pas partagé.",
  "send.title": "Envoyer un document",
  "send.intro": "Le fichier est chiffré sur cet appareil pour les seules personnes choisies, puis envoyé.",
  "send.practice": "Cabinet",
  "send.patient": "Patient·e concerné·e",
  "send.patientFilter": "Rechercher un·e patient·e par nom",
  "send.choosePatient": "Choisissez la patiente ou le patient",
  "send.noPatient": "Aucun dossier patient dans ce cabinet.",
  "send.recipients": "Destinataires",
  "send.recipientsFilter": "Rechercher un·e collègue par nom",
  "send.others": "Autres adresses (séparées par des virgules)",
  "send.othersHint": "Des personnes hors du cabinet, si le consentement de la patiente ou du patient le permet.",
  "send.files": "Fichiers",
  "send.drop": "Déposez vos fichiers ici, ou",
  "send.choose": "choisissez-les",
  "send.chosen": "{count} fichier(s) choisi(s) : {names}",
  "send.documentTitle": "Titre (facultatif ; le nom du fichier sinon)",
  "send.check": "Vérifier les destinataires",
  "send.checking": "Vérification des clés des destinataires dans l'annuaire…",
  "send.whoCanRead": "Pourront lire ce document",
  "send.whoCanReadHint": "Chaque clé ci-dessous a été vérifiée par cet appareil dans l'annuaire des clés. Vous en faites partie, pour retrouver vos envois.",
  "send.confirm": "Chiffrer et envoyer",
  "send.change": "Modifier",
  "send.progress": "Chiffrement et envoi de {name}",
  "send.done": "Envoyé : {title}.",
  "send.open": "Voir le document",
  "send.missingPatient": "Choisissez la patiente ou le patient du document.",
  "send.missingFile": "Choisissez au moins un fichier.",
  "send.missingRecipient": "Choisissez au moins un destinataire.",
  "trust.title": "Vérifier un correspondant",
  "trust.intro": "Comparez ce numéro avec celui que votre correspondant voit sur son écran, de vive voix ou au téléphone. S'ils sont identiques, personne ne s'est glissé entre vous.",
  "trust.who": "Correspondant",
  "trust.show": "Afficher notre numéro de sécurité",
  "trust.number": "Numéro de sécurité avec {name}",
  "trust.fingerprint": "Empreinte de sa clé",
  "error.generic": "Une erreur est survenue : {reason}",
  "error.network": "Le serveur ne répond pas. Vérifiez votre connexion et réessayez.",
  "error.signInAgain": "Votre session a pris fin : reconnectez-vous.",
  "common.loading": "Chargement…",
} as const;

export type MessageKey = keyof typeof fr;

const en: Record<MessageKey, string> = {
  "app.name": "U-HealthSec",
  "app.skip": "Skip to content",
  "app.starting": "Starting the encryption module…",
  "app.workerFailed": "The encryption module did not start: {reason}. Reload the page; if it goes on, your browser may be too old.",
  "app.releaseRefused": "This application's code is not what the server published: {reason}. Type no password and no document into it, and tell your security contact.",
  "app.language": "Français",
  "app.languageLabel": "Passer en français",
  "nav.label": "Main navigation",
  "nav.inbox": "Documents",
  "nav.send": "Send",
  "nav.trust": "Verify a contact",
  "nav.signOut": "Sign out",
  "nav.signedInAs": "Signed in: {name}",
  "signin.title": "Sign in",
  "signin.intro": "Your documents are encrypted on this device: neither the server nor anyone but their recipients can read them.",
  "signin.email": "E-mail address",
  "signin.password": "Password",
  "signin.submit": "Sign in",
  "signin.working": "Opening your keys…",
  "signin.factorTitle": "Two-step verification",
  "signin.totp": "6-digit code from your authenticator app",
  "signin.totpHint": "Open your authenticator app and type the code it shows for U-HealthSec.",
  "signin.recovery": "Recovery code",
  "signin.recoveryHint": "One of the recovery codes given when you registered; each works once.",
  "signin.useRecovery": "I don't have my phone: use a recovery code",
  "signin.useTotp": "Use the code from my app",
  "signin.verify": "Verify",
  "signin.verifying": "Verifying…",
  "signin.back": "Start again",
  "inbox.title": "Documents",
  "inbox.caption": "The documents you received or sent, newest first.",
  "inbox.loading": "Loading documents…",
  "inbox.empty": "No documents yet.",
  "inbox.send": "Send a document",
  "inbox.document": "Document",
  "inbox.patient": "Patient",
  "inbox.from": "Sent by",
  "inbox.date": "Date",
  "inbox.size": "Size",
  "inbox.filter": "Search (title, patient, sender)",
  "inbox.count": "{count} document(s)",
  "document.back": "Back to documents",
  "document.patient": "Patient",
  "document.from": "Sent by",
  "document.date": "Date",
  "document.size": "Size",
  "document.file": "File",
  "document.version": "Version",
  "document.readers": "Can read it",
  "document.opening": "Downloading, checking the signature and decrypting on this device…",
  "document.verified": "Signature verified: this document was signed by {signer}, whose key the key directory proves.",
  "document.refused": "This document was refused: {reason}",
  "document.refusedAdvice": "Do not use it. Tell the sender and your security contact: the document or the server may have been tampered with.",
  "document.save": "Save the file",
  "document.notShown": "This kind of file is not shown here, for your safety: save it to open it with its usual application.",
  "document.preview": "Document preview",
  "document.pdfPage": "Page {page} of {total}",
  "document.pdfMore": "The first {drawn} pages of {pages} are shown: save the file to read the rest.",
  "document.pdfUnreadable": "This PDF cannot be shown here: save it to open it with your usual reader.",
  "document.notFound": "This document does not exist or is not shared with you.",
  "send.title": "Send a document",
  "send.intro": "The file is encrypted on this device for the people you choose only, then sent.",
  "send.practice": "Practice",
  "send.patient": "Patient concerned",
  "send.patientFilter": "Search a patient by name",
  "send.choosePatient": "Choose the patient",
  "send.noPatient": "No patient file in this practice.",
  "send.recipients": "Recipients",
  "send.recipientsFilter": "Search a colleague by name",
  "send.others": "Other addresses (comma-separated)",
  "send.othersHint": "People outside the practice, if the patient's consent allows it.",
  "send.files": "Files",
  "send.drop": "Drop your files here, or",
  "send.choose": "choose them",
  "send.chosen": "{count} file(s) chosen: {names}",
  "send.documentTitle": "Title (optional; the file name otherwise)",
  "send.check": "Check the recipients",
  "send.checking": "Checking the recipients' keys in the key directory…",
  "send.whoCanRead": "Who will be able to read this document",
  "send.whoCanReadHint": "This device checked each key below in the key directory. You are one of them, to find what you sent.",
  "send.confirm": "Encrypt and send",
  "send.change": "Change",
  "send.progress": "Encrypting and sending {name}",
  "send.done": "Sent: {title}.",
  "send.open": "See the document",
  "send.missingPatient": "Choose the document's patient.",
  "send.missingFile": "Choose at least one file.",
  "send.missingRecipient": "Choose at least one recipient.",
  "trust.title": "Verify a contact",
  "trust.intro": "Compare this number with the one your contact sees on their screen, in person or on the phone. If they match, nobody has slipped in between you.",
  "trust.who": "Contact",
  "trust.show": "Show our safety number",
  "trust.number": "Safety number with {name}",
  "trust.fingerprint": "Their key's fingerprint",
  "error.generic": "Something went wrong: {reason}",
  "error.network": "The server does not answer. Check your connection and try again.",
  "error.signInAgain": "Your session ended: sign in again.",
  "common.loading": "Loading…",
};

export type Language = "fr" | "en";
const CATALOGUES: Record<Language, Record<MessageKey, string>> = { fr, en };
const STORAGE_KEY = "uhs-language";

function initialLanguage(): Language {
  try {
    return localStorage.getItem(STORAGE_KEY) === "en" ? "en" : "fr";
  } catch {
    return "fr";
  }
}

let current: Language = initialLanguage();

export function language(): Language {
  return current;
}

/** The locale for dates and numbers. */
export function locale(): string {
  return current === "fr" ? "fr-FR" : "en-GB";
}

export function setLanguage(next: Language): void {
  current = next;
  document.documentElement.lang = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // Private browsing may refuse storage: the choice then lasts for this page.
  }
}

/** The message `key` in the current language, `{name}` replaced by `params.name`. */
export function t(key: MessageKey, params: Record<string, string | number> = {}): string {
  return CATALOGUES[current][key].replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}
