/**
 * A QR code drawn as one SVG path of its dark modules: no markup is parsed (the page
 * runs under Trusted Types) and no image comes from the server, whose own QR code
 * could carry another value than the one shown as text (an authenticator key, a
 * safety number).
 */

import encodeQR from "qr";

const SVG = "http://www.w3.org/2000/svg";
/** The white margin a reader needs around the code, in modules (ISO/IEC 18004). */
const QUIET_ZONE = 4;

/** `text` as a QR code, named by `label` or by the element whose id is `labelledBy`. */
export function qrCode(text: string, name: { label: string } | { labelledBy: string }): SVGSVGElement {
  const modules = encodeQR(text, "raw", { ecc: "medium", border: QUIET_ZONE });
  const size = modules.length;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("role", "img");
  if ("label" in name) svg.setAttribute("aria-label", name.label);
  else svg.setAttribute("aria-labelledby", name.labelledBy);
  svg.setAttribute("class", "qr");
  svg.setAttribute("shape-rendering", "crispEdges");
  const background = document.createElementNS(SVG, "rect");
  background.setAttribute("width", String(size));
  background.setAttribute("height", String(size));
  background.setAttribute("fill", "#fff");
  const dark: string[] = [];
  modules.forEach((row, y) => row.forEach((on, x) => on && dark.push(`M${x} ${y}h1v1h-1z`)));
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", dark.join(""));
  path.setAttribute("fill", "#000");
  svg.append(background, path);
  return svg;
}
