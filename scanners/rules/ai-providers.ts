import type { Rule } from '../types.js';

/** Quote, assignment operator (`=`, `:`, `=>`, `:=`), quote: what sits between a name and its value. */
const ASSIGN = '["\'`]?\\s{0,4}(?:[:=]|=>|:=)\\s{0,4}["\'`]?';
/** Anything after the provider name up to the assignment, e.g. `_API_KEY`. */
const LOOSE = '[\\w.-]{0,25}';
/** After the provider name, a word that says the value is a secret (UUID values need this: ids are UUIDs too). */
const KEYISH = '[\\w.-]{0,20}?(?:key|token|secret|auth)\\w{0,12}';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** `<name><assignment><value>` with the value as group `secret`, ending where the value's characters end. */
const assigned = (name: string, value: string) => `(?:${name})${ASSIGN}(?<secret>${value})(?![A-Za-z0-9_-])`;

/** A key that is a fixed prefix + a body: `(?<!…)prefix body(?!…)`. */
const prefixed = (prefix: string, body: string) => `(?<![A-Za-z0-9_-])(?<secret>${prefix}${body})(?![A-Za-z0-9_-])`;

export const aiProviderRules: Rule[] = [
  {
    // User access tokens: "hf_" + 34 letters.
    id: 'huggingface-access-token',
    description: 'Hugging Face user access token',
    provider: 'huggingface',
    keywords: ['hf_'],
    pattern: prefixed('hf_', '[A-Za-z]{34}'),
    entropy: 3.5,
    migrate: 'huggingface',
    truePositives: [
      'HF_TOKEN=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',
      'huggingface-cli login --token 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',
      'headers = {"Authorization": "Bearer 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"}',
    ],
    falsePositives: ['HF_TOKEN=hf_DdhhTaIGHsZbvdaIlrzVMwUfmrZtDo', 'HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'HF_TOKEN=hf_AaIDsKZWmvlvRId2hibwKz1KASKxP9Yb4w9'],
  },
  {
    // Organization API tokens (legacy): "api_org_" + 34 letters.
    id: 'huggingface-org-token',
    description: 'Hugging Face organization API token',
    provider: 'huggingface',
    keywords: ['api_org_'],
    pattern: prefixed('api_org_', '[A-Za-z]{34}'),
    entropy: 3.5,
    migrate: 'huggingface',
    truePositives: ['HUGGINGFACE_ORG_TOKEN=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', '"token": "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"'],
    falsePositives: ['api_org_fJxyWkxFJGHloEYxkNXM', 'api_org_settings_page_for_the_admin_view'],
  },
  {
    // Groq API keys: "gsk_" + 52 base62 characters.
    id: 'groq-api-key',
    description: 'Groq API key',
    provider: 'groq',
    keywords: ['gsk_'],
    pattern: prefixed('gsk_', '[A-Za-z0-9]{52}'),
    entropy: 3.5,
    migrate: 'groq',
    truePositives: ['GROQ_API_KEY=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', 'client = Groq(api_key="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")'],
    falsePositives: ['GROQ_API_KEY=gsk_0Re55ju3V6oDFRsTkkk9nM7mX62qngZZuXExCMZM', 'GROQ_API_KEY=gsk_...', 'gsk_LGsNnbEIi7L0wDjUM6HXAiGTU3YiuoVyKRG01dYERJtOHIobOvvMvToO91tr'],
  },
  {
    // Replicate API tokens: "r8_" + 37 base62 characters.
    id: 'replicate-api-token',
    description: 'Replicate API token',
    provider: 'replicate',
    keywords: ['r8_'],
    pattern: prefixed('r8_', '[A-Za-z0-9]{37}'),
    entropy: 3.5,
    migrate: 'replicate',
    truePositives: [
      'REPLICATE_API_TOKEN=r8_HbQlXhW1mLzOWMcCFdR0SKlbQeC2DERZKl3bx',
      'curl -H "Authorization: Bearer r8_hYuOiXkLvPdr8rUcZR5dK8YP8LIz56pXe1jbf" https://api.replicate.com/v1/predictions',
    ],
    falsePositives: ['REPLICATE_API_TOKEN=r8_p6deRLn5taPGy7RWFqASN6Sfu0lc3Q', 'r8_l4x7sP9dCfFpQ3a8Y6yAGrX9E6jO4vbztEsnsKRL'],
  },
  {
    // Perplexity API keys: "pplx-" + 48 base62 characters.
    id: 'perplexity-api-key',
    description: 'Perplexity API key',
    provider: 'perplexity',
    keywords: ['pplx-'],
    pattern: prefixed('pplx-', '[A-Za-z0-9]{48}'),
    entropy: 3.5,
    migrate: 'perplexity',
    truePositives: [
      'PERPLEXITY_API_KEY=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',
      'OpenAI(api_key="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", base_url="https://api.perplexity.ai")',
    ],
    falsePositives: ['PERPLEXITY_API_KEY=pplx-OBgAitLcKfHZxuaxcZMspd1HhAuupWbB', 'PERPLEXITY_API_KEY=pplx-...'],
  },
  {
    // xAI (Grok) API keys: "xai-" + 80 base62 characters.
    id: 'xai-api-key',
    description: 'xAI (Grok) API key',
    provider: 'xai',
    keywords: ['xai-'],
    pattern: prefixed('xai-', '[A-Za-z0-9]{80}'),
    entropy: 3.5,
    migrate: 'xai',
    truePositives: [
      'XAI_API_KEY=xai-OiMPErTBdGpROKlsjO5EPMdBptKVpVTdI8r9IA2oGTkZrqN07Up1dkLyXWqBapuoXbTjA9kfStLA4aH2',
      '{"apiKey": "xai-z93F3qdbXHUgoVClzbuQKqEcAgIh3J61K1vEVfPyD13OnF0BeZj72CYBo2jnKJwh4mEvgKd4RXqbVHUQ"}',
    ],
    falsePositives: ['XAI_API_KEY=xai-CfoN7Zv1jdpz5OIOqcxN4Fy0TSMhyoyuKcLftVS8rinTvD7N1fS21pgQF766', 'import xai-sdk'],
  },
  {
    // Mistral API keys: 32 base62 characters, recognizable only by their name.
    id: 'mistral-api-key',
    description: 'Mistral AI API key',
    provider: 'mistral',
    keywords: ['mistral'],
    pattern: assigned('mistral' + LOOSE, '[A-Za-z0-9]{32}'),
    flags: 'i',
    entropy: 3.5,
    migrate: 'mistral',
    truePositives: ['MISTRAL_API_KEY=9SJC0DpzUC4DOlj0cnAXxCgyDsDAeSFQ', 'mistral_client_key: "BKymOs0CVDnBeZsUpdIxfnb26BmTYxeF"'],
    falsePositives: ['MISTRAL_API_KEY=kDIBoavgv6WhGjeANqeelo1AtxUwxJn', 'MISTRAL_MODEL=mistral-large-latest', 'MISTRAL_API_KEY=${MISTRAL_API_KEY}'],
  },
  {
    // Cohere API keys: 40 base62 characters, recognizable only by their name (CO_API_KEY is the SDK's variable).
    id: 'cohere-api-key',
    description: 'Cohere API key',
    provider: 'cohere',
    keywords: ['cohere', 'co_api_key'],
    pattern: assigned('cohere' + LOOSE + '|co_api_key', '[A-Za-z0-9]{40}'),
    flags: 'i',
    entropy: 3.5,
    migrate: 'cohere',
    truePositives: ['COHERE_API_KEY=f9peTEp9I4iaJ245WYT0USBhzBC3aVGBGAEh5Vdp', 'CO_API_KEY="NP3S11RUnaCAaSliBIvQ6XuX2JtVlNICxsImUhNg"'],
    falsePositives: ['COHERE_API_KEY=34v2N8OSOvDdqYBBZTsOAa9Gsd0PuRFUyZYTfyw', 'COHERE_MODEL=command-r-plus-08-2024'],
  },
  {
    // OpenRouter API keys: "sk-or-v1-" + 64 hex.
    id: 'openrouter-api-key',
    description: 'OpenRouter API key',
    provider: 'openrouter',
    keywords: ['sk-or-v1-'],
    pattern: prefixed('sk-or-v1-', '[a-f0-9]{64}'),
    entropy: 3,
    migrate: 'openrouter',
    truePositives: [
      'OPENROUTER_API_KEY=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',
      'Authorization: Bearer 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',
    ],
    falsePositives: ['OPENROUTER_API_KEY=sk-or-v1-1d7e3c4ee81861c0a37e558b730c2eae39ac0a98', 'sk-or-v2-cf12504eaedd441d8b0ffcd9e6aa2476a7e904595678617a3b275c4f6facabff'],
  },
  {
    // DeepSeek API keys: "sk-" + 32 hex: the prefix is shared, so the name must say DeepSeek.
    id: 'deepseek-api-key',
    description: 'DeepSeek API key',
    provider: 'deepseek',
    keywords: ['deepseek'],
    pattern: assigned('deepseek' + LOOSE, 'sk-[a-f0-9]{32}'),
    flags: 'i',
    entropy: 3,
    migrate: 'deepseek',
    truePositives: ['DEEPSEEK_API_KEY=sk-158892309308b48d865969ca8cd09461', '{"deepseekApiKey": "sk-0068a62fdd62a0f58b4b6869368d8732"}'],
    falsePositives: ['DEEPSEEK_API_KEY=sk-def82190003e59ce9dd361a41d5c7f1', 'OTHER_API_KEY=sk-05803085eee73347978f789453ee478f', 'DEEPSEEK_MODEL=deepseek-chat'],
  },
  {
    // Together AI keys issued since 2025: "tgp_v1_" + 43 base64url characters.
    id: 'together-api-key',
    description: 'Together AI API key',
    provider: 'together',
    keywords: ['tgp_v1_'],
    pattern: prefixed('tgp_v1_', '[A-Za-z0-9_-]{43}'),
    entropy: 3.5,
    migrate: 'together',
    truePositives: ['TOGETHER_API_KEY=tgp_v1_mjYBPKhRBq2TMAHdsSMuAVVAbOi2NoBHiqK6nSFkTH2', 'client = Together(api_key="tgp_v1_K0uH6IUwz8sfHWVN2tD8re0WGcpXaa9KZr_q5mqGTPk")'],
    falsePositives: ['TOGETHER_API_KEY=tgp_v1_a-sIgRAjH43sgwvBZ_JHdyEI6_6Pdy', 'TOGETHER_API_KEY=tgp_v1_...'],
  },
  {
    // Older Together AI keys: 64 hex, recognizable only by their name.
    id: 'together-api-key-legacy',
    description: 'Together AI API key (64-hex format)',
    provider: 'together',
    keywords: ['together_api', 'together-api', 'togetherapi', 'together_ai', 'togetherai', 'together_key'],
    pattern: assigned('together[_.-]?(?:ai[_.-]?)?(?:api[_.-]?)?key\\w{0,10}', '[a-f0-9]{64}'),
    flags: 'i',
    entropy: 3,
    migrate: 'together',
    truePositives: [
      'TOGETHER_API_KEY=a95b6c95e3192159b3172bac3b602f4e65534edc361eba25b32d8859c9760d96',
      'togetherai_key: "a1882021450fb58a61c791d36ed9ea844f15e8ab2f865e1f4e76c93e59012bfd"',
    ],
    falsePositives: ['TOGETHER_API_KEY=d1a37614bc81b0b197cc26a17084285d97db6042', 'TOGETHER_AI_MODEL_HASH=c9b8348627210d77f377111c182346f7e2213710673d99eef91f27c973cc7e61'],
  },
  {
    // Fireworks AI API keys: "fw_" + 24 base62 characters. "fw_" also starts firmware identifiers, so a
    // digit is required somewhere in the body (about 1.5% of real keys have none and are missed).
    id: 'fireworks-api-key',
    description: 'Fireworks AI API key',
    provider: 'fireworks',
    keywords: ['fw_'],
    pattern: prefixed('fw_', '(?=[A-Za-z]{0,23}[0-9])[A-Za-z0-9]{24}'),
    entropy: 3.5,
    migrate: 'fireworks',
    truePositives: ['FIREWORKS_API_KEY=fw_FVHFdqNDpfB8OHGL4MRD3PVb', 'Authorization: Bearer fw_d9IjgEJ6pa75b43OPsQAHWFq'],
    falsePositives: ['FIREWORKS_API_KEY=fw_YU9bPO470bW5b0EkqFqD', 'int fw_ReadBootloaderVersionNow = 2;', 'fw_ytyoc3029fYm1MIw0N6GGKc37IR974'],
  },
  {
    // Pinecone API keys: "pcsk_" + 5–7 base62 characters + "_" + 63 base62 characters.
    id: 'pinecone-api-key',
    description: 'Pinecone API key',
    provider: 'pinecone',
    keywords: ['pcsk_'],
    pattern: prefixed('pcsk_', '[A-Za-z0-9]{5,7}_[A-Za-z0-9]{63}'),
    entropy: 3.5,
    migrate: 'pinecone',
    truePositives: [
      'PINECONE_API_KEY=pcsk_wYwnhJ_VR3FNiQRnLB6fCIxLGjMAyW8yPM8gIzxC7eczg1TtOdNGfmCzaJbN2vqTZXSGEr',
      'pc = Pinecone(api_key="pcsk_iIdH67_Zp23qKjFHJfKCz5cQ1rJlcxY8aZLv30VtsnWYXO8jCsnzczYV3kElpsKI0XqsVl")',
    ],
    falsePositives: ['PINECONE_API_KEY=pcsk_...', 'PINECONE_API_KEY=pcsk_49Gk7u_zhKtZaGYhq7tMgmuRhN5lWCc0txhFNIt4aEYZq0L'],
  },
  {
    // Pinecone keys from before the "pcsk_" prefix were UUIDs, recognizable only by their name.
    id: 'pinecone-api-key-legacy',
    description: 'Pinecone API key (UUID format)',
    provider: 'pinecone',
    keywords: ['pinecone'],
    pattern: assigned('pinecone' + KEYISH, UUID),
    flags: 'i',
    entropy: 3,
    migrate: 'pinecone',
    truePositives: ['PINECONE_API_KEY=656b47ba-96ab-495e-bd77-e4fa962fd531', 'pinecone_key: "24fc3bb5-75f6-4c52-b054-84f914e563d4"'],
    falsePositives: ['PINECONE_INDEX_ID=e32b662a-90e7-4ee1-a68d-ecf4d29a727a', 'PINECONE_API_KEY=<your key>'],
  },
  {
    // LangSmith (LangChain) keys: "lsv2_pt_" (personal) or "lsv2_sk_" (service) + 32 hex + "_" + 10 hex.
    id: 'langsmith-api-key',
    description: 'LangSmith (LangChain) API key',
    provider: 'langsmith',
    keywords: ['lsv2_'],
    pattern: prefixed('lsv2_(?:pt|sk)_', '[a-f0-9]{32}_[a-f0-9]{10}'),
    entropy: 3,
    migrate: 'langsmith',
    truePositives: ['LANGSMITH_API_KEY=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', 'LANGCHAIN_API_KEY="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"'],
    falsePositives: ['LANGSMITH_API_KEY=lsv2_pt_266d6f31716b963b34de48ce0b0d9cc6', 'LANGSMITH_API_KEY=lsv2_xx_ecada580c41469a4eb278ea744519f8f_e06ab32c3b'],
  },
  {
    // ElevenLabs API keys: "sk_" + 48 hex. "sk_" is shared (Stripe and others), so the name must say ElevenLabs.
    id: 'elevenlabs-api-key',
    description: 'ElevenLabs API key',
    provider: 'elevenlabs',
    keywords: ['elevenlabs', 'eleven_labs', 'eleven-labs', 'xi-api-key', 'xi_api_key'],
    pattern: assigned('(?:eleven[_-]?labs' + LOOSE + '|xi[_-]api[_-]key)', 'sk_[a-f0-9]{48}'),
    flags: 'i',
    entropy: 3,
    migrate: 'elevenlabs',
    truePositives: [
      'ELEVENLABS_API_KEY=sk_faa0ef4bc1a8d63edc01fe1cb888a6beaefb20cf5b8676d0',
      'curl -H "xi-api-key: sk_0f1b5487f408a6c6545881d402d39fc1450826d770268f62" https://api.elevenlabs.io/v1/voices',
    ],
    falsePositives: [
      'ELEVENLABS_API_KEY=sk_34a6b397cc3f95ad15ccdd5371cb28704ca87d69',
      'STRIPE_KEY=sk_3b7a1e5dc8a4f6ad2dfd49de4482bf4e0e246e00a1cabfe2',
      'ELEVENLABS_VOICE_ID=qDpNK6X5QpQvO1Si1HqH',
    ],
  },
  {
    // Cerebras API keys: "csk-" + 48 base36 characters.
    id: 'cerebras-api-key',
    description: 'Cerebras API key',
    provider: 'cerebras',
    keywords: ['csk-'],
    pattern: prefixed('csk-', '[A-Za-z0-9]{48}'),
    entropy: 3.5,
    migrate: 'cerebras',
    truePositives: ['CEREBRAS_API_KEY=csk-0hk03g1gcs0t7jxdrebgnoc8jpxpvugze901cwra8d732wou', 'client = Cerebras(api_key="csk-po6k8tu3zzgzbclfobau3c5bhtvf1ldetb86p0ukh1m5ka70")'],
    falsePositives: ['CEREBRAS_API_KEY=csk-qhxxmb24pjk2yvv27be45hvg9k85xhayqjqewmau', 'CEREBRAS_API_KEY=csk-...'],
  },
  {
    // Voyage AI API keys: "pa-" + 43 base64url characters; "pa-" is too short a prefix alone.
    id: 'voyage-api-key',
    description: 'Voyage AI API key',
    provider: 'voyage',
    keywords: ['voyage'],
    pattern: assigned('voyage' + LOOSE, 'pa-[A-Za-z0-9_-]{43}'),
    flags: 'i',
    entropy: 3.5,
    migrate: 'voyage',
    truePositives: ['VOYAGE_API_KEY=pa-ovwZPiiWaFieTmRg6lGjmma2e139P3vBTKt91dGn6_b', 'voyageai.api_key = "pa-4bd4E5FP3Fp8RVJpyfnLn76JGdlZ2mBhKqWw1Emo_3g"'],
    falsePositives: ['VOYAGE_API_KEY=pa--u-e9j_wdNISUR10YmzxpmMPop7Ozx', 'VOYAGE_MODEL=voyage-3-large', 'PA_TOKEN=pa-b-VNog7V5FlkK2gvTuj-GEa6bJtsvIUgFMLmMRAOWaK'],
  },
  {
    // Tavily API keys: "tvly-" (optionally "dev-"/"prod-") + 32 base62 characters, or in the newer
    // form a short id, "-" and about 42 characters.
    id: 'tavily-api-key',
    description: 'Tavily API key',
    provider: 'tavily',
    keywords: ['tvly-'],
    pattern: prefixed('tvly-(?:dev-|prod-)?', '(?:[A-Za-z0-9]{4,8}-[A-Za-z0-9]{36,48}|[A-Za-z0-9]{32})'),
    entropy: 3.5,
    migrate: 'tavily',
    truePositives: [
      'TAVILY_API_KEY=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',
      'tavily = TavilyClient(api_key="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")',
      'TAVILY_API_KEY=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',
    ],
    falsePositives: ['TAVILY_API_KEY=tvly-dev-...', 'TAVILY_API_KEY=tvly-f9rrs06u5Uj6D3O1T6Ui', 'TAVILY_API_KEY=tvly-dev-canary-0123456789abcdef'],
  },
  {
    // Firecrawl API keys: "fc-" + 32 hex; "fc-" is too short a prefix alone.
    id: 'firecrawl-api-key',
    description: 'Firecrawl API key',
    provider: 'firecrawl',
    keywords: ['firecrawl'],
    pattern: assigned('firecrawl' + LOOSE, 'fc-[a-f0-9]{32}'),
    flags: 'i',
    entropy: 3,
    migrate: 'firecrawl',
    truePositives: ['FIRECRAWL_API_KEY=fc-2cc1220b976bcb99c31474e23af84068', '"firecrawl_api_key": "fc-2e241ea2ab205faf51b5bebc609b9e18"'],
    falsePositives: ['FIRECRAWL_API_KEY=fc-59641fbf940bf846e39d', 'FIRECRAWL_API_URL=https://api.firecrawl.dev'],
  },
  {
    // Exa API keys are UUIDs, recognizable only by their name.
    id: 'exa-api-key',
    description: 'Exa API key',
    provider: 'exa',
    keywords: ['exa_api', 'exa-api', 'exaapi', 'exa_key', 'exa-key'],
    pattern: assigned('exa[_.-]?(?:api[_.-]?)?key\\w{0,10}', UUID),
    flags: 'i',
    entropy: 3,
    migrate: 'exa',
    truePositives: ['EXA_API_KEY=f1c7dbd8-99e0-4ec5-94c8-161d77455759', '{"exaApiKey": "934b1424-2444-4c90-a383-6906d8e5bb6a"}'],
    falsePositives: ['EXA_API_KEY=${EXA_API_KEY}', 'EXA_REQUEST_ID=656dbf53-2cbc-474d-92e2-9e1a34670c18'],
  },
  {
    // Weights & Biases API keys: 40 hex, recognizable only by their name.
    id: 'wandb-api-key',
    description: 'Weights & Biases API key (40-hex format)',
    provider: 'wandb',
    keywords: ['wandb'],
    pattern: assigned('wandb' + LOOSE, '(?:local-)?[a-f0-9]{40}'),
    flags: 'i',
    entropy: 3,
    migrate: 'wandb',
    truePositives: ['WANDB_API_KEY=f7542ca89d5e5021e615767d4fbf5ba427b58c7d', 'wandb_key: local-94b19c0140f7fb74d31646fae419c4f6f5e51290'],
    falsePositives: ['WANDB_RUN_ID=2tqqpc8v', 'WANDB_API_KEY=b39b75cd8b0ec95d25fb99742b8d352abff3e51', 'WANDB_API_KEY=$WANDB_API_KEY'],
  },
  {
    // Weights & Biases keys issued since 2025: "wandb_v1_" + 77 characters (86 in all).
    id: 'wandb-api-key-v1',
    description: 'Weights & Biases API key (wandb_v1_ format)',
    provider: 'wandb',
    keywords: ['wandb_v1_'],
    pattern: prefixed('wandb_v1_', '[A-Za-z0-9_-]{60,90}'),
    entropy: 3.5,
    migrate: 'wandb',
    truePositives: [
      'WANDB_API_KEY=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-JyJP',
      'wandb login wandb_v1_J-UEG8sNTYcutX_5YN58WZcjOJQJHbCJnpTGgJSdKBAdmlClQslXKUB0uRaJAvFH-6BIyi-HLgbVN',
    ],
    falsePositives: ['WANDB_API_KEY=wandb_v1_...', 'WANDB_API_KEY=wandb_v1_R8Q9VfybDC6nHVaR_BI4udv9VBf8LL'],
  },
  {
    // AssemblyAI API keys: 32 hex, recognizable only by their name.
    id: 'assemblyai-api-key',
    description: 'AssemblyAI API key',
    provider: 'assemblyai',
    keywords: ['assemblyai', 'assembly_ai', 'assembly-ai'],
    pattern: assigned('assembly[_-]?ai' + LOOSE, '[a-f0-9]{32}'),
    flags: 'i',
    entropy: 3,
    migrate: 'assemblyai',
    truePositives: ['ASSEMBLYAI_API_KEY=8e3ce0e033fa91880ad7a50b17e7469d', 'assemblyai.settings.api_key = "57c0f5c924fdbf09124933decc53c0b7"'],
    falsePositives: ['ASSEMBLYAI_API_KEY=bc3541e2e2e72c411473b6799ee3ee7', 'ASSEMBLYAI_TRANSCRIPT_ID=9X1bz9YM0cAZ'],
  },
  {
    // Deepgram API keys: 40 hex, recognizable only by their name.
    id: 'deepgram-api-key',
    description: 'Deepgram API key',
    provider: 'deepgram',
    keywords: ['deepgram'],
    pattern: assigned('deepgram' + LOOSE, '[a-f0-9]{40}'),
    flags: 'i',
    entropy: 3,
    migrate: 'deepgram',
    truePositives: ['DEEPGRAM_API_KEY=7f3c2b7d9e368bba29df2fd075c62668207c3558', '{"deepgram_api_key": "d8c8c90ecd719bbf122f372643b5efbeec846db9"}'],
    falsePositives: ['DEEPGRAM_API_KEY=c9223578a686cd00c5de3edd38870153', 'DEEPGRAM_PROJECT_ID=065f2749-6763-4c38-9500-e8281359bc83'],
  },
];
