/**
 * JUnit XML for CI systems: one testsuite per probe, one testcase per gate. A failed gate (or one on a metric
 * the model source cannot compute) is a failure, a crashed probe an error, a relative gate without a
 * baseline is skipped ("not applied"). Each testsuite carries the probe's metrics and standard errors as
 * properties; times are the probe's wall time (its gates share it).
 */
import type { SuiteReport } from "./runSuite.js";

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function toJUnit(report: SuiteReport): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const tests = report.probes.reduce((a, p) => a + Math.max(1, p.gates.length), 0);
  const failures = report.probes.reduce((a, p) => a + (p.status === "error" ? 0 : p.gates.filter((g) => !g.pass).length), 0);
  const errors = report.probes.filter((p) => p.status === "error").length;
  const skipped = report.probes.reduce((a, p) => a + p.gates.filter((g) => g.status === "not-applied").length, 0);
  lines.push(`<testsuites name="mtx ${esc(report.suite)}" tests="${tests}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${(report.ms / 1000).toFixed(3)}">`);
  for (const p of report.probes) {
    const seconds = (p.ms / 1000).toFixed(3);
    const perCase = (p.ms / 1000 / Math.max(1, p.gates.length)).toFixed(3);
    const pf = p.status === "error" ? 0 : p.gates.filter((g) => !g.pass).length;
    const ps = p.gates.filter((g) => g.status === "not-applied").length;
    lines.push(`  <testsuite name="${esc(p.id)}" tests="${Math.max(1, p.gates.length)}" failures="${pf}" errors="${p.status === "error" ? 1 : 0}" skipped="${ps}" time="${seconds}">`);
    const props = Object.entries(p.metrics).flatMap(([m, v]) => [[m, v], ...(p.stderr[m] !== undefined ? [[`${m}.stderr`, p.stderr[m]!]] : [])] as [string, number][]);
    if (props.length || p.status === "not-supported") {
      lines.push("    <properties>");
      if (p.status === "not-supported") lines.push(`      <property name="status" value="${esc(p.error ?? "not supported by this model source")}"/>`);
      for (const [name, value] of props) lines.push(`      <property name="${esc(name)}" value="${value}"/>`);
      lines.push("    </properties>");
    }
    if (p.status === "error") {
      lines.push(`    <testcase classname="${esc(p.id)}" name="run" time="${seconds}"><error message="${esc(p.error ?? "error")}"/></testcase>`);
    } else if (!p.gates.length) {
      lines.push(`    <testcase classname="${esc(p.id)}" name="run" time="${seconds}"/>`);
    }
    for (const g of p.gates) {
      lines.push(`    <testcase classname="${esc(p.id)}" name="${esc(`${g.metric} ${g.rule}`)}" time="${perCase}">`);
      const values = `value ${g.value}${g.se !== null ? ` ± ${g.se}` : ""}, baseline ${g.baseline}${g.baselineSe !== null ? ` ± ${g.baselineSe}` : ""}, threshold ${g.threshold}`;
      if (g.status === "not-applied") lines.push(`      <skipped message="${esc(g.message)}"/>`);
      else if (!g.pass) lines.push(`      <failure message="${esc(g.message)}">${esc(values)}</failure>`);
      lines.push("    </testcase>");
    }
    lines.push("  </testsuite>");
  }
  lines.push("</testsuites>");
  return lines.join("\n") + "\n";
}
