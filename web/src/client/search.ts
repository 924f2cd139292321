/**
 * Search over the user's documents without the server reading them: the personal index
 * (protocol/search.ts, Mitra) kept by the worker at send and at reading time, as the
 * Python SDK's client/search.py keeps it (docs/PROTOCOL.md section 18).
 *
 * The worker derives every label, holds the counters (sealed on the server so that the
 * user's other devices share them) and opens the values; the server stores and answers
 * opaque bytes.
 */

import { toBase64Url } from "../protocol/bytes.js";
import { ProtocolError } from "../protocol/errors.js";
import * as mitra from "../protocol/search.js";
import { type DocumentFacts, documentKeywords, fhirResourceText, queryTerms } from "../protocol/search_text.js";
import { ApiError } from "./http.js";
import { type Session, exchangeRefused } from "./session.js";
import { Wire } from "./wire.js";

/** Keywords one document is indexed under (protocol/search.py MAX_DOCUMENT_KEYWORDS). */
export const MAX_DOCUMENT_KEYWORDS = 20_000;
/** Labels asked in one lookup (MAX_LOOKUP_LABELS). */
export const MAX_LOOKUP_LABELS = 50_000;
/** Keyword lists read in one request (MAX_DOCUMENTS_PER_REQUEST). */
export const MAX_DOCUMENTS_PER_REQUEST = 500;
/** Bytes of a plain-text document read for indexing (the rest is not indexed). */
export const MAX_INDEXED_TEXT_BYTES = 2 * 1024 * 1024;
/** Media types whose bytes are indexed as text. */
export const TEXT_MEDIA_TYPES: readonly string[] = ["text/plain", "text/markdown", "text/csv"];
/** PDF: its text is read by pdf.js in the page (app/pdf_viewer.ts), given to the worker. */
export const PDF_MEDIA_TYPE = "application/pdf";
/** JSON holding a FHIR resource (one with a `resourceType`): its text is indexed. */
export const FHIR_MEDIA_TYPES: readonly string[] = ["application/fhir+json", "application/json"];
/** Characters of a search (a few words, names, dates). */
export const MAX_QUERY_CHARS = 200;
const UPDATES_PATH = "/search/updates";
const LOOKUP_PATH = "/search/lookup";
const ATTEMPTS = 3;

export class SearchIndex {
  /** The highest state version this object has read or written: a server that later
   * serves an older one (whose counters would be used again, linking new entries to old
   * searches) is refused. */
  private seenVersion = 0n;

  constructor(
    private readonly session: Session,
    private readonly index: () => Promise<{ id: string; keys: mitra.IndexKeys }>,
  ) {}

  /** Makes the index, refused as missing (404) on the first use of the account. */
  private async created(error: unknown, id: string): Promise<void> {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
    // Starting again from no counters would reuse every label.
    if (this.seenVersion > 0n) throw exchangeRefused("the server no longer finds a search index it served before");
    await this.session.call("POST", "/search/indexes", { json: { id } });
  }

  private async state(id: string, keys: mitra.IndexKeys): Promise<{ version: bigint; counters: mitra.Counters }> {
    let response: Response;
    try {
      response = await this.session.call("GET", `/search/indexes/${id}/state`);
    } catch (error) {
      await this.created(error, id);
      return { version: 0n, counters: new mitra.Counters() };
    }
    const wire = new Wire("exchange_refused", "the search state");
    const body = wire.object(await response.json().catch(() => null));
    const version = BigInt(wire.integer(body, "version"));
    if (version < this.seenVersion) throw exchangeRefused("the server serves an older state of your search index than it did before");
    const sealed = wire.optionalBytes(body, "state");
    if (sealed === null) {
      if (version !== 0n) throw exchangeRefused("the server withholds the search index's state");
      return { version, counters: new mitra.Counters() };
    }
    const counters = await mitra.openState(keys, id, version, sealed);
    this.seenVersion = version;
    return { version, counters };
  }

  /** Entries made from the current counters, stored with the new state: redone from a
   * fresh state when another device updated the index meanwhile (409). */
  private async update(
    build: (counters: mitra.Counters, keys: mitra.IndexKeys) => [Uint8Array, Uint8Array][],
    put: { label: Uint8Array; keywords: Uint8Array }[] = [],
    remove: Uint8Array[] = [],
  ): Promise<void> {
    const { id, keys } = await this.index();
    for (let attempt = 1; ; attempt++) {
      const { version, counters } = await this.state(id, keys);
      const entries = build(counters, keys);
      const json = {
        index_id: id,
        previous_version: Number(version),
        state: toBase64Url(await mitra.sealState(keys, id, version + 1n, counters)),
        entries: entries.map(([label, value]) => ({ label: toBase64Url(label), value: toBase64Url(value) })),
        put_documents: put.map((d) => ({ label: toBase64Url(d.label), keywords: toBase64Url(d.keywords) })),
        remove_documents: remove.map(toBase64Url),
      };
      try {
        await this.session.call("POST", UPDATES_PATH, { json });
        this.seenVersion = version + 1n;
        return;
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 409 || attempt === ATTEMPTS) throw error;
      }
    }
  }

  /** The opened keyword list of each document, in order (null where the index holds
   * none), read in as few requests as the wire allows. A list that does not open under
   * its document's id (another document's, or altered) is refused. */
  private async keywordLists(documentIds: readonly string[]): Promise<(string[] | null)[]> {
    const { id, keys } = await this.index();
    const lists: (string[] | null)[] = [];
    const wire = new Wire("exchange_refused", "documents' keyword lists");
    for (let start = 0; start < documentIds.length; start += MAX_DOCUMENTS_PER_REQUEST) {
      const asked = documentIds.slice(start, start + MAX_DOCUMENTS_PER_REQUEST);
      const labels = asked.map((d) => toBase64Url(mitra.documentLabel(keys, d)));
      let response: Response;
      try {
        response = await this.session.call("POST", "/search/documents", { json: { index_id: id, labels } });
      } catch (error) {
        await this.created(error, id);
        return documentIds.map(() => null);
      }
      const served = wire.list(wire.object(await response.json().catch(() => null))["keywords"]);
      if (served.length !== asked.length) throw exchangeRefused("the server answered another number of keyword lists");
      for (const [at, documentId] of asked.entries()) {
        const sealed = wire.optionalBytes({ keywords: served[at] }, "keywords");
        lists.push(sealed === null ? null : await opened(keys, documentId, sealed));
      }
    }
    return lists;
  }

  private async indexedKeywords(documentId: string): Promise<string[] | null> {
    return (await this.keywordLists([documentId]))[0]!;
  }

  /** Indexes a document under its keywords, once: a document indexed already (at send,
   * or on another device) is not indexed again. The number of keywords. */
  async add(documentId: string, facts: DocumentFacts): Promise<number> {
    if ((await this.indexedKeywords(documentId)) !== null) return 0;
    const keywords = [...documentKeywords(facts, MAX_DOCUMENT_KEYWORDS)];
    if (keywords.length === 0) return 0;
    const { keys } = await this.index();
    const sealed = await mitra.sealKeywords(keys, documentId, keywords);
    // One update: the entries and the keyword list that lets them be deleted later are
    // stored together or not at all.
    await this.update(
      (counters) => keywords.map((w) => counters.update(keys, mitra.Op.Add, w, documentId)),
      [{ label: mitra.documentLabel(keys, documentId), keywords: sealed }],
    );
    return keywords.length;
  }

  /** Unindexes a document no longer readable: a deletion entry per keyword it was
   * indexed under (Mitra deletes by adding), and its keyword list removed. */
  async remove(documentId: string): Promise<number> {
    const keywords = await this.indexedKeywords(documentId);
    if (keywords === null) return 0;
    const { keys } = await this.index();
    await this.update(
      (counters) => keywords.map((w) => counters.update(keys, mitra.Op.Delete, w, documentId)),
      [],
      [mitra.documentLabel(keys, documentId)],
    );
    return keywords.length;
  }

  private async lookup(id: string, labels: Uint8Array[]): Promise<(Uint8Array | null)[]> {
    const values: (Uint8Array | null)[] = [];
    const wire = new Wire("exchange_refused", "search results");
    for (let start = 0; start < labels.length; start += MAX_LOOKUP_LABELS) {
      const asked = labels.slice(start, start + MAX_LOOKUP_LABELS);
      const body = wire.object(await this.session.json("POST", LOOKUP_PATH, wire, { json: { index_id: id, labels: asked.map(toBase64Url) } }));
      const answered = wire.list(body["values"]);
      if (answered.length !== asked.length) throw exchangeRefused("the server answered another number of search values");
      for (const value of answered) values.push(value === null ? null : wire.bytes({ value }, "value", mitra.VALUE_SIZE));
    }
    return values;
  }

  /** The documents matching every word of `query` (PROTOCOL 18.2), each with the number
   * of the query's keywords it holds. */
  async search(query: string): Promise<Map<string, number>> {
    const terms = queryTerms(query);
    if (terms.length === 0) return new Map();
    const { id, keys } = await this.index();
    const { counters } = await this.state(id, keys);
    const keywords = [...new Set(terms.flat())];
    const labels = keywords.map((w) => counters.searchLabels(keys, w));
    const values = labels.flat().length === 0 ? [] : await this.lookup(id, labels.flat());
    const found = new Map<string, Set<string>>();
    let at = 0;
    keywords.forEach((w, i) => {
      const count = labels[i]!.length;
      found.set(w, mitra.resolve(keys, w, values.slice(at, at + count)));
      at += count;
    });
    let candidates: Set<string> | null = null;
    for (const term of terms) {
      const matching = new Set(term.flatMap((w) => [...found.get(w)!]));
      const before: Set<string> | null = candidates;
      candidates = before === null ? matching : new Set([...before].filter((doc: string) => matching.has(doc)));
    }
    // The values are not authenticated (a server can XOR one into another document's
    // id): each result is kept only if its own sealed keyword list, bound to its id,
    // holds every term, and ranked by that list. A list gone (null) is a document
    // removed from the index.
    const ids = [...(candidates ?? [])].sort();
    const lists = await this.keywordLists(ids);
    const result = new Map<string, number>();
    ids.forEach((doc, i) => {
      const held = lists[i] === null ? null : mitra.termsHeld(terms, lists[i]!);
      if (held !== null) result.set(doc, held);
    });
    return result;
  }
}

async function opened(keys: mitra.IndexKeys, documentId: string, sealed: Uint8Array): Promise<string[]> {
  try {
    return await mitra.openKeywords(keys, documentId, sealed);
  } catch (error) {
    // Too short or not opening under this id: the server's doing, not this device's.
    if (error instanceof ProtocolError) {
      throw exchangeRefused("the server serves a keyword list that does not open under its document: another document's, or altered");
    }
    throw error;
  }
}

/** A sink that keeps a copy of the first `limit` bytes written to `sink` (the text of a
 * document being opened, to index it). */
export function copyingSink(sink: WritableStream<Uint8Array>, limit: number = MAX_INDEXED_TEXT_BYTES): { sink: WritableStream<Uint8Array>; copied: () => Uint8Array } {
  const pieces: Uint8Array[] = [];
  let kept = 0;
  const writer = sink.getWriter();
  const copying = new WritableStream<Uint8Array>({
    write: (chunk) => {
      if (kept < limit) {
        const piece = chunk.slice(0, limit - kept);
        pieces.push(piece);
        kept += piece.length;
      }
      return writer.write(chunk);
    },
    close: () => writer.close(),
    abort: (reason) => writer.abort(reason),
  });
  return { sink: copying, copied: () => joined(pieces, kept) };
}

/** `source`, keeping a copy of its first `limit` bytes as they are read (the text of a
 * document being sent). */
export function copyingSource(source: ReadableStream<Uint8Array>, limit: number = MAX_INDEXED_TEXT_BYTES): { source: ReadableStream<Uint8Array>; copied: () => Uint8Array } {
  const pieces: Uint8Array[] = [];
  let kept = 0;
  const reader = source.getReader();
  const copying = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      const { done, value } = await reader.read();
      if (done) {
        controller.close();
        return;
      }
      if (kept < limit) {
        const piece = value.slice(0, limit - kept);
        pieces.push(piece);
        kept += piece.length;
      }
      controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { source: copying, copied: () => joined(pieces, kept) };
}

function joined(pieces: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/** Text the page gives for a PDF, cut to the characters the index reads of any text. */
export function boundedText(text: string): string {
  return typeof text === "string" ? text.slice(0, MAX_INDEXED_TEXT_BYTES) : "";
}

/** Bytes of a document its indexing reads (``textOf``), for its media type: one past
 *  the limit, so that a FHIR resource too long to be read whole is seen to be. */
export function indexedBytes(mediaType: string): number {
  return TEXT_MEDIA_TYPES.includes(mediaType) || FHIR_MEDIA_TYPES.includes(mediaType) ? MAX_INDEXED_TEXT_BYTES + 1 : 0;
}

/** The text of a document's first bytes to index, for its media type (client/search.py
 *  text_of): plain text, or a FHIR resource's (`fhirText`). PDF text is not read here. */
export function textOf(bytes: Uint8Array, mediaType: string): string {
  if (TEXT_MEDIA_TYPES.includes(mediaType)) return new TextDecoder("utf-8").decode(bytes.subarray(0, MAX_INDEXED_TEXT_BYTES));
  if (!FHIR_MEDIA_TYPES.includes(mediaType) || bytes.length > MAX_INDEXED_TEXT_BYTES) return "";
  return fhirResourceText(bytes);
}
