/**
 * Passkeys (WebAuthn) in the page: only a page can ask the authenticator
 * (navigator.credentials), so the options the worker got from the server are turned
 * into the browser's binary form here, and the authenticator's answer back into
 * JSON for the worker, which checks it, signs the addition with the account's key and
 * sends it. The page holds no key and no token: a passkey's answer is worth nothing
 * without the sign-in or the signed change the worker makes of it.
 */

import { WorkerRefusal } from "../../worker/client.js";
import { fromBase64Url, toBase64Url } from "../../protocol/bytes.js";
import type { AccountView, Api } from "../api.js";
import { type AppContext, describeError, errorBox, refusalBox } from "../app.js";
import { field, formatDate, h, replace, uniqueId } from "../dom.js";
import { type MessageKey, locale, t } from "../i18n.js";
import { busy } from "./signin.js";
import { withStepUp } from "./step_up.js";

type Json = Record<string, unknown>;

const buffer = (text: unknown): ArrayBuffer => fromBase64Url(String(text)).slice().buffer;
const encoded = (data: ArrayBuffer | null): string | null => (data === null ? null : toBase64Url(new Uint8Array(data)));

/** The descriptors of the server's options (excludeCredentials, allowCredentials), ids as bytes. */
function descriptors(list: unknown): PublicKeyCredentialDescriptor[] {
  return (Array.isArray(list) ? (list as Json[]) : []).map((d) => ({ ...(d as object), type: "public-key", id: buffer(d["id"]) }));
}

/** navigator.credentials.create() options from the server's JSON (py_webauthn's options_to_json). */
function creationOptions(options: Json): PublicKeyCredentialCreationOptions {
  const user = options["user"] as Json;
  return {
    ...(options as object),
    challenge: buffer(options["challenge"]),
    user: { ...(user as object), id: buffer(user["id"]) },
    excludeCredentials: descriptors(options["excludeCredentials"]),
  } as PublicKeyCredentialCreationOptions;
}

function requestOptions(options: Json): PublicKeyCredentialRequestOptions {
  return { ...(options as object), challenge: buffer(options["challenge"]), allowCredentials: descriptors(options["allowCredentials"]) } as PublicKeyCredentialRequestOptions;
}

/** The authenticator's answer in WebAuthn's JSON form (RegistrationResponseJSON, AuthenticationResponseJSON). */
function credentialJson(credential: PublicKeyCredential): Json {
  const answer = credential.response;
  const response: Json = { clientDataJSON: encoded(answer.clientDataJSON) };
  if (answer instanceof AuthenticatorAttestationResponse) {
    response["attestationObject"] = encoded(answer.attestationObject);
    response["transports"] = answer.getTransports();
  } else {
    const assertion = answer as AuthenticatorAssertionResponse;
    response["authenticatorData"] = encoded(assertion.authenticatorData);
    response["signature"] = encoded(assertion.signature);
    response["userHandle"] = encoded(assertion.userHandle);
  }
  return {
    id: credential.id,
    rawId: encoded(credential.rawId),
    type: credential.type,
    response,
    clientExtensionResults: credential.getClientExtensionResults(),
    authenticatorAttachment: credential.authenticatorAttachment,
  };
}

async function ask(request: { create: CredentialCreationOptions } | { get: CredentialRequestOptions }): Promise<Json> {
  const credential = "create" in request ? await navigator.credentials.create(request.create) : await navigator.credentials.get(request.get);
  if (!(credential instanceof PublicKeyCredential)) throw new DOMException("no passkey answered", "NotAllowedError");
  return credentialJson(credential);
}

/** What went wrong with a passkey, said plainly: the browser's refusals by name, the server's by kind. */
export function describePasskeyError(error: unknown, adding: boolean): string {
  const browser: Record<string, MessageKey> = {
    NotAllowedError: adding ? "passkeys.cancelledAdd" : "passkeys.cancelled",
    InvalidStateError: "passkeys.alreadyThere",
    SecurityError: "passkeys.wrongSite",
    NotSupportedError: "passkeys.unsupported",
  };
  if (error instanceof DOMException && error.name in browser) return t(browser[error.name]!);
  if (error instanceof WorkerRefusal) {
    if (error.identifier === "unauthorized" && !adding) return t("passkeys.refused");
    if (error.identifier === "passkey_refused" || (error.identifier === "bad_request" && adding)) return t("passkeys.notVerified");
  }
  return describeError(error);
}

/** The authenticator's answer to the server's options for navigator.credentials.get(). */
export function answerPasskeyRequest(options: Json): Promise<Json> {
  return ask({ get: { publicKey: requestOptions(options) } });
}

/** The second factor of the sign-in under way proven with a passkey. */
export async function signInWithPasskey(api: Api): Promise<AccountView> {
  return api.finishPasskeySignIn(await answerPasskeyRequest(await api.passkeySignInOptions()));
}

/** The security screen's part: the account's passkeys, and one more added. */
export async function passkeysPart(context: AppContext): Promise<HTMLElement> {
  const part = h("div", {}, h("h2", {}, t("passkeys.title")), h("p", {}, t("passkeys.intro")));
  const list = h("ul", { class: "readers passkeys" });
  const outcome = h("div", { "aria-live": "polite" });
  const show = (passkeys: Awaited<ReturnType<Api["passkeys"]>>): void =>
    replace(list, ...(passkeys.length === 0 ? [h("li", {}, t("passkeys.none"))] : passkeys.map((p) => passkeyItem(context, p, outcome, show))));
  try {
    show(await context.api.passkeys());
  } catch (error) {
    part.append(refusalBox(error));
    return part;
  }
  const name = h("input", { type: "text", name: "passkey-name", autocomplete: "off", maxlength: "100", placeholder: t("passkeys.namePlaceholder") });
  const add = h("button", { type: "submit" }, t("passkeys.add"));
  const form = h("form", {}, field(t("passkeys.name"), name, t("passkeys.nameHint")), add);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = busy(add, t("passkeys.adding"));
    replace(outcome);
    try {
      const passkeys = await withStepUp(context.api, outcome, async () => {
        const options = await context.api.beginPasskeyEnrolment();
        const credential = await ask({ create: { publicKey: creationOptions(options) } });
        return context.api.finishPasskeyEnrolment(credential, name.value);
      });
      if (passkeys === null) return;
      show(passkeys);
      name.value = "";
      const message = t("passkeys.added");
      replace(outcome, h("p", { class: "alert success" }, message));
      context.announce(message);
    } catch (error) {
      replace(outcome, errorBox(describePasskeyError(error, true)));
    } finally {
      done();
    }
  });
  part.append(list, form, outcome);
  return part;
}

type PasskeyView = Awaited<ReturnType<Api["passkeys"]>>[number];

/**
 * A passkey of the list with its button to remove it, asked once more before it goes:
 * the worker signs the removal with the account's key (PROTOCOL 16.4), and the server
 * signs the other devices out.
 */
function passkeyItem(context: AppContext, passkey: PasskeyView, outcome: HTMLElement, show: (passkeys: PasskeyView[]) => void): HTMLElement {
  const created = formatDate(passkey.createdAt, locale());
  const actions = h("p", { class: "actions" });
  const remove = h("button", { type: "button", class: "secondary", "aria-label": t("passkeys.removeLabel", { name: passkey.name, created }) }, t("passkeys.remove"));
  const confirm = h("button", { type: "button" }, t("passkeys.confirmRemove"));
  const keep = h("button", { type: "button", class: "link" }, t("passkeys.keep"));
  const question = h("span", { id: uniqueId("remove-passkey") }, t("passkeys.removeQuestion", { name: passkey.name }));
  confirm.setAttribute("aria-describedby", question.id);
  remove.addEventListener("click", () => {
    replace(actions, question, " ", confirm, " ", keep);
    confirm.focus();
  });
  keep.addEventListener("click", () => {
    replace(actions, remove);
    remove.focus();
  });
  confirm.addEventListener("click", async () => {
    const done = busy(confirm, t("passkeys.removing"));
    replace(outcome);
    try {
      const passkeys = await withStepUp(context.api, outcome, () => context.api.removePasskey(passkey.id));
      if (passkeys === null) {
        done();
        replace(actions, remove);
        remove.focus();
        return;
      }
      show(passkeys);
      const message = t("passkeys.removed", { name: passkey.name });
      replace(outcome, h("p", { class: "alert success" }, message));
      context.announce(message);
    } catch (error) {
      done();
      replace(outcome, errorBox(describeError(error)));
      replace(actions, remove);
    }
  });
  actions.append(remove);
  return h("li", { "data-passkey": passkey.id }, h("p", {}, t("passkeys.item", { name: passkey.name, created })), actions);
}
