/**
 * One interceptor wraps every tap of every hook: a throw (or a rejected promise) from a tap becomes a
 * PluginError naming the plugin and the hook, and the plugin's onError policy decides what follows:
 * `halt` rethrows (the trainer halts the run), `disable` stops calling that plugin, `warn` logs and goes on.
 * tapable's `register` interceptor also sees taps added before it was installed.
 */
import { PluginError, describeError } from "./errors.js";
import type { HookName, TrainerHooks } from "./hooks.js";
import type { OnErrorPolicy } from "./plugin.js";

export interface PluginErrorEvent {
  error: PluginError;
  policy: OnErrorPolicy;
}

export interface GuardOptions {
  policyOf(plugin: string): OnErrorPolicy;
  /** Called for every plugin error, whatever the policy (the trainer logs and records it). */
  onError(event: PluginErrorEvent): void;
}

interface Tap {
  name: string;
  type: "sync" | "async" | "promise";
  fn: (...args: unknown[]) => unknown;
}

export interface TapGuard {
  /** Plugins the `disable` policy has switched off. */
  disabled: Set<string>;
  /** Applies a plugin's policy to an error found outside its taps (e.g. a verdict its hook does not allow). */
  report(error: PluginError): void;
}

export function guardTaps(hooks: TrainerHooks, options: GuardOptions): TapGuard {
  const disabled = new Set<string>();
  const report = (error: PluginError, policy = options.policyOf(error.plugin)): void => {
    options.onError({ error, policy });
    if (policy === "disable") disabled.add(error.plugin);
    if (policy === "halt") throw error;
  };
  for (const [hookName, hook] of Object.entries(hooks) as [HookName, TrainerHooks[HookName]][]) {
    // shutdown: every tap must run, so errors there are reported and swallowed whatever the policy.
    const isShutdown = hookName === "shutdown";
    const fail = (tap: Tap, cause: unknown): void => {
      const error = cause instanceof PluginError ? cause : new PluginError(tap.name, hookName, `plugin '${tap.name}' threw in hook '${hookName}': ${describeError(cause)}`, { cause });
      report(error, isShutdown ? "warn" : options.policyOf(tap.name));
    };
    (hook as unknown as { intercept(i: object): void }).intercept({
      register(tap: Tap): Tap {
        if (tap.type === "async") throw new PluginError(tap.name, hookName, `plugin '${tap.name}' used tapAsync on '${hookName}': use tap or tapPromise`);
        const inner = tap.fn;
        if (tap.type === "promise") {
          return {
            ...tap,
            fn: async (...args: unknown[]) => {
              if (disabled.has(tap.name)) return undefined;
              try {
                return await inner(...args);
              } catch (cause) {
                fail(tap, cause);
                return undefined;
              }
            },
          };
        }
        return {
          ...tap,
          fn: (...args: unknown[]) => {
            if (disabled.has(tap.name)) return undefined;
            try {
              return inner(...args);
            } catch (cause) {
              fail(tap, cause);
              return undefined;
            }
          },
        };
      },
    });
  }
  return { disabled, report };
}
