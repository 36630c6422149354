import { Flags, type Interfaces } from '@oclif/core';
import type { FlagSpec } from './scan-flags.js';

/** Builds oclif flags from a shared flag table. */
export function oclifFlags(table: Record<string, FlagSpec>): Interfaces.FlagInput {
  const out: Interfaces.FlagInput = {};
  for (const [name, spec] of Object.entries(table)) {
    const common = { description: spec.description, ...(spec.char ? { char: spec.char as 'a' } : {}) };
    if (spec.type === 'boolean') {
      out[name] = Flags.boolean(common);
      continue;
    }
    const options = {
      ...common,
      ...(spec.options ? { options: [...spec.options] } : {}),
      ...(spec.helpValue ? { helpValue: spec.helpValue } : {}),
    };
    out[name] = spec.multiple ? Flags.string({ ...options, multiple: true }) : Flags.string({ ...options, ...(spec.default ? { default: spec.default } : {}) });
  }
  return out;
}
