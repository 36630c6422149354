import type { Rule } from '../types.js';

const re = String.raw;

/** Between a name and its value: `=`, `:`, `=>` or `:=`, with optional quotes and spaces. */
const ASSIGN = re`["'\`]?\s{0,4}(?:[:=]|=>|:=)\s{0,4}["'\`]?`;

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';

export const saasRules: Rule[] = [
  {
    // Linear personal API keys: lin_api_ + 40 base62.
    id: 'linear-api-key',
    description: 'Linear personal API key',
    provider: 'linear',
    keywords: ['lin_api_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>lin_api_[A-Za-z0-9]{40})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'linear',
    truePositives: ['LINEAR_API_KEY=lin_api_YdWWamwLet9p34k5eGnB3ZWRi0mhYYsFysYFq3z7', "headers: { Authorization: 'lin_api_bp0q8mkXOPf57CENajvSU53lh5czQjNWjiXt0QCx' }"],
    falsePositives: ['LINEAR_API_KEY=lin_api_AZcROTtSwBluqrnqew9lQFqg2jWXGP', 'LINEAR_API_KEY=lin_api_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'],
  },
  {
    // Linear OAuth access tokens: lin_oauth_ + 64 hex.
    id: 'linear-oauth-token',
    description: 'Linear OAuth access token',
    provider: 'linear',
    keywords: ['lin_oauth_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>lin_oauth_[a-f0-9]{64})(?![A-Za-z0-9_-])`,
    entropy: 3,
    migrate: 'linear',
    truePositives: [
      'LINEAR_TOKEN=lin_oauth_afe8f2f4f47fda940aad3b42adf1ad6a96c24e1e3aab3c892d47a4d2fc92f4bc',
      'Authorization: Bearer lin_oauth_51f5456385a32e78c0d218182aaf123c1e09caf14eba781efa14d58dbb5eedd0',
    ],
    falsePositives: ['lin_oauth_216cb3d49a680e3fe141dc06b576ec9ee6a80439', 'LINEAR_TOKEN=lin_oauth_<token>'],
  },
  {
    // Legacy Notion integration tokens: secret_ + 43 base62. Other services use secret_ too, so Notion must be mentioned near.
    id: 'notion-integration-token',
    description: 'Notion integration token (legacy format)',
    provider: 'notion',
    keywords: ['notion'],
    window: { before: 256, after: 256 },
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>secret_[A-Za-z0-9]{43})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'notion',
    truePositives: [
      'NOTION_TOKEN=secret_sqbmTQj8A9RqNzGqwRV0JdHZqB35MXTNX9FeLXdqMSb',
      "const { Client } = require('@notionhq/client');\nconst notion = new Client({ auth: 'secret_gARFGwJs4zGCfodRUrnMYrlyefbfXvO7kZfr1Y9oX51' });",
    ],
    falsePositives: ['NOTION_TOKEN=secret_ywJmajTFQvE1jqQYQeOEYqNdb9HSCj', 'CLIENT_SECRET=secret_BuiIXnPCumu0WW2Z6LFCGCA5WvFf4Euz6YzkqSVJ9mv', 'NOTION_TOKEN=secret_...'],
  },
  {
    // Current Notion tokens: ntn_ + 11 digits + 35 base62.
    id: 'notion-api-token',
    description: 'Notion API token',
    provider: 'notion',
    keywords: ['ntn_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>ntn_[0-9]{11}[A-Za-z0-9]{35})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'notion',
    truePositives: ['NOTION_API_KEY=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', 'notion = Client(auth="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")'],
    falsePositives: ['ntn_number = models.CharField()', 'NOTION_API_KEY=ntn_w6UkOOAObGjHiMODzSlNCab1FfaXJ2YO50MkTI28ay3yIu', 'NOTION_API_KEY=ntn_…'],
  },
  {
    // Airtable personal access tokens: pat + 14 base62 (token id) + . + 64 hex; near a mention of Airtable.
    id: 'airtable-pat',
    description: 'Airtable personal access token',
    provider: 'airtable',
    keywords: ['airtable'],
    window: { before: 256, after: 256 },
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>pat[A-Za-z0-9]{14}\.[a-f0-9]{64})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'airtable',
    truePositives: [
      'AIRTABLE_TOKEN=patMkWdG15maVjMbZ.b67e7018f6f26931b83e003ce611360720f1962aab3e10734000387a0bb65f21',
      "const base = new Airtable({ apiKey: 'patpeBqF7oORidRqJ.696c8c452c1b0a103f9574a3c30eb0e33512556e713949eeee07b2140cc4c215' }).base('app123');",
    ],
    falsePositives: [
      'AIRTABLE_TOKEN=patUSiWmlUdGXVIpM',
      'AIRTABLE_BASE_ID=app7mmOPMIZvqOVKJ',
      'TOKEN=pats5tOa5PwCLl4K7.e1779e889e8ff06bf6ff5673d5590b7f4dbc84826e7fb7283b63fe8ea6c6c7a8',
    ],
  },
  {
    // Asana personal access tokens: 1/<user gid>:<32 hex>, 2/<user gid>/<token gid>:<32 hex>, or the
    // oldest 0/<32 hex>; near a mention of Asana.
    id: 'asana-pat',
    description: 'Asana personal access token',
    provider: 'asana',
    keywords: ['asana'],
    window: { before: 256, after: 256 },
    pattern: re`(?<![A-Za-z0-9/])(?<secret>[0-9]/[0-9]{12,19}(?:/[0-9]{12,19})?:[0-9a-f]{32}|0/[0-9a-f]{32})(?![A-Za-z0-9])`,
    entropy: 3,
    migrate: 'asana',
    truePositives: [
      'ASANA_ACCESS_TOKEN=2/8621928858132714/9030672953603345:585f61e9938fe3b17563d7682be614ea',
      'client = asana.Client.access_token("1/8055193405940260:88396327b2913e7d9945cb4a10c9d946")',
    ],
    falsePositives: [
      'ASANA_WORKSPACE=2258994566360147',
      'ASANA_ACCESS_TOKEN=1/7319607775343520:a11d5c914a9a8c304f66',
      'ratio = 1/3457765479362438:2a0778e368c0c2da850bce6e31a35201',
    ],
  },
  {
    // Figma personal access tokens: figd_ + ~40 base64url.
    id: 'figma-pat',
    description: 'Figma personal access token',
    provider: 'figma',
    keywords: ['figd_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>figd_[A-Za-z0-9_-]{36,64})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'figma',
    truePositives: [
      'FIGMA_FILE_KEY=n0DUduQJLKoPEsZkh7XFmA\nFIGMA_TOKEN=figd_DwYCy23cQ3HRmNBqnLVRHhW3BQA92Os5ZOxWIOCT',
      "-H 'X-Figma-Token: figd_82xe8TtRkbOyWQgUWXI174AmC5yxdH6ADZq7nxFss2'",
    ],
    falsePositives: ['export FIGMA_TOKEN=figd_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'FIGMA_TOKEN=figd_…', 'FIGMA_TOKEN=figd_05WtIGwr9esfTOuMiH5y'],
  },
  {
    // Dropbox short-lived access tokens: sl. (or sl.u.) + a long base64url body; near a mention of Dropbox.
    id: 'dropbox-short-lived-token',
    description: 'Dropbox short-lived access token',
    provider: 'dropbox',
    keywords: ['dropbox'],
    window: { before: 256, after: 256 },
    pattern: re`(?<![A-Za-z0-9_.-])(?<secret>sl\.(?:u\.)?[A-Za-z0-9_-]{130,1400})(?![A-Za-z0-9_-])`,
    entropy: 4,
    migrate: 'dropbox',
    truePositives: [
      'DROPBOX_APP_KEY=y0foonx24omwknx\nDROPBOX_ACCESS_TOKEN=sl.tGC9vxLo-qXckfWvju_LVuevAnJpeO2qv38yN83ub14eJ95641Pxx2q4MFI7oxNOkZEQ9Mr49eASzO43UO_rHS_oZhivn_ZhfN8USJduksRRotCLdGsRh7gPg4iGwxfxjNccS5eY',
      'dbx = dropbox.Dropbox("sl.u.OuS6YxKc3sk1GWpk90h08MWZy7Ig1GczAz_5xj6bgLpXNGE29TlCdn_ykl0cmsEai_dB_CQawzu5BVptKIHgDFS4BqFCBPhpDk6nrxyqfVH99feQlDyxPaWSwobYZPIlZt4vY98WH5wcSc7QruDIZnGnQ9a-VWfs7i1kyxrN_KWmty09nZH6HE4Wu87GFyaMiAE1TY-d9CDTfxPoMM5oQ7O-f6zk-lSpqvY4V0tYdpieHO-1521T0YgilgMWH0cEVby7BSA9rdvP6ULLakiMfFD6qyLean1pXSEgsGHYqVjZQhrl88p09K8QNJ8azKHXNqg5Vl_z0p_-iBOlYx-GawUhii15Aq9UyxdPdgSg6cMPWZwIeop6S7MWsOXWTYgt1oOfS33iQiZO7bww")',
    ],
    falsePositives: [
      'DROPBOX_ACCESS_TOKEN=sl.RX5k_IeVGV6h87TSy6TcoZDwTEqQydakiYPGmC64',
      'DROPBOX_ACCESS_TOKEN=sl.xxxxx',
      'TOKEN=sl.GaVgw3xL6d4zsvaSMLIKTdMNwl6GthBYARzKhhA5qcgHWzSbMlNs5herQCI7GMMP-d8yxlugpYJnQFG0fHuw0KEv4SiQwEH1K9HbZ7v5G3OTZPgG1_uimnPzmJYtbpkR1Jccvu1M',
    ],
  },
  {
    // Dropbox long-lived tokens (no longer issued, still valid): 64 base64url named next to Dropbox.
    // Real ones carry a run of ten "A"s in the middle, so the repeated-character filter is off.
    id: 'dropbox-long-lived-token',
    description: 'Dropbox long-lived access token',
    provider: 'dropbox',
    keywords: ['dropbox'],
    pattern: re`(?<![A-Za-z0-9])dropbox[\w.-]{0,30}(?:token|key|secret)[\w.-]{0,10}${ASSIGN}(?<secret>[A-Za-z0-9_-]{64})(?![A-Za-z0-9_-])`,
    flags: 'i',
    entropy: 3.5,
    filters: false,
    migrate: 'dropbox',
    truePositives: [
      'DROPBOX_ACCESS_TOKEN=N4cVsYOd0VfAAAAAAAAAAW5jR2iG7JEJRTaMDUROTmAq18Ys_5NC42qLK8JG8Jef',
      'dropbox_token: "jy3gwv1C7R4AAAAAAAAAA0yA6IFfiNKAcY-QeR3kWUlLwbQ2qdQPNMkOJfDsknh8"',
    ],
    falsePositives: [
      'DROPBOX_ACCESS_TOKEN=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      'DROPBOX_APP_KEY=6eci55k9tk7yo5d',
      'DROPBOX_ACCESS_TOKEN=N3B4QnzyMorh752U2MQBOKUwj3g3CyHWEvA4AZkd',
    ],
  },
  {
    // HubSpot private app tokens: pat-<region><n>- + UUID.
    id: 'hubspot-private-app-token',
    description: 'HubSpot private app access token',
    provider: 'hubspot',
    keywords: ['pat-na', 'pat-eu', 'pat-ap'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>pat-(?:na|eu|ap)[0-9]-${UUID})(?![A-Za-z0-9-])`,
    entropy: 3,
    migrate: 'hubspot',
    truePositives: ['HUBSPOT_ACCESS_TOKEN=pat-na1-5b3f3e42-116b-4174-b440-366149e23819', 'Authorization: Bearer pat-eu1-463ef1fd-842e-45d3-ab82-f9ed4918dee8'],
    falsePositives: ['HUBSPOT_ACCESS_TOKEN=pat-na1-...', 'pat-na1-cd9b5bee12b7dd531cac1bacadfc2e7d', 'compat-na1-0b192c56-ffa2-4bce-9cfb-8d1888cb642f'],
  },
  {
    // Salesforce session ids / OAuth access tokens: 00D + 12-15 (org id) + ! + ~96 characters; near a
    // mention of Salesforce.
    id: 'salesforce-access-token',
    description: 'Salesforce session id or access token',
    provider: 'salesforce',
    keywords: ['salesforce', 'force.com', 'sfdc', 'sf_access_token', 'sf_session'],
    window: { before: 512, after: 512 },
    pattern: re`(?<![A-Za-z0-9])(?<secret>00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{80,200})(?![A-Za-z0-9._])`,
    entropy: 4,
    migrate: 'salesforce',
    truePositives: [
      'SF_INSTANCE_URL=https://acme.my.salesforce.com\nSF_ACCESS_TOKEN=00D0K5YfHx5EFajNIv!ARKBAHqlcGMZCAploqszSoqAvjnI7LNf.0CflSkny79jg3LKMVeXM0aygToLYv8nkSrQOOYDmLSU53JbwtDjKBuJkeRP2DZGw',
      'curl https://acme.my.salesforce.com/services/data/v60.0/ -H "Authorization: Bearer 00DE1EWmF2JzasF!AQMeAA0QftFzWn9q4STKCkdoKWiqBhaiKdK9PTLpGo.WIZ7lRHdPf0P2Fv9Icaz155KZ0tOSVIa8AwThwOHVXfKDqOobhLlEeL0"',
    ],
    falsePositives: [
      'SF_ACCESS_TOKEN=00DgIp9XIeWmhQNkEH',
      'SFDC_ORG_ID=00D7QBxYoDJTEIFCNL',
      'TOKEN=00D3zxUdTXy9pSvhK6!ARH9ym8gWrJVHgF67lbMj3VPH12lsUkT.tzhTBJ10oSVvN0kmKMONFSvnKDVxGl2X7kpDif3VI3tFxmxZe7nOWx3aW5Co9hnT',
    ],
  },
  {
    // Zoom OAuth / Server-to-Server client secrets and API secrets: 32 base62 named next to Zoom.
    id: 'zoom-client-secret',
    description: 'Zoom client secret',
    provider: 'zoom',
    keywords: ['zoom'],
    pattern: re`(?<![A-Za-z0-9])zoom[\w.-]{0,30}(?:client[_.-]?secret|api[_.-]?secret)[\w.-]{0,10}${ASSIGN}(?<secret>[A-Za-z0-9]{32})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3.5,
    migrate: 'zoom',
    truePositives: ['ZOOM_CLIENT_SECRET=PtjmORz7xhl11K5BwRVZI6ldpKCa0Hbz', 'zoom_api_secret: "Acf0zxfCA5PiQ0pMK2nSFX6L2Z7OX4Mq"'],
    falsePositives: ['ZOOM_CLIENT_ID=5lQWdRsSK0h2HR36nbA5CI', 'ZOOM_CLIENT_SECRET=PtAo3uzbT4po240tV9mw', 'zoom: 1.5;'],
  },
  {
    // Okta API tokens: 00 + 40 base64url, sent with the SSWS scheme or named next to Okta.
    id: 'okta-api-token',
    description: 'Okta API token',
    provider: 'okta',
    keywords: ['ssws', 'okta'],
    pattern: re`(?:SSWS\s{1,4}|(?<![A-Za-z0-9])okta[\w.-]{0,30}(?:token|key)[\w.-]{0,10}${ASSIGN})(?<secret>00[A-Za-z0-9_-]{40})(?![A-Za-z0-9_-])`,
    flags: 'i',
    entropy: 3.5,
    migrate: 'okta',
    truePositives: [
      'OKTA_API_TOKEN=00YTWbGfiVLUH08YTqe8DksLxOzOqcAwOkJu8dtOgW',
      'curl -H "Authorization: SSWS 00TuggYCCp3T4Zs3qbtvU9OvjWA4v7U7CqArbAi52T" https://acme.okta.com/api/v1/users',
    ],
    falsePositives: ['OKTA_CLIENT_ID=0oa5l6CCUo3wzmltztp1', 'OKTA_API_TOKEN=00QTfoHgmuItG4fKAXGiOs', 'Authorization: SSWS ${OKTA_TOKEN}'],
  },
  {
    // Auth0 application client secrets: 64 base64url named next to Auth0 (AUTH0_SECRET session keys match too).
    id: 'auth0-client-secret',
    description: 'Auth0 client secret',
    provider: 'auth0',
    keywords: ['auth0'],
    pattern: re`(?<![A-Za-z0-9])auth0[\w.-]{0,30}secret[\w.-]{0,10}${ASSIGN}(?<secret>[A-Za-z0-9_-]{64})(?![A-Za-z0-9_-])`,
    flags: 'i',
    entropy: 3.5,
    migrate: 'auth0',
    truePositives: [
      'AUTH0_CLIENT_SECRET=Yw1PkBkDaIJpA8NqN48XpSTRmg5lAvC3t_c90m5Y7zDmPYf3dHcf9gzWL7aZZ_oI',
      'auth0_client_secret: "AUKbsk0T7w6L3cOTqK1e05EA1fIFxl9FWCsYSPLOOLRSOxdPDO3y5idoXQq3TaM4"',
    ],
    falsePositives: [
      'AUTH0_CLIENT_ID=BSiFPxpbPKhw27e1E5bd8LHgLfKgSy13',
      'AUTH0_CLIENT_SECRET=${AUTH0_CLIENT_SECRET}',
      'AUTH0_CLIENT_SECRET=dXW1C9GvB3D013jhQFtZa8DwUqzrKY7kEiplBmkh',
    ],
  },
  {
    // Clerk secret keys share Stripe's sk_live_/sk_test_ prefixes: only a name saying Clerk tells them
    // apart (the Stripe rules step aside for exactly this context).
    id: 'clerk-secret-key',
    description: 'Clerk secret key',
    provider: 'clerk',
    keywords: ['clerk'],
    pattern: re`(?<![A-Za-z0-9])clerk[\w.-]{0,30}${ASSIGN}(?<secret>sk_(?:live|test)_[A-Za-z0-9]{40,50})(?![A-Za-z0-9_-])`,
    flags: 'i',
    entropy: 3.5,
    migrate: 'clerk',
    truePositives: ['CLERK_SECRET_KEY=sk_live_1enHTmdfuv2ogyS0xj9S4eEc3qQeqpfdB3EH7asWYU', 'clerk_secret_key: "sk_test_dnyfDK1oGCzLr2CpgxFfG21uYU94whiR4m173dyIvpsVLE"'],
    falsePositives: [
      'NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY=pk_live_PEKnXS6tEPZCVa7msXqNYIjnG9C3CXQ0LHAjqelZXX',
      'CLERK_SECRET_KEY=sk_live_...',
      'STRIPE_SECRET_KEY=sk_live_5sz5hQnDFRGvfg10NhSYavOzdnlwMtAD9bjfLgF7Jm',
    ],
  },
  {
    // Contentful personal access tokens (Content Management API): CFPAT- + 43 base64url.
    id: 'contentful-pat',
    description: 'Contentful personal access token',
    provider: 'contentful',
    keywords: ['cfpat-'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>CFPAT-[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'contentful',
    truePositives: ['CONTENTFUL_MANAGEMENT_TOKEN=CFPAT-GoOFlnMstRlUnWVhaB6XgYHkCQ2kGV3SZs8H1-fooa6', "accessToken: 'CFPAT-HN4FZfLpym60yXGXBh4McF5DE8b04dH7bm4OTAHPuWn'"],
    falsePositives: ['CONTENTFUL_MANAGEMENT_TOKEN=CFPAT-...', 'CFPAT-amrSSUDrTf7lVuGKh99S'],
  },
  {
    // Algolia admin and write API keys: 32 hex. Search-only keys are meant for browsers and are skipped.
    id: 'algolia-admin-key',
    description: 'Algolia admin or write API key',
    provider: 'algolia',
    keywords: ['algolia'],
    pattern: re`(?<![A-Za-z0-9])algolia[\w.-]{0,30}(?:admin|write|secret)[\w.-]{0,15}${ASSIGN}(?<secret>[a-f0-9]{32})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3,
    migrate: 'algolia',
    truePositives: ['ALGOLIA_ADMIN_KEY=b48fffa84d5046424bfb7399ed96ecff', 'algolia_write_api_key: "e8a1a7d4061fc55e454700cf6a28f47f"'],
    falsePositives: ['ALGOLIA_SEARCH_KEY=fda4cf7f62e0683a9e585b997d46c147', 'ALGOLIA_APP_ID=DQN5E5J8HG', 'ALGOLIA_ADMIN_KEY=45d1ce6e772fb3a8a135'],
  },
  {
    // Mapbox secret tokens: sk. + base64url JSON {"u":…,"a":…} + . + 22 base64url. Public tokens (pk.) are skipped.
    id: 'mapbox-secret-token',
    description: 'Mapbox secret access token',
    provider: 'mapbox',
    keywords: ['sk.eyj'],
    pattern: re`(?<![A-Za-z0-9_.-])(?<secret>sk\.eyJ[A-Za-z0-9_-]{20,300}\.[A-Za-z0-9_-]{20,40})(?![A-Za-z0-9_.-])`,
    entropy: 4,
    migrate: 'mapbox',
    truePositives: [
      'MAPBOX_DOWNLOADS_TOKEN=sk.eyJ1IjoiYWNtZS1sc255bCIsImEiOiJ1d2l3dHJmanUybXpnZXZwbW1oZzVpbjdiIn0.nzOiaw39Idh2TJiIGbM7VT',
      'mapbox_secret_token: "sk.eyJ1IjoiYWNtZS1ic3FxdSIsImEiOiJkbHV3ZzJpMnRzNHlrM2d5NDZjM2JxcGlkIn0.wj-0cbhnGsuuK3zpF1ZFtL"',
    ],
    falsePositives: [
      'MAPBOX_ACCESS_TOKEN=pk.eyJ1IjoiYWNtZS11b3prYSIsImEiOiJlcGNidDI2ZmMwZzUxanZoZW40N212ZXk1In0.gu07qrHjEGyAEgOgw0tRP6',
      'MAPBOX_DOWNLOADS_TOKEN=sk.eyJ...',
      'sk.eyJ1IjoiYWNtZSJ9',
    ],
  },
  {
    // Typeform personal access tokens: tfp_ + 40-64 base64url characters.
    id: 'typeform-pat',
    description: 'Typeform personal access token',
    provider: 'typeform',
    keywords: ['tfp_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>tfp_[A-Za-z0-9_-]{40,64})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'typeform',
    truePositives: ['TYPEFORM_TOKEN=tfp_nyl4uuQjGMQDCluDWAMxUUXXZvPpZBfBPtM2R4jdtTRL_AfqnmWBWTs6c8b', 'Authorization: Bearer tfp_VPAOZEPrRxl554UvSROCjQoU9uY75qlYNO6UfEwC7s5k'],
    falsePositives: ['TYPEFORM_TOKEN=tfp_qiBeYztejAEsRoD40bgf', 'TYPEFORM_TOKEN=tfp_...'],
  },
  {
    // Shippo API tokens: shippo_live_ or shippo_test_ + 40 hex.
    id: 'shippo-api-token',
    description: 'Shippo API token',
    provider: 'shippo',
    keywords: ['shippo_live_', 'shippo_test_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>shippo_(?:live|test)_[a-f0-9]{40})(?![A-Za-z0-9_-])`,
    entropy: 3,
    migrate: 'shippo',
    truePositives: ['SHIPPO_API_KEY=shippo_live_4f7c4050b37e3e66add2f8f1f950a1daeadbe77b', 'shippo.config.api_key = "shippo_test_1053fc608b8277fbc2b44e88d169f59d5c600c0d"'],
    falsePositives: ['SHIPPO_API_KEY=shippo_live_55624ec2b3be23b41cb923c894d842', 'SHIPPO_API_KEY=shippo_live_<token>'],
  },
  {
    // EasyPost API keys: EZAK (production) or EZTK (test) + 54 base62.
    id: 'easypost-api-key',
    description: 'EasyPost API key',
    provider: 'easypost',
    keywords: ['ezak', 'eztk'],
    pattern: re`(?<![A-Za-z0-9])(?<secret>EZ[AT]K[A-Za-z0-9]{54})(?![A-Za-z0-9])`,
    entropy: 4,
    migrate: 'easypost',
    truePositives: [
      'EASYPOST_API_KEY=EZAK6lenUAMhGejJFpbH65CeqaJF6IKgNNY4lDHLcGhCkEzn5lFByHJQmS',
      "client = easypost.EasyPostClient('EZTKcH1h80s1Cc4h5DNmaDUyvGY07RmveW6QuARvOFMp8gpjX0DmDkP77u')",
    ],
    falsePositives: ['EASYPOST_API_KEY=EZAKf1lTSIPxkbkkX8a96SpcFxKMspfiAO', 'EASYPOST_API_KEY=EZAKxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'],
  },
  {
    // Twitch client secrets and OAuth tokens: 30 lower-case base36 (chat tokens are written oauth:<token>).
    id: 'twitch-oauth-token',
    description: 'Twitch client secret or OAuth token',
    provider: 'twitch',
    keywords: ['twitch'],
    pattern: re`(?<![A-Za-z0-9])twitch[\w.-]{0,30}(?:secret|token|oauth|password)[\w.-]{0,10}${ASSIGN}(?:oauth:)?(?<secret>[a-z0-9]{30})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3.5,
    migrate: 'twitch',
    truePositives: ['TWITCH_CLIENT_SECRET=mb1flbibs4jz2ehm9os2iy4klj82uu', 'twitch_oauth_token: "oauth:w2io0nsjvc5akil1ixr6vmqtmcrezf"'],
    falsePositives: ['TWITCH_CLIENT_ID=6n1zmrjqqk7h4qsge6ltk5g1rqpd6n', 'TWITCH_CLIENT_SECRET=a3fwet981jmrkfc9adgu', 'TWITCH_CHANNEL=acme'],
  },
  {
    // Zapier "Catch Hook" URLs: anyone holding one can trigger the Zap.
    id: 'zapier-webhook-url',
    description: 'Zapier webhook URL',
    provider: 'zapier',
    keywords: ['hooks.zapier.com/hooks/catch/'],
    pattern: re`(?<secret>https?://hooks\.zapier\.com/hooks/catch/[0-9]{4,12}/[a-z0-9]{4,12})(?![A-Za-z0-9])`,
    entropy: 3,
    truePositives: [
      'ZAPIER_WEBHOOK_URL=https://hooks.zapier.com/hooks/catch/28243679/l7zov0w/',
      'requests.post("https://hooks.zapier.com/hooks/catch/8980855/9ljvp4", json=payload)',
    ],
    falsePositives: ['https://hooks.zapier.com/hooks/catch/', 'https://hooks.zapier.com/hooks/catch/123/'],
  },
  {
    // Confluent Cloud API secrets: 64 base64 characters named next to Confluent.
    id: 'confluent-api-secret',
    description: 'Confluent Cloud API secret',
    provider: 'confluent',
    keywords: ['confluent'],
    pattern: re`(?<![A-Za-z0-9])confluent[\w.-]{0,30}secret[\w.-]{0,10}${ASSIGN}(?<secret>[A-Za-z0-9+/]{64})(?![A-Za-z0-9+/=])`,
    flags: 'i',
    entropy: 4,
    migrate: 'confluent',
    truePositives: [
      'CONFLUENT_CLOUD_API_SECRET=seFd+jJowLB6C1zm8KZNVEzuvfworPEFFadAjAfyP9hkwR/xfkg/8apHOjsm7cB7',
      'confluent_api_secret: "3F58JSXGqBm9yJC76RX4GZbpwl2L4Lvwrmxcf6DDhZw3ztXeMQhOiZVDw5xUJ8QQ"',
    ],
    falsePositives: ['CONFLUENT_CLOUD_API_KEY=AE0YY63JEBCLR604', 'CONFLUENT_CLOUD_API_SECRET=0BgEMjsxnOMWxlTm5QpgeDw+U5XnnV+knDVmD9W0', 'CONFLUENT_CLOUD_API_SECRET=${CC_SECRET}'],
  },
  {
    // MongoDB Atlas Administration API private keys are UUIDs, named as Atlas private keys.
    id: 'mongodb-atlas-private-key',
    description: 'MongoDB Atlas API private key',
    provider: 'mongodb',
    keywords: ['atlas'],
    pattern: re`(?<![A-Za-z0-9])atlas[\w.-]{0,30}private[\w.-]{0,15}${ASSIGN}(?<secret>${UUID})(?![A-Za-z0-9-])`,
    flags: 'i',
    entropy: 3,
    migrate: 'mongodb',
    truePositives: ['MONGODB_ATLAS_PRIVATE_KEY=dcc88de4-be1f-4d03-9dc6-b96c3302df68', 'atlas_private_api_key = "4384c9c6-053e-45f2-83c1-08f3f8fc0b8b"'],
    falsePositives: ['MONGODB_ATLAS_PUBLIC_KEY=k34kjl6l', 'MONGODB_ATLAS_PRIVATE_KEY=${ATLAS_PRIVATE_KEY}', 'ATLAS_PROJECT_ID=8d067e13e9e1e108c03900e8'],
  },
  {
    // Upstash REST tokens (Redis, Vector) and QStash tokens: long base64 named next to Upstash or QStash.
    id: 'upstash-token',
    description: 'Upstash REST or QStash token',
    provider: 'upstash',
    keywords: ['upstash', 'qstash'],
    pattern: re`(?<![A-Za-z0-9])(?:upstash|qstash)[\w.-]{0,30}token[\w.-]{0,10}${ASSIGN}(?<secret>[A-Za-z0-9_+/-]{40,300}={0,2})(?![A-Za-z0-9_+/=-])`,
    flags: 'i',
    entropy: 4,
    migrate: 'upstash',
    truePositives: [
      'UPSTASH_REDIS_REST_TOKEN=AoZ0lRTxdHpY5-rcQx1NabjC7LY_SV-4ENQ_JuU-eGoxRsXSavhF8HpjreJFU=',
      'QSTASH_TOKEN="zqTnUD2RgNYj6ms+diZ/ynQt7Zt4+xbi5HTRKYijzGkCEcsekdDahFp8oxV75ikKYSfxQshHMFeH3Uj8="',
    ],
    falsePositives: ['UPSTASH_REDIS_REST_URL=https://eu1-acme.upstash.io', 'UPSTASH_REDIS_REST_TOKEN=${UPSTASH_TOKEN}', 'UPSTASH_REDIS_REST_TOKEN=tlE6Tjwl0SMIt5DyJ8DW'],
  },
  {
    // Sanity API tokens: sk + a long base62 body, named next to Sanity.
    id: 'sanity-api-token',
    description: 'Sanity API token',
    provider: 'sanity',
    keywords: ['sanity'],
    pattern: re`(?<![A-Za-z0-9])sanity[\w.-]{0,30}(?:token|key)[\w.-]{0,10}${ASSIGN}(?<secret>sk[A-Za-z0-9]{60,250})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 4,
    migrate: 'sanity',
    truePositives: [
      'SANITY_API_TOKEN=sk5GRb3AJ9gRHggz6iG5pEXtpRRwAVoSo2qNrUqgwy9bfmbOGcCxCvOPpnYj42k4LhxnAPC4ojt0SdC468nzD54aWDnG0OYbuHju7CFTtdOO5DGyEmA8c2FkfNic5qwJXOSY0Iad3hh1daIPBKnxhHsaVUXBZHAWlkdmHnOcwwGY2CY2lreii5',
      'sanity_token: "skj2xDaNNoxEc1v11Ds2kqUp7ap88KtxUtahgX0zI62x5XGtZiCZTbwtmjYULc97ewhodKMkkKFBiYs0lstSeaXj6uUIIeTqjmWgFb"',
    ],
    falsePositives: ['SANITY_PROJECT_ID=mtufhtaf', 'SANITY_API_TOKEN=skwkWAfbcyE1QhgRQ7DfwW', 'sanity check token = skip'],
  },
  {
    // Intuit (QuickBooks) OAuth client secrets: 40 base62 named next to Intuit or QuickBooks.
    id: 'intuit-client-secret',
    description: 'Intuit (QuickBooks) client secret',
    provider: 'intuit',
    keywords: ['intuit', 'quickbooks', 'qbo_'],
    pattern: re`(?<![A-Za-z0-9])(?:intuit|quickbooks|qbo)[\w.-]{0,30}client[_.-]?secret[\w.-]{0,10}${ASSIGN}(?<secret>[A-Za-z0-9]{40})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3.5,
    migrate: 'intuit',
    truePositives: ['QUICKBOOKS_CLIENT_SECRET=ni0rNPOa1p0bN5x9Ux7Wbyh62eJcdtebIARPdpua', 'intuit_client_secret: "5yyzHN5DrWtj8zbmQXnAh2aFuSbskmTpgGpy2zft"'],
    falsePositives: [
      'QUICKBOOKS_CLIENT_ID=ABMe8uon5MBp4a6lhkTSK4fElTCbbFnWuge11Wgu4uWo4T49P3',
      'INTUIT_CLIENT_SECRET=hsk6hcGMlczoAQL8Fx2kv9sFPpE4A4',
      'QBO_CLIENT_SECRET=${QBO_SECRET}',
    ],
  },
];
