import type { Rule } from '../types.js';

export const messagingRules: Rule[] = [];
