/** Text normalisation for exact deduplication: NFKC, lower case, whitespace collapsed. */
import { createHash } from "node:crypto";

export function normalizeForDedup(text: string): string {
  return text.normalize("NFKC").toLowerCase().replace(/\s+/g, " ").trim();
}

export function contentHash(text: string): string {
  return createHash("sha256").update(normalizeForDedup(text)).digest("hex");
}
