/**
 * A signed-in session whose server is the test: it answers each request with
 * `answer(request)` and records what the client sent.
 */

export interface Sent {
  method: string;
  path: string;
  options: { json?: unknown; params?: unknown };
}

/**
 * `json` answers the value, `call` a raw answer of its text; `extra` adds what else the
 * code under test asks of its session (its account, for instance). Typed as the
 * session the caller's code takes (`S`).
 */
export function sessionAnswering<S>(answer: (sent: Sent) => unknown, extra: Record<string, unknown> = {}): { session: S; sent: Sent[] } {
  const sent: Sent[] = [];
  const session = {
    json: async (method: string, path: string, _wire: unknown, options: Sent["options"] = {}) => {
      const request = { method, path, options };
      sent.push(request);
      return answer(request);
    },
    call: async (method: string, path: string, options: Sent["options"] = {}) => {
      sent.push({ method, path, options });
      return new Response(String(answer({ method, path, options })));
    },
    ...extra,
  };
  return { session: session as unknown as S, sent };
}
