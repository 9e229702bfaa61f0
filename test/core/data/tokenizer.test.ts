import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadSotu } from "../../../core/data/sources/general.js";
import { Tokenizer } from "../../../core/data/tokenizer/Tokenizer.js";
import { trainBpe } from "../../../core/data/tokenizer/trainBpe.js";
import { TOKENIZER } from "../../helpers/cli.js";

const corpus = loadSotu().slice(0, 12).map((d) => d.text);
const SAMPLES = [
  "Plain ASCII, with punctuation: (a) [b] {c}!",
  "Zürich, naïve café, Ærøskøbing — “quotes” and ‘single’ ones…",
  "日本語のテキストと中文混合，한국어도 있습니다。",
  "emoji 🙂👍🏽 and ZWJ 👨‍👩‍👧 sequences, flags 🇫🇷",
  "combining: e\u0301 a\u0308; RTL: שלום مرحبا",
  "whitespace\r\n\ttabs  double  spaces   \n\n\nand trailing   ",
  "\u0000 control \u0007 chars \u007f and U+FFFD \ufffd",
  "",
];

describe("byte-level BPE tokenizer", () => {
  const json = trainBpe(corpus, { vocabSize: 400 });
  const tok = new Tokenizer(json);

  it("trains deterministically to the requested size, special token first", () => {
    expect(JSON.stringify(trainBpe(corpus, { vocabSize: 400 }))).toBe(JSON.stringify(json));
    expect(tok.vocabSize).toBe(400);
    expect(tok.eosId).toBe(0);
    expect(json.model.merges.length).toBe(400 - 257);
    expect(json.model.merges[0]).toMatch(/^\S+ \S+$/);
  });

  it("round-trips any UTF-8 text exactly, and counts its bytes", () => {
    for (const text of SAMPLES) {
      const ids = tok.encode(text);
      expect(tok.decode(ids)).toBe(text);
      expect(tok.countBytes(ids)).toBe(Buffer.byteLength(text, "utf8"));
    }
  });

  it("compresses the text it was trained on (fewer tokens than bytes)", () => {
    const ids = tok.encode(corpus[0]!);
    expect(ids.length).toBeLessThan(Buffer.byteLength(corpus[0]!) / 2);
  });

  it("the bundled tokenizer has 2048 tokens and round-trips non-ASCII text", () => {
    expect(existsSync(TOKENIZER)).toBe(true);
    const bundled = Tokenizer.load(TOKENIZER);
    expect(bundled.vocabSize).toBe(2048);
    for (const text of SAMPLES) expect(bundled.decode(bundled.encode(text))).toBe(text);
  });

  it("rejects a file that is not a BPE tokenizer.json with the path in the message", () => {
    expect(() => Tokenizer.load("/nonexistent/tokenizer.json")).toThrow(/cannot read tokenizer '\/nonexistent\/tokenizer.json'/);
  });
});
