/**
 * Renders docs/hooks.md from HOOK_DOCS (core/hooks.ts) and the source of every context type: each hook's
 * kind, when it fires, what a tap may do, and the fields of its argument with their types and comments,
 * read from the TypeScript sources with the compiler API. The hook reference so cannot drift from the code;
 * `node dist/scripts/hook-reference.js` writes it and test/contract/docs.test.ts fails when it is stale.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { HOOK_DOCS } from "../core/hooks.js";
import { PACKAGE_ROOT } from "../core/paths.js";

const TAP: Record<string, string> = {
  sync: "tap",
  "sync-bail": "tap, return a verdict or undefined",
  "sync-waterfall": "tap, return the value (changed or not)",
  "async-series": "tapPromise (or tap)",
};

/** Sources that declare the hooks' argument types. */
const SOURCES = ["core/hooks.ts", "core/run/records.ts", "core/plugin.ts", "core/engine/types.ts", "core/data/batch.ts"];

interface Field {
  name: string;
  type: string;
  optional: boolean;
  doc: string;
}

interface TypeDoc {
  doc: string;
  fields: Field[];
  /** Other types whose fields this one also has. */
  extends: string[];
  /** A type alias that is not an object type: its text. */
  text?: string;
}

function docOf(node: ts.Node): string {
  const jsDoc = (node as { jsDoc?: ts.JSDoc[] }).jsDoc;
  const text = jsDoc?.map((d) => (typeof d.comment === "string" ? d.comment : ts.getTextOfJSDocComment(d.comment) ?? "")).join(" ") ?? "";
  return text.replace(/\s+/g, " ").trim();
}

function membersOf(members: ts.NodeArray<ts.TypeElement>, sf: ts.SourceFile): Field[] {
  const out: Field[] = [];
  for (const m of members) {
    if (ts.isIndexSignatureDeclaration(m)) {
      out.push({ name: `[${m.parameters.map((p) => p.getText(sf)).join(", ")}]`, type: m.type.getText(sf), optional: false, doc: docOf(m) });
      continue;
    }
    if (!ts.isPropertySignature(m) && !ts.isMethodSignature(m)) continue;
    const type = ts.isMethodSignature(m) ? `(${m.parameters.map((p) => p.getText(sf)).join(", ")}) => ${m.type?.getText(sf) ?? "void"}` : (m.type?.getText(sf) ?? "unknown");
    out.push({ name: m.name.getText(sf), type: type.replace(/\s+/g, " "), optional: !!m.questionToken, doc: docOf(m) });
  }
  return out;
}

/** Every interface and type alias of the sources, by name. */
export function readTypes(root = PACKAGE_ROOT): Map<string, TypeDoc> {
  const program = ts.createProgram(SOURCES.map((f) => join(root, f)), { allowJs: false, noEmit: true });
  const types = new Map<string, TypeDoc>();
  for (const file of SOURCES) {
    const sf = program.getSourceFile(join(root, file))!;
    sf.forEachChild((node) => {
      if (ts.isInterfaceDeclaration(node)) {
        const ext = node.heritageClauses?.flatMap((h) => h.types.map((t) => t.getText(sf))) ?? [];
        types.set(node.name.text, { doc: docOf(node), fields: membersOf(node.members, sf), extends: ext });
      } else if (ts.isTypeAliasDeclaration(node)) {
        const t = node.type;
        if (ts.isTypeLiteralNode(t)) types.set(node.name.text, { doc: docOf(node), fields: membersOf(t.members, sf), extends: [] });
        else if (ts.isIntersectionTypeNode(t)) {
          const literal = t.types.filter(ts.isTypeLiteralNode).flatMap((l) => membersOf(l.members, sf));
          types.set(node.name.text, { doc: docOf(node), fields: literal, extends: t.types.filter((x) => !ts.isTypeLiteralNode(x)).map((x) => x.getText(sf)) });
        } else types.set(node.name.text, { doc: docOf(node), fields: [], extends: [], text: t.getText(sf).replace(/\s+/g, " ") });
      }
    });
  }
  return types;
}

const cell = (s: string) => s.replace(/\|/g, "\\|");

function fieldsTable(name: string, types: Map<string, TypeDoc>, seen = new Set<string>()): string[] {
  const t = types.get(name);
  if (!t || seen.has(name)) return [];
  seen.add(name);
  const lines: string[] = [];
  if (t.text) lines.push(`\`${name}\` = \`${cell(t.text)}\``, "");
  if (t.fields.length) {
    lines.push("| field | type | |", "|---|---|---|");
    for (const f of t.fields) lines.push(`| \`${f.name}${f.optional ? "?" : ""}\` | \`${cell(f.type)}\` | ${cell(f.doc)} |`);
    lines.push("");
  }
  for (const e of t.extends) {
    const base = e.replace(/<.*$/, "");
    if (types.has(base)) lines.push(`Also every field of \`${e}\`:`, "", ...fieldsTable(base, types, seen));
    else lines.push(`Also every field of \`${e}\`.`, "");
  }
  return lines;
}

export function renderHookReference(root = PACKAGE_ROOT): string {
  const types = readTypes(root);
  const lines = [
    "# Hook reference",
    "",
    "Generated from `HOOK_DOCS` in `core/hooks.ts` and the context types' sources by `npm run docs`; do not edit by hand.",
    'Every hook takes one context object. Tap with your plugin\'s name: `trainer.hooks.stepEnd.tap("my-plugin", (ctx) => ...)`.',
    "Types to import from `mtx-harness`: `MtxPlugin`, `PluginDefinition`, `TrainerApi`, the contexts below, and the verdicts",
    "`SkipStepVerdict` (what shouldSkipStep may return) and `ShouldHaltVerdict` (shouldHalt: rollback or halt; a skip there is a type error).",
    "",
    "## Order within a step",
    "",
    "`prepareStep` -> `mixtureWeights` -> `transformBatch` -> `learningRate` -> `stepStart` -> `transformLoss` -> (forward and backward) ->",
    "`afterBackward` -> `shouldSkipStep` -> (update) -> `stepEnd` -> (off-loop results due at this step land) -> `shouldHalt` ->",
    "`verdict` (after any verdict) -> `evalStart`/`evalEnd` (on evaluation steps) -> `checkpointSaved` (on checkpoint steps).",
    "Evaluation comes after `shouldHalt`: a plugin acting on a held-out result does so in the next step's `shouldHalt`.",
    "",
    "| hook | kind | how to tap | argument | when it fires |",
    "|---|---|---|---|---|",
  ];
  for (const [name, doc] of Object.entries(HOOK_DOCS)) lines.push(`| [\`${name}\`](#${name.toLowerCase()}) | ${doc.kind} | ${TAP[doc.kind]} | \`${doc.argument}\` | ${doc.when} |`);
  lines.push("");
  for (const [name, doc] of Object.entries(HOOK_DOCS)) {
    lines.push(`## ${name}`, "", `${doc.kind}: ${TAP[doc.kind]}. ${doc.when}`, "", doc.contract, "", `Argument \`${doc.argument}\`${types.get(doc.argument)?.doc ? `: ${types.get(doc.argument)!.doc}` : ""}`, "");
    lines.push(...fieldsTable(doc.argument, types));
  }
  return lines.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n";
}

export const HOOK_REFERENCE_PATH = join(PACKAGE_ROOT, "docs", "hooks.md");

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(HOOK_REFERENCE_PATH, renderHookReference());
  console.log(`wrote ${HOOK_REFERENCE_PATH}`);
}
