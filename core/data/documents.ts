/** A document from some source: the unit of deduplication, held-out splits and provenance. */
export interface Document {
  /** Stable id, `<source>/<name>`. */
  id: string;
  /** Source label carried into every sequence built from the document. */
  source: string;
  text: string;
  /** Optional facts about the document: a difficulty key for curricula, a known answer, an outcome. */
  meta?: { difficulty?: number; answer?: number | string; outcome?: "success" | "failure"; [key: string]: unknown };
}
