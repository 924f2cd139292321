/**
 * Comparing safety numbers with a colleague: both screens show the same number for
 * the pair when each side holds the other's true key (PROTOCOL 10, rule 5).
 */

import type { MemberView } from "../api.js";
import { type AppContext, type Screen, refusalBox } from "../app.js";
import { field, h, replace } from "../dom.js";
import { t } from "../i18n.js";
import { qrCode } from "../qr.js";
import { busy } from "./signin.js";

export async function trustScreen(context: AppContext): Promise<Screen> {
  const title = t("trust.title");
  const content = h("section", { class: "narrow" }, h("h1", {}, title), h("p", {}, t("trust.intro")));
  let people: MemberView[] = [];
  try {
    const practices = await context.api.practices();
    const lists = await Promise.all(practices.map((p) => context.api.members(p.id)));
    const seen = new Set<string>([context.account.email]);
    people = lists.flat().filter((m) => !seen.has(m.email) && seen.add(m.email));
  } catch (error) {
    content.append(refusalBox(error));
    return { title, content };
  }
  const who = h("input", { type: "email", name: "who", list: "trust-people", autocomplete: "off", required: true });
  const options = h("datalist", { id: "trust-people" }, ...people.map((p) => h("option", { value: p.email }, p.name)));
  const show = h("button", { type: "submit" }, t("trust.show"));
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", {}, field(t("trust.who"), who), options, show);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = busy(show, t("common.loading"));
    replace(result);
    try {
      const email = who.value.trim();
      const pair = await context.api.pairSafetyNumber(email);
      const name = people.find((p) => p.email === email)?.name || email;
      const groups = pair.number.split(/\s+/);
      replace(
        result,
        h("h2", {}, t("trust.number", { name })),
        h("p", { class: "safety-number" }, ...groups.map((group) => h("span", {}, group))),
        h("p", {}, h("span", { class: "hint" }, `${t("trust.fingerprint")} : `), h("span", { class: "fingerprint" }, pair.fingerprint)),
        h("figure", { class: "safety-qr" }, qrCode(pair.number.replace(/\s+/g, ""), { labelledBy: "trust-qr-caption" }), h("figcaption", { id: "trust-qr-caption" }, t("trust.qr"))),
        h("p", { class: "hint" }, t("trust.noMark")),
      );
    } catch (error) {
      replace(result, refusalBox(error));
    } finally {
      done();
    }
  });
  content.append(form, result);
  return { title, content };
}
