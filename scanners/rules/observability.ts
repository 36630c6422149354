import type { Rule } from '../types.js';

export const observabilityRules: Rule[] = [];
