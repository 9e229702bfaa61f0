/**
 * Renders docs/hooks.md from HOOK_DOCS (core/hooks.ts), so the hook reference cannot drift from the code.
 * `node dist/scripts/hook-reference.js` writes it; test/contract/docs.test.ts fails when it is stale.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HOOK_DOCS } from "../core/hooks.js";
import { PACKAGE_ROOT } from "../core/paths.js";

const TAP: Record<string, string> = {
  sync: "tap",
  "sync-bail": "tap (return a Verdict or undefined)",
  "sync-waterfall": "tap (return the value, changed or not)",
  "async-series": "tapPromise (or tap)",
};

export function renderHookReference(): string {
  const lines = [
    "# Hook reference",
    "",
    "Generated from `HOOK_DOCS` in `core/hooks.ts` by `npm run docs`; do not edit by hand.",
    "Every hook takes one context object. Tap with your plugin's name: `trainer.hooks.stepEnd.tap(\"my-plugin\", (ctx) => ...)`.",
    "",
    "| hook | kind | how to tap | when it fires | argument and contract |",
    "|---|---|---|---|---|",
  ];
  for (const [name, doc] of Object.entries(HOOK_DOCS)) lines.push(`| \`${name}\` | ${doc.kind} | ${TAP[doc.kind]} | ${doc.when} | ${doc.contract} |`);
  return lines.join("\n") + "\n";
}

export const HOOK_REFERENCE_PATH = join(PACKAGE_ROOT, "docs", "hooks.md");

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(HOOK_REFERENCE_PATH, renderHookReference());
  console.log(`wrote ${HOOK_REFERENCE_PATH}`);
}
