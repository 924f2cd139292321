/**
 * The breach notices a patient was sent (GDPR art. 34, `GET /incident-notices`), as
 * client/incidents.py's `my_notices`: the practice's clear-language text, shown as
 * text, never as markup.
 */

import type { Session } from "./session.js";
import { Wire } from "./wire.js";

export interface BreachNotice {
  id: string;
  sentAt: string;
  text: string;
}

export async function myBreachNotices(session: Session): Promise<BreachNotice[]> {
  const wire = new Wire("exchange_refused", "your breach notices");
  return wire.list(await session.json("GET", "/incident-notices", wire)).map((raw) => {
    const notice = wire.object(raw);
    return { id: wire.uuid(notice, "id"), sentAt: wire.string(notice, "sent_at"), text: wire.string(notice, "text") };
  });
}
