import type { Rule } from '../types.js';
import { aiProviderRules } from './ai-providers.js';
import { aiRules } from './ai.js';
import { cloudPlatformRules } from './cloud-platforms.js';
import { cloudRules } from './cloud.js';
import { codeHostRules } from './code-hosts.js';
import * as contextRules from './context-rules.js';
import { devtoolRules } from './devtools.js';
import { extractionRules } from './extraction.js';
import * as formats from './formats.js';
import { genericRules } from './generic.js';
import { keywardRules } from './keyward.js';
import { messagingRules } from './messaging.js';
import { observabilityRules } from './observability.js';
import { paymentRules } from './payments.js';
import { privateKeyRules } from './private-keys.js';
import { registryRules } from './registries.js';
import { saasRules } from './saas.js';
import { structuredRules } from './structured.js';

/** Tags each rule of a group with the category `keyward rules list` counts it under. */
const inCategory = (category: string, rules: readonly Rule[]): Rule[] => rules.map((r) => (r.category ? r : { ...r, category }));

/**
 * Every built-in rule. Specific rules come first: on an exact tie the earlier rule wins. Rules with
 * a prefix of their own come before keyword-context rules, which come before the format-aware
 * extraction rules and the generic fallback.
 */
export const builtinRules: readonly Rule[] = [
  ...inCategory('cloud', [...cloudRules, ...cloudPlatformRules, ...formats.cloudFormats]),
  ...inCategory('code-hosts', [...codeHostRules, ...formats.codeHostsFormats]),
  ...inCategory('devtools', [...devtoolRules, ...formats.devtoolsFormats]),
  ...inCategory('ai', [...aiRules, ...aiProviderRules, ...formats.aiFormats]),
  ...inCategory('payments', [...paymentRules, ...formats.paymentsFormats]),
  ...inCategory('messaging', [...messagingRules, ...formats.messagingFormats]),
  ...inCategory('registries', [...registryRules, ...formats.registriesFormats]),
  ...inCategory('observability', [...observabilityRules, ...formats.observabilityFormats]),
  ...inCategory('saas', [...saasRules, ...formats.saasFormats]),
  ...inCategory('private-keys', privateKeyRules),
  ...inCategory('keyward', keywardRules),
  ...Object.values(contextRules).flat(),
  ...inCategory('structured', [...structuredRules, ...extractionRules]),
  ...inCategory('generic', genericRules),
];
