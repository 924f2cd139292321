/**
 * The practice, as `uhs practice create|members|invite` show it: a practitioner
 * creates one (and is its admin), sees its members with their roles, and, as its
 * admin, invites colleagues and patients by address. The invitation's code goes to
 * the invited person by mail only: this page never sees it.
 */

import type { MemberView, PracticeView } from "../api.js";
import { type AppContext, inputRefusalBox, refusalBox, type Screen } from "../app.js";
import { field, formatDate, h, replace } from "../dom.js";
import { type MessageKey, locale, t } from "../i18n.js";
import { busy } from "./signin.js";
import { practiceRequests } from "./practice_requests.js";
import { alertsSummary } from "./alerts.js";
import { complianceLink } from "./compliance.js";

export const PRACTICE_ROUTE = (practiceId: string) => `#/practice/${encodeURIComponent(practiceId)}`;

/** The roles an admin invites to, colleagues first; a patient is invited as one too. */
const INVITED_ROLES = ["practitioner", "secretary", "patient", "admin"] as const;

const ROLE_NAMES: Record<string, MessageKey> = {
  admin: "practice.role.admin",
  practitioner: "practice.role.practitioner",
  secretary: "practice.role.secretary",
  patient: "practice.role.patient",
};

export function roleName(role: string): string {
  const key = ROLE_NAMES[role];
  return key ? t(key) : role;
}

/** The screen, showing the practice `chosen` (its id) when the account has several. */
export async function practiceScreen(context: AppContext, chosen?: string): Promise<Screen> {
  const title = t("practice.title");
  const content = h("section", { class: "practice" }, h("h1", {}, title));
  let practices: PracticeView[];
  try {
    // Those the account works in: a practice it is a patient of is not its to run.
    practices = (await context.api.practices()).filter((p) => p.role !== "patient");
  } catch (error) {
    content.append(refusalBox(error));
    return { title, content };
  }
  const shown = h("div", {});
  const choice = h("select", { name: "practice" }, ...practices.map((p) => h("option", { value: p.id }, p.name)));
  const show = () => {
    const practice = practices.find((p) => p.id === choice.value);
    if (practice) void showPractice(context, practice, shown);
  };
  if (chosen && practices.some((p) => p.id === chosen)) choice.value = chosen;
  choice.addEventListener("change", show);
  if (practices.length === 0) content.append(h("p", { class: "empty" }, t("practice.none")));
  if (practices.length > 1) content.append(field(t("practice.choose"), choice));
  content.append(shown, createForm(context));
  show();
  return { title, content };
}

/** A practice's members, and the invitation form when the account is its admin. */
async function showPractice(context: AppContext, practice: PracticeView, place: HTMLElement): Promise<void> {
  const members = h("div", {});
  const heading = h("h2", {}, practice.name);
  replace(place, heading, h("p", {}, t("practice.yourRole", { role: roleName(practice.role) })));
  // What may need the admin today comes before the lists.
  if (practice.role === "admin") place.append(alertsSummary(context, practice.id), complianceLink(practice.id));
  place.append(members);
  // The page offers an admin's actions to admins only; the server refuses them to anyone else anyway.
  if (practice.role === "admin") {
    place.append(
      inviteForm(context, practice, () => void listMembers(context, practice, members)),
      practiceRequests(context, practice),
      retentionPolicyPart(context, practice),
    );
  }
  await listMembers(context, practice, members);
}

async function listMembers(context: AppContext, practice: PracticeView, place: HTMLElement): Promise<void> {
  let members: MemberView[];
  try {
    members = await context.api.members(practice.id);
  } catch (error) {
    replace(place, refusalBox(error));
    return;
  }
  const columns: MessageKey[] = ["practice.name", "practice.email", "practice.role", "practice.identity"];
  const caption = h("caption", {}, t("practice.members", { count: members.length }));
  const header = h("tr", {}, ...columns.map((c) => h("th", { scope: "col" }, t(c))));
  // As the documents' table: one card per member on a phone, each value labelled.
  const cell = (column: number, ...value: (string | HTMLElement | null)[]) => h("td", { "data-label": t(columns[column]!) }, ...value);
  const rows = members.map((m) =>
    h("tr", {}, cell(0, m.name || m.email), cell(1, m.email), cell(2, roleName(m.role)), cell(3, ...identityOf(context, practice, m, () => void listMembers(context, practice, place)))),
  );
  replace(place, h("table", { class: "documents members" }, caption, h("thead", {}, header), h("tbody", {}, ...rows)));
}

/** A practitioner's professional identity, and for an admin the vouching of one not verified yet. */
function identityOf(context: AppContext, practice: PracticeView, member: MemberView, vouched: () => void): (string | HTMLElement | null)[] {
  // A professional identity is a practitioner's (the server would also let a secretary's account be vouched for: not offered).
  if (member.kind !== "practitioner" || (member.role !== "practitioner" && member.role !== "admin")) return [""];
  if (member.rppsProven) return [t("practice.identityProven")];
  if (member.identityVerified) return [h("span", { class: "verified" }, t("practice.identityVerified"))];
  const said = t("practice.identityUnverified");
  if (practice.role !== "admin") return [said];
  const who = member.name || member.email;
  const vouch = h("button", { type: "button", class: "secondary" }, t("practice.vouch"));
  vouch.setAttribute("aria-label", t("practice.vouchFor", { name: who }));
  const place = h("div", { class: "vouch" }, vouch);
  vouch.onclick = () => {
    // Asked once more, with what it means: the admin's word stands for this person's profession.
    const confirm = h("button", { type: "button" }, t("practice.vouchConfirm"));
    const cancel = h("button", { type: "button", class: "secondary" }, t("practice.vouchCancel"));
    const problems = h("div", {});
    const question = h("div", { class: "alert warning", role: "group", "aria-label": t("practice.vouchFor", { name: who }) }, h("p", {}, t("practice.vouchMeaning", { name: who })), problems, confirm, cancel);
    cancel.onclick = () => {
      replace(place, vouch);
      vouch.focus();
    };
    confirm.onclick = async () => {
      replace(problems);
      const done = busy(confirm, t("practice.vouching"));
      try {
        await context.api.vouchForIdentity(practice.id, member.accountId);
        context.announce(t("practice.vouched", { name: who }));
        vouched();
      } catch (error) {
        done();
        replace(problems, refusalBox(error));
      }
    };
    replace(place, question);
    confirm.focus();
  };
  // One block: on a phone the cell's text and its button stack rather than squeeze side by side.
  return [h("div", {}, h("div", {}, said), place)];
}

/** The legal default: 20 years after the last care (CSP R1112-7). */
const DEFAULT_YEARS = 20;
const MIN_YEARS = 10;
const MAX_YEARS = 100;

/** The practice's retention policy, shown and changed by its admin. */
function retentionPolicyPart(context: AppContext, practice: PracticeView): HTMLElement {
  const shown = h("p", {}, t("practice.policyLoading"));
  const years = h("input", { type: "number", name: "policy-years", min: String(MIN_YEARS), max: String(MAX_YEARS), step: "1", required: true, inputmode: "numeric" });
  const archive = h("input", { type: "number", name: "policy-archive", min: "1", max: String(MAX_YEARS), step: "1", required: true, inputmode: "numeric" });
  const submit = h("button", { type: "submit" }, t("practice.policySave"));
  const outcome = h("div", {});
  const show = (policy: { years: number; archiveAfterYears: number }) => {
    replace(shown, t("practice.policyNow", { years: String(policy.years), archive: String(policy.archiveAfterYears) }));
    years.value = String(policy.years);
    archive.value = String(policy.archiveAfterYears);
  };
  context.api.retentionPolicy(practice.id).then(show, (error: unknown) => replace(shown, refusalBox(error)));
  // Bounds checked by the server, not here: its refusal is said with them (below).
  const form = h("form", { class: "policy", novalidate: true }, field(t("practice.policyYears"), years, t("practice.policyYearsHint")), field(t("practice.policyArchive"), archive, t("practice.policyArchiveHint")), outcome, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(outcome);
    const done = busy(submit, t("practice.policySaving"));
    try {
      const policy = await context.api.setRetentionPolicy(practice.id, { years: Number(years.value), archiveAfterYears: Number(archive.value) });
      show(policy);
      const said = t("practice.policySaved", { years: String(policy.years) });
      replace(outcome, h("div", { class: "alert success" }, h("p", {}, said)));
      context.announce(said);
    } catch (error) {
      replace(outcome, inputRefusalBox(error, "practice.policyBounds"));
    } finally {
      done();
    }
  });
  return h(
    "section",
    { class: "part", "aria-labelledby": "policy-heading" },
    h("h2", { id: "policy-heading" }, t("practice.policyTitle")),
    h("p", {}, t("practice.policyDefault", { years: String(DEFAULT_YEARS) })),
    shown,
    form,
  );
}

function inviteForm(context: AppContext, practice: PracticeView, invited: () => void): HTMLElement {
  const email = h("input", { type: "email", name: "invite-email", autocomplete: "off", spellcheck: "false", required: true });
  const role = h("select", { name: "invite-role" }, ...INVITED_ROLES.map((r) => h("option", { value: r }, roleName(r))));
  const submit = h("button", { type: "submit" }, t("practice.invite"));
  const outcome = h("div", {});
  const form = h("form", { class: "invite" }, field(t("practice.inviteEmail"), email, t("practice.inviteHint")), field(t("practice.inviteRole"), role), outcome, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(outcome);
    const done = busy(submit, t("practice.inviting"));
    try {
      const invitation = await context.api.invitePractice(practice.id, email.value, role.value as (typeof INVITED_ROLES)[number]);
      const said = t("practice.invited", { email: invitation.email, role: roleName(invitation.role), date: formatDate(invitation.expiresAt, locale()) });
      replace(outcome, h("div", { class: "alert success" }, h("p", {}, said)));
      context.announce(said);
      email.value = "";
      invited();
    } catch (error) {
      replace(outcome, refusalBox(error));
    } finally {
      done();
      email.focus();
    }
  });
  return h("section", { "aria-labelledby": "invite-heading" }, h("h2", { id: "invite-heading" }, t("practice.inviteTitle")), form);
}

function createForm(context: AppContext): HTMLElement {
  const name = h("input", { type: "text", name: "practice-name", autocomplete: "organization", required: true, maxlength: "200" });
  const submit = h("button", { type: "submit" }, t("practice.create"));
  const problems = h("div", {});
  const form = h("form", {}, field(t("practice.newName"), name), problems, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(problems);
    const done = busy(submit, t("practice.creating"));
    try {
      const practice = await context.api.createPractice(name.value);
      context.announce(t("practice.created", { name: practice.name }));
      // The screen again, showing the new practice among the others.
      context.navigate(PRACTICE_ROUTE(practice.id));
    } catch (error) {
      done();
      replace(problems, refusalBox(error));
      name.focus();
    }
  });
  return h("section", { "aria-labelledby": "create-heading" }, h("h2", { id: "create-heading" }, t("practice.createTitle")), form);
}
