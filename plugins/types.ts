/** How a plugin is described to the registry, `mtx plugins list` and config validation. */
import type { MtxPlugin } from "../core/plugin.js";

export interface PluginDefinition<Options = Record<string, unknown>> {
  name: string;
  /** One line for `mtx plugins list`. */
  description: string;
  /** Hooks the plugin taps. */
  hooks: string[];
  /** JSON Schema of the options (defaults filled in by validation). */
  optionsSchema?: object;
  create(options: Options): MtxPlugin;
}
