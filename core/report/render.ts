/**
 * Vega-Lite specs to SVG in Node (vega's headless SVG string renderer: no canvas, no network) and SVG
 * to PNG (resvg). Marks with a `description` get an SVG <title>, so hovering shows it in any browser.
 */
import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import * as vegaLite from "vega-lite";

/** Give every described mark a <title> child (native hover text). */
export function addHoverTitles(svg: string): string {
  return svg.replace(/<(path|line|rect|text|circle)([^>]*?)aria-label="([^"]*)"([^>]*?)(\/?)>/g, (_m, tag: string, pre: string, label: string, post: string, selfClosing: string) => {
    const open = `<${tag}${pre}aria-label="${label}"${post}>`;
    return selfClosing ? `${open}<title>${label}</title></${tag}>` : `${open}<title>${label}</title>`;
  });
}

export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const compiled = vegaLite.compile(spec as unknown as vegaLite.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return addHoverTitles(await view.toSVG());
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string, scale = 2): Buffer {
  const r = new Resvg(svg, { fitTo: { mode: "zoom", value: scale }, background: "white", font: { loadSystemFonts: true } });
  return Buffer.from(r.render().asPng());
}
