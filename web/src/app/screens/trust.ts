/**
 * Comparing safety numbers with a colleague: both screens show the same number for
 * the pair when each side holds the other's true key (PROTOCOL 10, rule 5).
 */

import encodeQR from "@paulmillr/qr";
import type { MemberView } from "../api.js";
import { type AppContext, type Screen, describeError, errorBox } from "../app.js";
import { field, h, replace } from "../dom.js";
import { t } from "../i18n.js";
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
    content.append(errorBox(describeError(error)));
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
        h("figure", { class: "safety-qr" }, qrCode(pair.number.replace(/\s+/g, ""), "trust-qr-caption"), h("figcaption", { id: "trust-qr-caption" }, t("trust.qr"))),
        h("p", { class: "hint" }, t("trust.noMark")),
      );
    } catch (error) {
      replace(result, errorBox(describeError(error)));
    } finally {
      done();
    }
  });
  content.append(form, result);
  return { title, content };
}

const SVG = "http://www.w3.org/2000/svg";
/** The white margin a reader needs around the code, in modules (ISO/IEC 18004). */
const QUIET_ZONE = 4;

/**
 * `text` as a QR code (digits only: the code's numeric mode), drawn as one SVG path
 * of its dark modules, named by the element `labelId`: no markup parsed, nothing fetched.
 */
export function qrCode(text: string, labelId: string): SVGSVGElement {
  const modules = encodeQR(text, "raw", { ecc: "medium", border: 0 });
  const side = modules.length + 2 * QUIET_ZONE;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${side} ${side}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-labelledby", labelId);
  svg.setAttribute("shape-rendering", "crispEdges");
  const background = document.createElementNS(SVG, "rect");
  background.setAttribute("width", String(side));
  background.setAttribute("height", String(side));
  background.setAttribute("fill", "#fff");
  const path = document.createElementNS(SVG, "path");
  const cells: string[] = [];
  modules.forEach((row, y) => row.forEach((dark, x) => dark && cells.push(`M${x + QUIET_ZONE} ${y + QUIET_ZONE}h1v1h-1z`)));
  path.setAttribute("d", cells.join(""));
  path.setAttribute("fill", "#000");
  svg.append(background, path);
  return svg;
}
