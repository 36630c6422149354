import type { Rule } from '../types.js';

export const cloudPlatformRules: Rule[] = [];
