import type { Rule } from '../types.js';

export const aiRules: Rule[] = [
  {
    // Every OpenAI secret key carries "T3BlbkFJ" (base64 of "OpenAI") between two random halves.
    // Legacy user keys: sk- + 20 + T3BlbkFJ + 20. Project, service-account and admin keys are longer
    // and use base64url characters: sk-proj-…, sk-svcacct-…, sk-admin-….
    id: 'openai-api-key',
    description: 'OpenAI API key',
    provider: 'openai',
    keywords: ['t3blbkfj'],
    pattern: '(?<![A-Za-z0-9_-])(?<secret>sk-(?:(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{20,250}|[A-Za-z0-9]{20})T3BlbkFJ[A-Za-z0-9_-]{20,250})(?![A-Za-z0-9_-])',
    entropy: 3.5,
    migrate: 'openai',
    truePositives: [
      'OPENAI_API_KEY=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',
      'openai.api_key = "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"',
    ],
    falsePositives: ['sk-proj-XXXXXXXXXXXXXXXXXXXXXXXXT3BlbkFJXXXXXXXXXXXXXXXXXXXXXXXX', 'const prefix = "T3BlbkFJ";', 'sk-s3yBrWb5bermMREsngtNT3BlbkFJ'],
  },
  {
    // Anthropic: sk-ant-<kind><version>- + 93 base64url characters + "AA".
    id: 'anthropic-api-key',
    description: 'Anthropic API key',
    provider: 'anthropic',
    keywords: ['sk-ant-api'],
    pattern: '(?<![A-Za-z0-9_-])(?<secret>sk-ant-api\\d{2}-[A-Za-z0-9_-]{93}AA)(?![A-Za-z0-9_-])',
    entropy: 3.5,
    migrate: 'anthropic',
    truePositives: ['ANTHROPIC_API_KEY=sk-ant-api03-eycEwLzcewvQf2dG4b2SHetXwGBjO72vmANhwcq84zK3hDGDeAnX8WbR6ywsp3TCD5aHRj00rQ1F1fTkGEXdkIteYxsg6AA'],
    falsePositives: ['ANTHROPIC_API_KEY=sk-ant-api03-...', 'sk-ant-api03-eycEwLzcewvQf2dG4b2SHetXwGBjO72vmANhwcq84zK3hDGD'],
  },
  {
    id: 'anthropic-admin-key',
    description: 'Anthropic Admin API key',
    provider: 'anthropic',
    keywords: ['sk-ant-admin'],
    pattern: '(?<![A-Za-z0-9_-])(?<secret>sk-ant-admin\\d{2}-[A-Za-z0-9_-]{93}AA)(?![A-Za-z0-9_-])',
    entropy: 3.5,
    migrate: 'anthropic',
    truePositives: ['x-api-key: sk-ant-admin01-M6HPs5HNio_WQ5nspNspy_7R31Uqj96Sr4MqTJk7GEJUSzk7-Jz2T83QdWUSfiEu-0eiy6BrJQfVf8660bAukg0GLTetQAA'],
    falsePositives: ['sk-ant-admin01-<your admin key>'],
  },
];
