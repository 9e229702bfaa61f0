/** `mtx probes list|init`: the built-in probes with their params and metrics; a scaffold for a new probe. */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { ConfigError } from "../../core/errors.js";
import { PROBES } from "../../probes/index.js";
import { runCommand } from "../output.js";

interface ProbesArgs {
  action: "list" | "init";
  name?: string;
  dir?: string;
  json?: boolean;
}

function described() {
  return Object.values(PROBES).map((p) => ({ name: p.name, description: p.description, params: p.params ?? {}, metrics: p.metrics?.({}) ?? [] }));
}

export function listText(): string {
  return (
    described()
      .map((p) => [`${p.name}: ${p.description}`, `  metrics: ${p.metrics.join(", ")}`, ...Object.entries(p.params).map(([k, v]) => `  ${k}: ${v}`)].join("\n"))
      .join("\n\n") + "\n"
  );
}

function probeSource(name: string): string {
  return `// ${name}: an mtx probe (docs/probes.md has the contract). It scores cloze items by log-likelihood, as
// lm-evaluation-harness scores multiple choice: an item is right when the model finds the true ending more
// likely than the distractor. It reads the model only through tokenLoss, so it runs on any model source:
// an mtx checkpoint, hf:DIR, or an OpenAI-compatible endpoint (openai:URL).
const ITEMS = [
  { context: "The capital of France is", right: " Paris", wrong: " Berlin" },
  { context: "Water freezes at zero degrees", right: " Celsius", wrong: " tomorrow" },
  { context: "The sun rises in the", right: " east", wrong: " river" },
  { context: "Two plus two equals", right: " four", wrong: " green" },
  { context: "The President of the United States lives in the White", right: " House", wrong: " Mountain" },
  { context: "A week has seven", right: " days", wrong: " rivers" },
  { context: "The Congress shall have power to lay and collect", right: " taxes", wrong: " flowers" },
  { context: "She opened the door and walked into the", right: " room", wrong: " of" },
];

/** log p(ending | context) in nats, from the model's per-token cross-entropy. */
async function logProb(model, tokenizer, context, ending) {
  const head = Array.from(tokenizer.encode(context));
  const tail = Array.from(tokenizer.encode(ending));
  const ids = [...head, ...tail];
  const loss = await model.tokenLoss({ inputs: Int32Array.from(ids.slice(0, -1)), targets: Int32Array.from(ids.slice(1)), size: 1, seqLen: ids.length - 1 });
  let lp = 0;
  for (let i = head.length - 1; i < loss.length; i++) lp -= loss[i];
  return lp;
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Standard error of the mean: sample standard deviation / sqrt(n). */
const stderr = (xs) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1) / xs.length));

export default {
  name: ${JSON.stringify(name)},
  description: "cloze items scored by log-likelihood: true ending against a distractor",
  params: { items: "how many items to score (all)" },
  metrics: () => ["accuracy", "margin"],
  async run({ model, tokenizer }, params) {
    const items = ITEMS.slice(0, Number(params.items ?? ITEMS.length));
    const accuracy = [];
    const margin = [];
    for (const item of items) {
      const right = await logProb(model, tokenizer, item.context, item.right);
      const wrong = await logProb(model, tokenizer, item.context, item.wrong);
      accuracy.push(right > wrong ? 1 : 0);
      margin.push(right - wrong);
    }
    return { metrics: { accuracy: mean(accuracy), margin: mean(margin) }, stderr: { accuracy: stderr(accuracy), margin: stderr(margin) }, n: items.length };
  },
};
`;
}

function suiteSource(name: string): string {
  return (
    JSON.stringify(
      {
        name: `${name}-suite`,
        description: `The ${name} probe, gated against a baseline: accuracy may not drop by more than 0.1 beyond 2 standard errors.`,
        probes: [{ probe: `./${name}.js`, params: {}, gates: [{ metric: "accuracy", maxDrop: 0.1, beyondSe: 2 }, { metric: "margin", min: -5 }] }],
      },
      null,
      2,
    ) + "\n"
  );
}

/** Write NAME.js and NAME.suite.json into `dir`; refuses to overwrite. Returns the paths. */
export function init(name: string, dir = "."): string[] {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new ConfigError(`probe name '${name}' must be lower-case letters, digits and dashes, starting with a letter`);
  if (name in PROBES) throw new ConfigError(`'${name}' is a built-in probe's name; choose another`);
  const root = resolve(dir);
  const files = [join(root, `${name}.js`), join(root, `${name}.suite.json`)];
  for (const f of files) if (existsSync(f)) throw new ConfigError(`${f} already exists; choose another name or remove it`);
  mkdirSync(root, { recursive: true });
  writeFileSync(files[0]!, probeSource(name));
  writeFileSync(files[1]!, suiteSource(name));
  return files;
}

export const command: CommandModule<object, ProbesArgs> = {
  command: "probes <action> [name]",
  describe: "Probes: list the built-in ones (params, metrics), or init a new one (a probe file and a suite using it)",
  builder: (y: Argv) =>
    y
      .positional("action", { type: "string", choices: ["list", "init"], describe: "What to do" })
      .positional("name", { type: "string", describe: "init: the new probe's name" })
      .option("dir", { type: "string", default: ".", describe: "init: where to write the files" })
      .option("json", { type: "boolean", default: false, describe: "Machine-readable output" }) as Argv<ProbesArgs>,
  handler: (argv: ArgumentsCamelCase<ProbesArgs>) =>
    runCommand(async () => {
      if (argv.action === "init") {
        if (!argv.name) throw new ConfigError("mtx probes init needs a name, e.g. 'mtx probes init cloze'");
        const files = init(argv.name, argv.dir);
        process.stdout.write(`wrote ${files.join(", ")}\nrun it: mtx probe --suite ${files[1]} --checkpoint bundled\ngate with it: mtx gate --suite ${files[1]} --checkpoint CANDIDATE --baseline bundled\n`);
        return 0;
      }
      process.stdout.write(argv.json ? JSON.stringify(described()) + "\n" : listText());
      return 0;
    }),
};
