// Generates core/config/generated/*.ts from the JSON Schemas (the schemas are the source of truth).
// `node scripts/gen-types.mjs --check` exits 1 when a generated file is stale.
import { compileFromFile } from "json-schema-to-typescript";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const targets = [
  ["core/config/schema/run.schema.json", "core/config/generated/run.ts"],
  ["core/config/schema/recipe.schema.json", "core/config/generated/recipe.ts"],
];
const banner = "/* Generated from the JSON Schema by scripts/gen-types.mjs (json-schema-to-typescript). Do not edit: run `npm run gen:types`. */";

export async function generate(schemaPath) {
  return compileFromFile(join(root, schemaPath), {
    bannerComment: banner,
    cwd: join(root, dirname(schemaPath)),
    style: { singleQuote: false, printWidth: 120 },
    additionalProperties: false,
  });
}

const check = process.argv.includes("--check");
let stale = 0;
for (const [schema, out] of targets) {
  const ts = await generate(schema);
  const path = join(root, out);
  if (check) {
    if (!existsSync(path) || readFileSync(path, "utf8") !== ts) {
      console.error(`${out} is stale: run 'npm run gen:types'`);
      stale++;
    }
  } else {
    writeFileSync(path, ts);
    console.log(`wrote ${out}`);
  }
}
process.exit(stale ? 1 : 0);
