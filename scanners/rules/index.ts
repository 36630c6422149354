import type { Rule } from '../types.js';
import { aiProviderRules } from './ai-providers.js';
import { aiRules } from './ai.js';
import { cloudPlatformRules } from './cloud-platforms.js';
import { cloudRules } from './cloud.js';
import { codeHostRules } from './code-hosts.js';
import { devtoolRules } from './devtools.js';
import { genericRules } from './generic.js';
import { keywardRules } from './keyward.js';
import { messagingRules } from './messaging.js';
import { observabilityRules } from './observability.js';
import { paymentRules } from './payments.js';
import { privateKeyRules } from './private-keys.js';
import { registryRules } from './registries.js';
import { saasRules } from './saas.js';
import { structuredRules } from './structured.js';

/** Every built-in rule. Specific rules come first: on an exact tie the earlier rule wins. */
export const builtinRules: readonly Rule[] = [
  ...cloudRules,
  ...cloudPlatformRules,
  ...codeHostRules,
  ...devtoolRules,
  ...aiRules,
  ...aiProviderRules,
  ...paymentRules,
  ...messagingRules,
  ...registryRules,
  ...observabilityRules,
  ...saasRules,
  ...privateKeyRules,
  ...keywardRules,
  ...structuredRules,
  ...genericRules,
];
