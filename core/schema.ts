/**
 * JSON Schema validation for every file and option mtx reads (run configs, recipes, suites, plugin options,
 * checkpoint files): one Ajv instance, one error format (`field: got X; must be ...`), and one extra rule
 * JSON Schema cannot state: no number may be non-finite (`1e309` parses to Infinity, and Ajv's `integer`
 * accepts it).
 */
import AjvModule, { type ErrorObject, type ValidateFunction } from "ajv";

// ajv is CommonJS; under NodeNext its class is the default export's `default`.
const ajv = new AjvModule.default({ useDefaults: true, allErrors: true, strict: false });
const compiled = new WeakMap<object, ValidateFunction>();

/** The compiled validator of `schema` (compiled once per schema object). */
export function compileSchema(schema: object): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    const id = (schema as { $id?: string }).$id;
    v = (id && ajv.getSchema(id)) || ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

function fieldOf(e: ErrorObject): string {
  const path = e.instancePath.replace(/^\//, "").replace(/\//g, ".");
  if (e.keyword === "additionalProperties") return [path, (e.params as { additionalProperty: string }).additionalProperty].filter(Boolean).join(".");
  if (e.keyword === "required") return [path, (e.params as { missingProperty: string }).missingProperty].filter(Boolean).join(".");
  return path || "(root)";
}

function valueAt(value: unknown, instancePath: string): unknown {
  let v: unknown = value;
  for (const part of instancePath.split("/").filter(Boolean)) v = (v as Record<string, unknown> | undefined)?.[part];
  return v;
}

function allowedText(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "type":
      return `must be of type ${p.type}`;
    case "enum":
      return `must be one of: ${(p.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(", ")}`;
    case "const":
      return `must be ${JSON.stringify(p.allowedValue)}`;
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
      return `must be ${p.comparison} ${p.limit}`;
    case "additionalProperties":
      return "is not a known field";
    case "required":
      return "is required";
    default:
      return e.message ?? "is invalid";
  }
}

/** Human-readable lines, one per offending field: `schedule.peakLr: got -1; must be > 0 or must be "from-checkpoint"`. */
export function formatSchemaErrors(errors: ErrorObject[], value: unknown): string[] {
  const byField = new Map<string, ErrorObject[]>();
  for (const e of errors) {
    const f = fieldOf(e);
    byField.set(f, [...(byField.get(f) ?? []), e]);
  }
  const lines: string[] = [];
  for (const [field, errs] of byField) {
    // An anyOf failure lists every branch; say what each branch allows.
    const concrete = errs.filter((e) => e.keyword !== "anyOf");
    if (!concrete.length) continue;
    const given = concrete[0]!.keyword === "additionalProperties" || concrete[0]!.keyword === "required" ? undefined : valueAt(value, concrete[0]!.instancePath);
    const allowed = [...new Set(concrete.map(allowedText))].join(" or ");
    lines.push(`${field}: ${given === undefined ? "" : `got ${JSON.stringify(given)}; `}${allowed}`);
  }
  return lines;
}

/** Every number in `value` that is NaN or infinite, with its dotted path. */
export function nonFiniteNumbers(value: unknown, path = ""): { path: string; value: number }[] {
  if (typeof value === "number") return Number.isFinite(value) ? [] : [{ path: path || "(value)", value }];
  if (Array.isArray(value)) return value.flatMap((v, i) => nonFiniteNumbers(v, `${path}[${i}]`));
  if (value && typeof value === "object" && !ArrayBuffer.isView(value)) {
    return Object.entries(value).flatMap(([k, v]) => nonFiniteNumbers(v, path ? `${path}.${k}` : k));
  }
  return [];
}

/**
 * Validate a copy of `value` against `schema`, filling defaults, and return it; on failure throw
 * `makeError` with `origin` and one line per bad field (non-finite numbers included).
 */
export function validateData<T>(schema: object, value: unknown, origin: string, makeError: (message: string) => Error): T {
  const copy = structuredClone(value);
  const bad = nonFiniteNumbers(copy);
  const lines = bad.map((b) => `${b.path}: got ${b.value}; must be a finite number`);
  const validate = compileSchema(schema);
  if (!validate(copy)) lines.push(...formatSchemaErrors(validate.errors ?? [], copy).filter((l) => !bad.some((b) => l.startsWith(`${b.path}:`))));
  if (lines.length) throw makeError(`invalid ${origin}:\n  ${lines.join("\n  ")}`);
  return copy as T;
}
