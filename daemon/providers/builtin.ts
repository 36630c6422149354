import type { ProviderProfile } from './types.js';

/**
 * Built-in provider profiles: where the API is, how the key is sent, which environment variables
 * the provider's SDKs and CLIs read, and named permissions as HTTP rules. `{resource}` in a path
 * is filled from the grant's resource. A user file `providers/<name>.yaml` in the config
 * directory overrides any field of these (tests point them at local upstreams that way).
 */
const READ = ['GET', 'HEAD'];
const WRITE = ['POST', 'PUT', 'PATCH', 'DELETE'];
const ALL = [...READ, ...WRITE];

export const builtinProviders: ProviderProfile[] = [
  {
    name: 'openai',
    description: 'OpenAI API',
    upstream: 'https://api.openai.com',
    basePath: '/v1',
    inject: { header: 'Authorization', value: 'Bearer {secret}' },
    env: { key: 'OPENAI_API_KEY', baseUrl: 'OPENAI_BASE_URL' },
    keysUrl: 'https://platform.openai.com/api-keys',
    permissions: {
      chat: [
        { methods: ['POST'], paths: ['/v1/chat/completions', '/v1/responses', '/v1/responses/**', '/v1/completions', '/v1/embeddings'] },
        { methods: READ, paths: ['/v1/models', '/v1/models/*'] },
      ],
      embeddings: [{ methods: ['POST'], paths: ['/v1/embeddings'] }],
      models: [{ methods: READ, paths: ['/v1/models', '/v1/models/*'] }],
      all: [{ methods: ALL, paths: ['/v1/**'] }],
    },
  },
  {
    name: 'anthropic',
    description: 'Anthropic API',
    upstream: 'https://api.anthropic.com',
    basePath: '',
    inject: { header: 'x-api-key', value: '{secret}' },
    env: { key: 'ANTHROPIC_API_KEY', baseUrl: 'ANTHROPIC_BASE_URL' },
    keysUrl: 'https://console.anthropic.com/settings/keys',
    permissions: {
      messages: [
        { methods: ['POST'], paths: ['/v1/messages', '/v1/messages/count_tokens'] },
        { methods: READ, paths: ['/v1/models', '/v1/models/*'] },
      ],
      chat: [
        { methods: ['POST'], paths: ['/v1/messages', '/v1/messages/count_tokens'] },
        { methods: READ, paths: ['/v1/models', '/v1/models/*'] },
      ],
      batches: [{ methods: ALL, paths: ['/v1/messages/batches', '/v1/messages/batches/**'] }],
      models: [{ methods: READ, paths: ['/v1/models', '/v1/models/*'] }],
      all: [{ methods: ALL, paths: ['/v1/**'] }],
    },
  },
  {
    name: 'github',
    description: 'GitHub REST API',
    upstream: 'https://api.github.com',
    basePath: '',
    inject: { header: 'Authorization', value: 'Bearer {secret}' },
    env: { key: 'GITHUB_TOKEN', baseUrl: 'GITHUB_API_URL', aliases: ['GH_TOKEN', 'GITHUB_PERSONAL_ACCESS_TOKEN'] },
    keysUrl: 'https://github.com/settings/tokens',
    resource: { segments: 2, caseInsensitive: true },
    permissions: {
      'repo:read': [{ methods: READ, paths: ['/repos/{resource}', '/repos/{resource}/**'] }],
      'repo:write': [{ methods: ALL, paths: ['/repos/{resource}', '/repos/{resource}/**'] }],
      'issues:write': [
        { methods: READ, paths: ['/repos/{resource}/issues', '/repos/{resource}/issues/**'] },
        { methods: ['POST', 'PATCH'], paths: ['/repos/{resource}/issues', '/repos/{resource}/issues/**'] },
      ],
      'user:read': [{ methods: READ, paths: ['/user', '/user/**'] }],
      read: [{ methods: READ, paths: ['/**'] }],
      all: [{ methods: ALL, paths: ['/**'] }],
    },
  },
  {
    name: 'gitlab',
    description: 'GitLab REST API',
    upstream: 'https://gitlab.com',
    basePath: '/api/v4',
    inject: { header: 'PRIVATE-TOKEN', value: '{secret}' },
    env: { key: 'GITLAB_TOKEN', baseUrl: 'GITLAB_API_URL', aliases: ['GITLAB_PERSONAL_ACCESS_TOKEN', 'GL_TOKEN'] },
    keysUrl: 'https://gitlab.com/-/user_settings/personal_access_tokens',
    resource: { encoded: true, caseInsensitive: true },
    permissions: {
      'project:read': [{ methods: READ, paths: ['/api/v4/projects/{resource}', '/api/v4/projects/{resource}/**'] }],
      'project:write': [{ methods: ALL, paths: ['/api/v4/projects/{resource}', '/api/v4/projects/{resource}/**'] }],
      read: [{ methods: READ, paths: ['/api/v4/**'] }],
      all: [{ methods: ALL, paths: ['/api/v4/**'] }],
    },
  },
  {
    name: 'slack',
    description: 'Slack Web API',
    upstream: 'https://slack.com',
    basePath: '/api',
    inject: { header: 'Authorization', value: 'Bearer {secret}' },
    env: { key: 'SLACK_BOT_TOKEN', aliases: ['SLACK_TOKEN'] },
    keysUrl: 'https://api.slack.com/apps',
    permissions: {
      'chat:write': [{ methods: ['POST'], paths: ['/api/chat.postMessage', '/api/chat.update', '/api/chat.postEphemeral'] }],
      read: [
        {
          methods: ['GET', 'POST'],
          paths: [
            '/api/conversations.list',
            '/api/conversations.history',
            '/api/conversations.info',
            '/api/conversations.replies',
            '/api/users.list',
            '/api/users.info',
            '/api/auth.test',
          ],
        },
      ],
      all: [{ methods: ALL, paths: ['/api/**'] }],
    },
  },
  {
    name: 'stripe',
    description: 'Stripe API',
    upstream: 'https://api.stripe.com',
    basePath: '',
    inject: { header: 'Authorization', value: 'Bearer {secret}' },
    env: { key: 'STRIPE_API_KEY', aliases: ['STRIPE_SECRET_KEY'] },
    keysUrl: 'https://dashboard.stripe.com/apikeys',
    permissions: {
      read: [{ methods: READ, paths: ['/v1/**'] }],
      write: [{ methods: ALL, paths: ['/v1/**'] }],
      all: [{ methods: ALL, paths: ['/**'] }],
    },
  },
  {
    name: 'huggingface',
    description: 'Hugging Face Hub and Inference',
    upstream: 'https://huggingface.co',
    basePath: '',
    inject: { header: 'Authorization', value: 'Bearer {secret}' },
    env: { key: 'HF_TOKEN', baseUrl: 'HF_ENDPOINT', aliases: ['HUGGING_FACE_HUB_TOKEN'] },
    keysUrl: 'https://huggingface.co/settings/tokens',
    permissions: {
      read: [
        { methods: READ, paths: ['/**'] },
        { methods: ['POST'], paths: ['/api/models/**'] },
      ],
      write: [{ methods: ALL, paths: ['/**'] }],
      all: [{ methods: ALL, paths: ['/**'] }],
    },
  },
  {
    name: 'linear',
    description: 'Linear GraphQL API (one endpoint: read and write cannot be told apart by HTTP rules)',
    upstream: 'https://api.linear.app',
    basePath: '',
    inject: { header: 'Authorization', value: '{secret}' },
    env: { key: 'LINEAR_API_KEY' },
    keysUrl: 'https://linear.app/settings/account/security',
    permissions: {
      graphql: [{ methods: ['POST'], paths: ['/graphql'] }],
      all: [{ methods: ALL, paths: ['/**'] }],
    },
  },
  {
    name: 'notion',
    description: 'Notion API',
    upstream: 'https://api.notion.com',
    basePath: '',
    inject: { header: 'Authorization', value: 'Bearer {secret}' },
    env: { key: 'NOTION_API_KEY', aliases: ['NOTION_TOKEN'] },
    keysUrl: 'https://www.notion.so/profile/integrations',
    permissions: {
      read: [
        { methods: READ, paths: ['/v1/**'] },
        { methods: ['POST'], paths: ['/v1/search', '/v1/databases/*/query', '/v1/data_sources/*/query'] },
      ],
      write: [{ methods: ALL, paths: ['/v1/**'] }],
      all: [{ methods: ALL, paths: ['/**'] }],
    },
  },
  {
    name: 'aws',
    description: 'AWS: grants mint temporary credentials with STS (upstream is the STS endpoint)',
    upstream: 'https://sts.amazonaws.com',
    basePath: '',
    inject: { header: 'Authorization', value: '{secret}' },
    env: {},
    keysUrl: 'https://console.aws.amazon.com/iam/home#/security_credentials',
    permissions: {},
  },
  {
    name: 'postgres',
    description: 'PostgreSQL: grants mint a login role per grant from an admin connection URL',
    upstream: '',
    basePath: '',
    inject: { header: 'Authorization', value: '{secret}' },
    env: {},
    permissions: {},
  },
  {
    name: 'generic',
    description: 'Any HTTP API with a bearer token (set upstream and env in providers/<name>.yaml)',
    upstream: '',
    basePath: '',
    inject: { header: 'Authorization', value: 'Bearer {secret}' },
    env: {},
    permissions: {
      read: [{ methods: READ, paths: ['/**'] }],
      write: [{ methods: ALL, paths: ['/**'] }],
      all: [{ methods: ALL, paths: ['/**'] }],
    },
  },
];
