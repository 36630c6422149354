import { safeText } from '../../kernel/terminal.js';
import type { ProviderProfile } from './types.js';

/**
 * A grant's resource in canonical form, or a reason it is not one. A resource has exactly the
 * provider's number of segments (an extra segment would name another resource to the policy
 * while the path rules still reach the first one), and is lower-cased where the provider ignores
 * case, so that a policy rule on `acme/secret` also holds for `ACME/Secret`.
 */
export function canonicalResource(resource: string, style: ProviderProfile['resource'] = {}): { ok: true; resource: string } | { ok: false; reason: string } {
  const parts = resource.split('/');
  if (parts.some((p) => p === '')) return { ok: false, reason: `the resource "${safeText(resource)}" has an empty segment` };
  if (!style.encoded) {
    const segments = style.segments ?? 1;
    if (parts.length !== segments) {
      return {
        ok: false,
        reason: `the resource "${safeText(resource)}" has ${parts.length} segment${parts.length === 1 ? '' : 's'}; this provider's resources have ${segments}${segments === 2 ? ' (owner/name)' : ''}`,
      };
    }
  }
  return { ok: true, resource: style.caseInsensitive ? resource.toLowerCase() : resource };
}
