import type { Rule } from '../types.js';

export const aiProviderRules: Rule[] = [];
