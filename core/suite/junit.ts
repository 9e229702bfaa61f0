/** JUnit XML for CI systems: one testsuite per probe, one testcase per gate; a failed gate is a failure. */
import type { SuiteReport } from "./runSuite.js";

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function toJUnit(report: SuiteReport): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const tests = report.probes.reduce((a, p) => a + Math.max(1, p.gates.length), 0);
  const failures = report.probes.reduce((a, p) => a + p.gates.filter((g) => !g.pass).length, 0);
  const errors = report.probes.filter((p) => p.error).length;
  lines.push(`<testsuites name="mtx ${esc(report.suite)}" tests="${tests}" failures="${failures}" errors="${errors}" time="${(report.ms / 1000).toFixed(3)}">`);
  for (const p of report.probes) {
    const pf = p.gates.filter((g) => !g.pass).length;
    lines.push(`  <testsuite name="${esc(p.id)}" tests="${Math.max(1, p.gates.length)}" failures="${pf}" errors="${p.error ? 1 : 0}" time="${(p.ms / 1000).toFixed(3)}">`);
    if (p.error) {
      lines.push(`    <testcase classname="${esc(p.id)}" name="run"><error message="${esc(p.error)}"/></testcase>`);
    } else if (!p.gates.length) {
      lines.push(`    <testcase classname="${esc(p.id)}" name="run"/>`);
    }
    for (const g of p.gates) {
      lines.push(`    <testcase classname="${esc(p.id)}" name="${esc(`${g.metric} ${g.rule}`)}">`);
      if (!g.pass) lines.push(`      <failure message="${esc(g.message)}">${esc(`value ${g.value}, baseline ${g.baseline}, threshold ${g.threshold}`)}</failure>`);
      lines.push("    </testcase>");
    }
    lines.push("  </testsuite>");
  }
  lines.push("</testsuites>");
  return lines.join("\n") + "\n";
}
