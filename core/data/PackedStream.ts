/**
 * Packs documents into fixed-length training sequences: documents in a seeded order per epoch, each
 * followed by an end-of-text token, concatenated and cut into windows of T+1 tokens with stride T
 * (inputs = window[0..T), targets = window[1..T]). Tokenization is lazy (one document at a time), and the
 * position is a small cursor {epoch, doc, offset} that checkpoints store, so a resumed run neither repeats
 * nor skips a sequence.
 */
import { DataError } from "../errors.js";
import { createRng, permutation } from "../rng.js";
import { assembleBatch, type Batch, type BatchSource, type DataCursor, type SampleInfo } from "./batch.js";
import type { Document } from "./documents.js";
import type { Tokenizer } from "./tokenizer/Tokenizer.js";

export interface PackedCursor extends DataCursor {
  epoch: number;
  /** Index into the epoch's document order. */
  doc: number;
  /** Token offset inside that document's token stream (document tokens + EOS). */
  offset: number;
  /** Sequences emitted so far. */
  emitted: number;
}

export interface PackedStreamOptions {
  documents: Document[];
  tokenizer: Tokenizer;
  seqLen: number;
  batchSize: number;
  seed: number;
  /** Shuffle document order per epoch (default true); held-out sets keep their order. */
  shuffle?: boolean;
  /** Label of the order's random stream (default "data"), so several streams of one run differ. */
  label?: string;
  /** Group name recorded in each sequence's provenance. */
  group?: string;
}

export class PackedStream implements BatchSource {
  private pos: PackedCursor = { epoch: 0, doc: 0, offset: 0, emitted: 0 };
  private order: number[] = [];
  private orderEpoch = -1;
  private cachedDoc = -1;
  private cachedTokens = new Int32Array(0);

  constructor(private readonly opts: PackedStreamOptions) {
    if (opts.documents.length === 0) throw new DataError("no documents to train on");
  }

  private docOrder(epoch: number): number[] {
    if (this.orderEpoch !== epoch) {
      const n = this.opts.documents.length;
      // The order depends only on (seed, label, epoch), so a cursor needs no RNG state.
      this.order = this.opts.shuffle === false ? Array.from({ length: n }, (_, i) => i) : permutation(n, createRng(this.opts.seed, `${this.opts.label ?? "data"}/epoch-${epoch}`));
      this.orderEpoch = epoch;
    }
    return this.order;
  }

  private tokensOf(docIndex: number): Int32Array {
    if (this.cachedDoc !== docIndex) {
      const ids = this.opts.tokenizer.encode(this.opts.documents[docIndex]!.text);
      const withEos = new Int32Array(ids.length + 1);
      withEos.set(ids);
      withEos[ids.length] = this.opts.tokenizer.eosId;
      this.cachedTokens = withEos;
      this.cachedDoc = docIndex;
    }
    return this.cachedTokens;
  }

  /** One sequence of T+1 tokens written into `window`, advancing the cursor by T tokens. */
  nextSequence(window: Int32Array): SampleInfo {
    const T = this.opts.seqLen;
    const start = { ...this.pos };
    const docs: string[] = [];
    const boundaries: number[] = [];
    const sourceTokens = new Map<string, number>();
    let filled = 0;
    let { epoch, doc, offset } = this.pos;
    // After T tokens the cursor stops (stride T); the last token is read ahead without advancing.
    let cursorAt: { epoch: number; doc: number; offset: number } | undefined;
    while (filled < T + 1) {
      const order = this.docOrder(epoch);
      const docIndex = order[doc]!;
      const d = this.opts.documents[docIndex]!;
      const tokens = this.tokensOf(docIndex);
      if (offset === 0 && filled > 0) boundaries.push(filled);
      if (docs[docs.length - 1] !== d.id) docs.push(d.id);
      const take = Math.min(tokens.length - offset, T + 1 - filled);
      window.set(tokens.subarray(offset, offset + take), filled);
      const counted = Math.min(take, Math.max(0, T - filled));
      sourceTokens.set(d.source, (sourceTokens.get(d.source) ?? 0) + counted);
      if (!cursorAt && filled + take >= T) cursorAt = { epoch, doc, offset: offset + (T - filled) };
      filled += take;
      offset += take;
      if (offset >= tokens.length) {
        offset = 0;
        doc++;
        if (doc >= this.opts.documents.length) {
          doc = 0;
          epoch++;
        }
      }
    }
    let c = cursorAt!;
    // Normalise a cursor that points at the end of a document to the start of the next one.
    const len = this.lengthAt(c.epoch, c.doc);
    if (c.offset >= len) c = c.doc + 1 >= this.opts.documents.length ? { epoch: c.epoch + 1, doc: 0, offset: 0 } : { epoch: c.epoch, doc: c.doc + 1, offset: 0 };
    this.pos = { ...c, emitted: this.pos.emitted + 1 };
    let source = "";
    let best = -1;
    for (const [s, n] of sourceTokens) if (n > best) [source, best] = [s, n];
    const first = this.opts.documents[this.docOrder(start.epoch)[start.doc]!]!;
    return { id: `e${start.epoch}:${first.id}@${start.offset}`, source, group: this.opts.group, documents: docs, boundaries };
  }

  private lengthAt(epoch: number, doc: number): number {
    return this.tokensOf(this.docOrder(epoch)[doc]!).length;
  }

  next(): Batch {
    return assembleBatch((w) => this.nextSequence(w), this.opts.batchSize, this.opts.seqLen);
  }

  cursor(): PackedCursor {
    return { ...this.pos };
  }

  restore(cursor: DataCursor): void {
    const c = cursor as PackedCursor;
    for (const k of ["epoch", "doc", "offset", "emitted"] as const) {
      if (!Number.isInteger(c[k]) || (c[k] as number) < 0) throw new DataError(`invalid data cursor: '${k}' is ${JSON.stringify(c[k])}`);
    }
    if (c.doc >= this.opts.documents.length) throw new DataError(`data cursor points at document ${c.doc} of ${this.opts.documents.length}: the data changed since the checkpoint`);
    this.pos = { epoch: c.epoch, doc: c.doc, offset: c.offset, emitted: c.emitted };
  }
}
