import type { Rule } from '../types.js';

export const devtoolRules: Rule[] = [];
