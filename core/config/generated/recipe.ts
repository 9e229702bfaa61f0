/* Generated from the JSON Schema by scripts/gen-types.mjs (json-schema-to-typescript). Do not edit: run `npm run gen:types`. */

export type Source =
  | string
  | {
      name: string;
      type?: "builtin" | "text" | "jsonl";
      /**
       * text/jsonl: a file or a directory.
       */
      path?: string;
      /**
       * jsonl: field with the text (dotted path for nested).
       */
      textField?: string;
      /**
       * jsonl: field with a stable document id.
       */
      idField?: string;
      /**
       * text: file endings read from a directory (default .txt, .md).
       */
      extensions?: string[];
      /**
       * Synthetic sources: how many items to generate.
       */
      count?: number;
    };

/**
 * A data mixture for mid-training: source groups with weights, quality steps and curricula.
 */
export interface MixtureRecipe {
  $schema?: string;
  /**
   * Shown in reports.
   */
  name?: string;
  /**
   * Seed of the synthetic generators (fixed across runs so held-out probe items stay the same).
   */
  syntheticSeed?: number;
  /**
   * Share of whole documents of every source kept out of training, by a hash of the document id.
   */
  heldoutShare?: number;
  /**
   * @minItems 1
   */
  groups: [Group, ...Group[]];
  quality?: Quality;
}
export interface Group {
  name: string;
  /**
   * Share of training sequences; weights are normalised to sum to 1.
   */
  weight: number;
  /**
   * General-data replay (held against forgetting); its share is checked against 5-30%.
   */
  replay?: boolean;
  /**
   * @minItems 1
   */
  sources: [Source, ...Source[]];
  curriculum?: Curriculum;
  filters?: Filters;
}
export interface Curriculum {
  /**
   * Document difficulty: the generator's difficulty, or length in characters.
   */
  key?: "difficulty" | "length";
  order?: "easy-to-hard" | "hard-to-easy";
  /**
   * Difficulty buckets; documents are shuffled within a bucket and buckets run in order each epoch.
   */
  buckets?: number;
}
export interface Filters {
  minWords?: number;
  minChars?: number;
  repeatMaxPeriod?: number;
  repeatMinCount?: number;
  minAlphaRatio?: number;
  maxDigitRatio?: number;
}
export interface Quality {
  exactDedup?: boolean;
  /**
   * MinHash LSH, 5-gram shingles, 14 bands x 8 rows.
   */
  nearDedup?: boolean;
  nearDedupThreshold?: number;
  /**
   * Drop training documents sharing an item-specific 8-gram with a probe or eval item.
   */
  decontaminate?: boolean;
  filters?: Filters;
}
