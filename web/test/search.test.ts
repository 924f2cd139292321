import assert from "node:assert/strict";
import { test } from "node:test";

import { fromHex, toHex } from "../src/protocol/bytes.js";
import {
  Counters,
  Op,
  decodeCounters,
  deriveIndexKeys,
  documentLabel,
  encodeCounters,
  label,
  openKeywords,
  openState,
  openValue,
  personalIndex,
  resolve,
  sealKeywords,
  sealState,
  value,
} from "../src/protocol/search.js";
import {
  compareUtf8,
  documentKeywords,
  fhirResourceText,
  fhirText,
  nameKeywords,
  queryTerms,
  stem,
  textKeywords,
} from "../src/protocol/search_text.js";
import FrenchStemmer from "../src/protocol/snowball/french-stemmer.js";
import { loadVectors, refusal } from "./vectors.js";

const vectors = loadVectors("search.json");
const analyser = vectors.analyser;
const scheme = vectors.scheme;
const sorted = (words: Iterable<string>): string[] => [...words].sort(compareUtf8);

test("search.json: the French Snowball stemmer stems every word as Python's snowballstemmer 3.1.1", () => {
  assert.ok(analyser.stems.length > 500);
  const stemmer = new FrenchStemmer();
  const wrong = analyser.stems.filter((v: any) => stemmer.stemWord(v.word) !== v.stem);
  assert.deepEqual(wrong, []);
});

test("search.json: text, name and query keywords are the Python analyser's", () => {
  for (const v of analyser.text) assert.deepEqual(sorted(textKeywords(v.input)), v.keywords, v.input);
  for (const v of analyser.name) assert.deepEqual(sorted(nameKeywords(v.input)), v.keywords, v.input);
  for (const v of analyser.query) assert.deepEqual(queryTerms(v.input), v.terms, v.input);
});

test("search.json: a FHIR resource's text gives the SDK's keywords", () => {
  assert.ok(analyser.fhir.length >= 3);
  for (const v of analyser.fhir) assert.deepEqual(sorted(textKeywords(fhirText(v.resource))), v.keywords);
});

test("search.json: a file is read as a FHIR resource, or refused, as the SDK reads it", () => {
  assert.ok(analyser.fhir_files.length >= 10);
  for (const v of analyser.fhir_files) {
    assert.deepEqual(sorted(textKeywords(fhirResourceText(fromHex(v.hex)))), v.keywords, v.hex.slice(0, 80));
  }
});

test("search.json: a document's facts give the SDK's keywords", () => {
  for (const v of analyser.documents) {
    const f = v.facts;
    const facts = {
      title: f.title,
      filename: f.filename,
      mediaType: f.media_type,
      patient: f.patient,
      author: f.author,
      text: f.text,
      ...(f.day === null ? {} : { day: f.day }),
    };
    assert.deepEqual(sorted(documentKeywords(facts, v.limit)), v.keywords, f.filename);
  }
});

test("a document's keywords past the limit keep every described keyword and the first of the text", () => {
  const facts = { title: "IRM lombaire", patient: "Petit", text: "zèbre abdomen lombalgie cheville genou" };
  const all = documentKeywords(facts, 1000);
  const described = documentKeywords({ title: facts.title, patient: facts.patient }, 1000);
  const limited = documentKeywords(facts, described.size + 2);
  assert.equal(limited.size, described.size + 2);
  for (const w of described) assert.ok(limited.has(w), w);
  const fromText = sorted([...all].filter((w) => !described.has(w)));
  assert.deepEqual(sorted([...limited].filter((w) => !described.has(w))), fromText.slice(0, 2));
  assert.deepEqual(documentKeywords(facts, 0), described);
});

test("a name prefix and a typed name find the name; two letters do not", () => {
  const keywords = nameKeywords("Petit");
  for (const query of ["pet", "Petit", "PETIT", "pÉtit"]) {
    assert.ok(queryTerms(query).every((term) => term.some((w) => keywords.has(w))), query);
  }
  assert.ok(!queryTerms("pe").every((term) => term.some((w) => keywords.has(w))));
  assert.equal(stem("1234"), "1234");
});

test("search.json: index keys, entries and the personal index are derived as in Python", async () => {
  const keys = await deriveIndexKeys(fromHex(scheme.index_key));
  assert.equal(toHex(keys.prf), scheme.prf_key);
  assert.equal(toHex(keys.state), scheme.state_key);
  assert.equal(toHex(keys.document), scheme.document_key);
  for (const v of scheme.entries) {
    const op = v.op === "add" ? Op.Add : Op.Delete;
    const counter = BigInt(v.counter);
    assert.equal(toHex(label(keys, v.keyword, counter)), v.label, v.keyword);
    assert.equal(toHex(value(keys, v.keyword, counter, op, v.document_id)), v.value, v.keyword);
    assert.deepEqual(openValue(keys, v.keyword, counter, fromHex(v.value)), { op, documentId: v.document_id });
  }
  const personal = await personalIndex(fromHex(scheme.personal_index.account_secret));
  assert.deepEqual([personal.id, toHex(personal.key)], [scheme.personal_index.index_id, scheme.personal_index.index_key]);
  await assert.rejects(deriveIndexKeys(new Uint8Array(31)));
});

test("search.json: the sealed state opens only for its index and version, and re-encodes byte for byte", async () => {
  const keys = await deriveIndexKeys(fromHex(scheme.index_key));
  const s = scheme.state;
  const counters = await openState(keys, s.index_id, BigInt(s.version), fromHex(s.sealed));
  assert.deepEqual(Object.fromEntries([...counters.entries()].map(([w, c]) => [w, Number(c)])), s.counters);
  assert.equal(toHex(encodeCounters(counters)), s.encoded);
  assert.equal(await refusal(() => openState(keys, s.index_id, BigInt(s.version + 1), fromHex(s.sealed))), "decryption_failed");
  const other = "00000000-0000-0000-0000-000000000001";
  assert.equal(await refusal(() => openState(keys, other, BigInt(s.version), fromHex(s.sealed))), "decryption_failed");
  const resealed = await sealState(keys, s.index_id, 8n, counters);
  assert.equal(toHex(encodeCounters(await openState(keys, s.index_id, 8n, resealed))), s.encoded);
  // Out of order, a zero counter, trailing bytes: refused.
  const encoded = fromHex(s.encoded);
  assert.equal(await refusal(() => decodeCounters(new Uint8Array([...encoded, 0]))), "malformed");
  const zero = new Counters([["a", 1n]]);
  const zeroed = encodeCounters(zero);
  zeroed[zeroed.length - 1] = 0;
  assert.equal(await refusal(() => decodeCounters(zeroed)), "malformed");
  const swapped = encodeCounters(new Counters([["b", 1n], ["a", 1n]]));
  swapped.set(fromHex("0162"), 5);
  swapped.set(fromHex("0161"), 15);
  assert.equal(await refusal(() => decodeCounters(swapped)), "malformed");
});

test("search.json: the document keyword list opens, and its label is Python's", async () => {
  const keys = await deriveIndexKeys(fromHex(scheme.index_key));
  const d = scheme.document;
  assert.equal(toHex(documentLabel(keys, d.document_id)), d.label);
  assert.deepEqual(await openKeywords(keys, d.document_id, fromHex(d.sealed)), d.keywords);
  const sealed = await sealKeywords(keys, d.document_id, ["pet", "lombalg", "irm", "pet"]);
  assert.deepEqual(await openKeywords(keys, d.document_id, sealed), d.keywords);
  const other = "00000000-0000-0000-0000-000000000002";
  assert.equal(await refusal(() => openKeywords(keys, other, fromHex(d.sealed))), "decryption_failed");
});

test("resolve cancels deletions, skips removed entries, and refuses a value moved to another label", async () => {
  const keys = await deriveIndexKeys(fromHex(scheme.index_key));
  const counters = new Counters();
  const a = "00000000-0000-0000-0000-00000000000a";
  const b = "00000000-0000-0000-0000-00000000000b";
  const store = new Map<string, Uint8Array>();
  for (const [op, id] of [[Op.Add, a], [Op.Add, b], [Op.Delete, a], [Op.Add, a], [Op.Delete, b]] as const) {
    const [l, v] = counters.update(keys, op, "irm", id);
    store.set(toHex(l), v);
  }
  const labels = counters.searchLabels(keys, "irm");
  assert.equal(labels.length, 5);
  assert.deepEqual(resolve(keys, "irm", labels.map((l) => store.get(toHex(l)) ?? null)), new Set([a]));
  // The server drops the last addition of a: a is gone, b was deleted.
  const dropped = labels.map((l, i) => (i === 3 ? null : store.get(toHex(l))!));
  assert.deepEqual(resolve(keys, "irm", dropped), new Set());
  // A value moved from another keyword's label opens to noise: refused or an unknown id.
  const [, moved] = counters.update(keys, Op.Add, "lombalg", a);
  const outcome = await refusal(() => resolve(keys, "irm", [moved]));
  if (outcome === null) assert.ok(!resolve(keys, "irm", [moved]).has(a));
  else assert.equal(outcome, "malformed");
});
