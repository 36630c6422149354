import type { Rule } from '../types.js';
export const extractionRules: Rule[] = [];
