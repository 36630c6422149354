import { Flags, type Interfaces } from '@oclif/core';
import type { FlagSpec } from './scan-flags.js';

/** Builds oclif flags from a shared flag table. */
export function oclifFlags(table: Record<string, FlagSpec>): Interfaces.FlagInput {
  const out: Interfaces.FlagInput = {};
  for (const [name, spec] of Object.entries(table)) {
    const common = { description: spec.description, ...(spec.char ? { char: spec.char as 'a' } : {}) };
    out[name] =
      spec.type === 'boolean'
        ? Flags.boolean(common)
        : Flags.string({
            ...common,
            ...(spec.options ? { options: [...spec.options] } : {}),
            ...(spec.default ? { default: spec.default } : {}),
            ...(spec.helpValue ? { helpValue: spec.helpValue } : {}),
          });
  }
  return out;
}
