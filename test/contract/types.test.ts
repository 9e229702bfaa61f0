// The package's type declarations, as a plugin author compiles against them: strict, without skipLibCheck
// and without Node's types. A skip from shouldHalt (after the update) is a compile error, not a run-time one.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { ROOT, tempDir } from "../helpers/cli.js";

function compile(source: string): string[] {
  const dir = tempDir("mtx-types-");
  mkdirSync(join(dir, "src"));
  const file = join(dir, "src", "plugin.ts");
  writeFileSync(file, source);
  const options: ts.CompilerOptions = {
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
    baseUrl: dir,
    paths: { "mtx-harness": [join(ROOT, "dist", "core", "index.d.ts")] },
  };
  const program = ts.createProgram([file], options);
  return ts.getPreEmitDiagnostics(program).map((d) => `${d.file ? d.file.fileName.replace(ROOT, "") : ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
}

const plugin = (haltBody: string) => `
import type { MtxPlugin, PluginDefinition, ShouldHaltVerdict, SkipStepVerdict, StepContext, TrainerApi } from "mtx-harness";
export class Guard implements MtxPlugin {
  readonly name = "guard";
  apply(trainer: TrainerApi): void {
    trainer.hooks.shouldSkipStep.tap(this.name, (ctx: StepContext): SkipStepVerdict | undefined => (ctx.gradNorm > 10 ? { action: "skip", plugin: this.name, reason: "big gradient" } : undefined));
    trainer.hooks.shouldHalt.tap(this.name, (ctx) => ${haltBody});
    trainer.hooks.evalEnd.tapPromise(this.name, async (r) => { trainer.logMetrics({ seen: r.heldoutBpb }); });
  }
}
export const definition: PluginDefinition<{ limit: number }> = { name: "guard", description: "a guard", hooks: ["shouldHalt"], optionsSchema: { type: "object" }, create: () => new Guard() };
`;

describe("type declarations", () => {
  it("compile for a plugin author under strict, without skipLibCheck or Node's types", () => {
    expect(compile(plugin(`(ctx.loss > 10 ? { action: "halt", plugin: "guard", reason: "loss" } : undefined) as ShouldHaltVerdict | undefined`))).toEqual([]);
  });

  it("make a skip from shouldHalt a type error", () => {
    const errors = compile(plugin(`(ctx.loss > 10 ? { action: "skip" as const, plugin: "guard", reason: "too late to skip" } : undefined)`));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join("\n")).toMatch(/'"skip"' is not assignable to type '"rollback" \| "halt"'|Type '"skip"' is not assignable/);
  });

  it("catch a field that a hook's context does not have (evalEnd has no loss)", () => {
    const errors = compile(`
import type { TrainerApi } from "mtx-harness";
export function apply(trainer: TrainerApi): void {
  trainer.hooks.evalEnd.tapPromise("x", async (r) => { if (r.loss > 3) trainer.warn("x", "high"); });
}
`);
    expect(errors.join("\n")).toMatch(/Property 'loss' does not exist on type 'EvalResult'/);
  });
});
