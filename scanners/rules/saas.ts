import type { Rule } from '../types.js';

export const saasRules: Rule[] = [];
