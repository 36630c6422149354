import type { Rule } from '../types.js';

const re = String.raw;

/** Between a name and its value: `=`, `:`, `=>` or `:=`, with optional quotes and spaces. */
const ASSIGN = re`["'\`]?\s{0,4}(?:[:=]|=>|:=)\s{0,4}["'\`]?`;

/**
 * Clerk secret keys share Stripe's `sk_live_`/`sk_test_` prefixes. A value assigned to a name
 * that says Clerk is left to `clerk-secret-key` (saas.ts); everything else stays Stripe's.
 */
const NOT_CLERK = re`(?<![Cc][Ll][Ee][Rr][Kk][\w.-]{0,30}${ASSIGN})`;

/** Paystack secret keys are `sk_live_`/`sk_test_` + exactly 40 lower-case hex: not Stripe's. */
const NOT_PAYSTACK = re`(?![a-f0-9]{40}(?![A-Za-z0-9]))`;

export const paymentRules: Rule[] = [
  {
    // Paystack: sk_live_/sk_test_ + 40 lower-case hex. Listed before Stripe, whose rules also
    // step aside for this exact shape, so the two never claim the same key.
    id: 'paystack-secret-key',
    description: 'Paystack secret key',
    provider: 'paystack',
    keywords: ['sk_live_', 'sk_test_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>sk_(?:live|test)_[a-f0-9]{40})(?![A-Za-z0-9_-])`,
    entropy: 3,
    migrate: 'paystack',
    truePositives: [
      'PAYSTACK_SECRET_KEY=sk_live_2adf9dfe9193a26c6255c8c79e4f0e22acf56773',
      "headers: { Authorization: 'Bearer sk_test_c3beeba054aad3dbe925070fa50d54500cb2ba30' }",
    ],
    falsePositives: [
      'PAYSTACK_SECRET_KEY=sk_live_eabb4c0bae0effcda5b296e1f616404d5f09fcd',
      'PAYSTACK_PUBLIC_KEY=pk_live_5639cd4d35980c63d8085132ab3c37ecb1915073',
      'STRIPE_SECRET_KEY=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',
      'sk_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
    ],
  },
  {
    // Stripe live secret keys: sk_live_ + 24 (older accounts) to 247 base62 characters (current keys are ~99).
    id: 'stripe-secret-key',
    description: 'Stripe live secret key',
    provider: 'stripe',
    keywords: ['sk_live_'],
    pattern: re`(?<![A-Za-z0-9_-])${NOT_CLERK}(?<secret>sk_live_${NOT_PAYSTACK}[A-Za-z0-9]{24,247})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'stripe',
    truePositives: [
      'STRIPE_SECRET_KEY=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',
      'stripe.api_key = "sk_live_G2Il5O9kbyKdYjZcAJzcvzE5"',
      'curl https://api.stripe.com/v1/charges -u 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:',
    ],
    falsePositives: [
      'STRIPE_SECRET_KEY=sk_live_xxxxxxxxxxxxxxxxxxxxxxxx',
      'STRIPE_SECRET_KEY=sk_live_hbJh4tqlbICPeMVTmUbM',
      'STRIPE_PUBLISHABLE_KEY=pk_live_51R851FPsTo2YXFFxh8khAsC90NMXTSMdWk1HDZGuz33EnRZXLHFsDYxaFJUZh3kvqqq25mfx8zwTvJS9qkZoPlO0WU2Dv6RTnE',
      'PAYSTACK_SECRET_KEY=sk_live_7161a462e4dca1daffd9daee3e4854daa2f328a4',
      'CLERK_SECRET_KEY=sk_live_clS6W0YZrDKMT1zVl68FBKaXOKSdwfzW9u9yWT0Xce',
    ],
  },
  {
    id: 'stripe-restricted-key',
    description: 'Stripe live restricted API key',
    provider: 'stripe',
    keywords: ['rk_live_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>rk_live_[A-Za-z0-9]{24,247})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'stripe',
    truePositives: [
      'STRIPE_RESTRICTED_KEY=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',
      '"stripeKey": "rk_live_rCWoQS7XKMU3zSbX2iISN3DR"',
    ],
    falsePositives: ['rk_live_fL35t6WulZmEBBcG', 'STRIPE_KEY=rk_live_...', 'rk_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'],
  },
  {
    // Test-mode keys move no money but still read and write test data: reported under their own id.
    id: 'stripe-test-key',
    description: 'Stripe test-mode secret or restricted key',
    provider: 'stripe',
    keywords: ['sk_test_', 'rk_test_'],
    pattern: re`(?<![A-Za-z0-9_-])${NOT_CLERK}(?<secret>[sr]k_test_${NOT_PAYSTACK}[A-Za-z0-9]{24,247})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'stripe',
    truePositives: [
      'STRIPE_SECRET_KEY=sk_test_51uo7sj758U43klAuBC2ZGRSXgrUuXWyDCj4IOHogGVctUvWd3wZNHrhwUSoTpCogBbZHYUBAGINNKnoRt10kXL7r1rl5jKNgVF',
      "Stripe.api_key = 'rk_test_iGupAtVSRLmPLH61rZoxtoVD'",
    ],
    falsePositives: [
      'Stripe.api_key = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"', // Stripe's documented key
      'sk_test_BQokikJOvBiI2HlWgH4olfQ2',
      'STRIPE_PUBLISHABLE_KEY=pk_test_51CBpcdmHrpW6UuyJjPq0DK2S1cTGdWRLzp6Gs8zDfDjTDTTymoL4B1kCsr2u2zMgx7epweZQVPW2ImyOCiQaw9bChvvguhFrDw',
      'PAYSTACK_SECRET_KEY=sk_test_dd95cdbcfc46c041a9dfe85e6d2fa07379c02231',
      'CLERK_SECRET_KEY=sk_test_eCT35ePOvIrmb7rY1AQaQjeeohyFjRH6jjU6khuT8k',
    ],
  },
  {
    // Endpoint signing secrets: whsec_ + 32 base62 (Dashboard), 64 hex (Stripe CLI) or base64 (Svix-style).
    id: 'stripe-webhook-secret',
    description: 'Stripe (or Svix-style) webhook signing secret',
    provider: 'stripe',
    keywords: ['whsec_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>whsec_[A-Za-z0-9+/]{32,88}={0,2})(?![A-Za-z0-9+/=_-])`,
    entropy: 3.5,
    truePositives: ['STRIPE_WEBHOOK_SECRET=whsec_40VxTZR8SiBAgDpY8sLlMfjXTSDQLmi1', "endpoint_secret = 'whsec_7797e5ffa9d2a89ebedd6676b88849fc98214fd7aa853ba0e3d3626957cde899'"],
    falsePositives: ['STRIPE_WEBHOOK_SECRET=whsec_...', 'whsec_cE7BpQzZaM298UQDSvmC', 'STRIPE_WEBHOOK_SECRET=whsec_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'],
  },
  {
    // PayPal checkout through Braintree: access_token$<environment>$<16 merchant id>$<32 hex>.
    id: 'braintree-access-token',
    description: 'Braintree (PayPal) access token',
    provider: 'braintree',
    keywords: ['access_token$production$', 'access_token$sandbox$'],
    pattern: re`(?<![A-Za-z0-9_])(?<secret>access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32})(?![A-Za-z0-9])`,
    entropy: 3,
    migrate: 'braintree',
    truePositives: [
      'BRAINTREE_ACCESS_TOKEN=access_token$production$icuy39el32zue2vv$916765d8aece964a403c93fc2b4f8c1d',
      'gateway = braintree.BraintreeGateway(access_token="access_token$production$lwu32w9hzalp1lbf$89b18cc89495b720c8ccbda89da715a0")',
    ],
    falsePositives: [
      'access_token$production$i8aonx6oinrmiw2w$38f61615f2dbc878364bbd80fe59ce9',
      'access_token$production$<merchant_id>$<token>',
      'access_token$staging$bmxe1xz0e39avw4f$23b12ce51f5918312bf8b56afd940169',
    ],
  },
  {
    // Legacy Square personal access tokens: sq0atp- + 22 base64url.
    id: 'square-legacy-access-token',
    description: 'Square legacy access token',
    provider: 'square',
    keywords: ['sq0atp-'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>sq0atp-[A-Za-z0-9_-]{22})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'square',
    truePositives: ['SQUARE_ACCESS_TOKEN=sq0atp-C2oV882DV3NWXx94ss0FQV', '"accessToken": "sq0atp-8Zu0nPHgKAplCs3PnfXsVQ"'],
    falsePositives: ['sq0atp-p8CE4bh9mtOEDLWCNq', 'sq0atp-XXXXXXXXXXXXXXXXXXXXXX', 'sq0idp-RHDmKimbpi46EcQW7fXIjr'],
  },
  {
    // Current Square access tokens (personal and OAuth) are 64 characters starting with EAAA.
    // Other services use EAA… prefixes too, so a name saying Square must come first.
    id: 'square-access-token',
    description: 'Square access token',
    provider: 'square',
    keywords: ['square'],
    pattern: re`(?<![A-Za-z0-9])square[\w.-]{0,30}${ASSIGN}(?:Bearer\s{1,4})?(?<secret>EAAA[A-Za-z0-9_-]{60})(?![A-Za-z0-9_-])`,
    flags: 'i',
    entropy: 3.5,
    migrate: 'square',
    truePositives: [
      'SQUARE_ACCESS_TOKEN=EAAAPRJFRd8TKV_GjKWNy6qiCIfT7DhcSSiwRlS7ZC2fFa88UrjgexSVEoe3s43i',
      'square_access_token: "EAAAoNwCC2kOTaI47x1gQkkbnetWzjPrvpR8PHxscsvWGQ4Jm3zKrirWbbHEPS2B"',
    ],
    falsePositives: [
      'SQUARE_ACCESS_TOKEN=EAAA8UU3XbBIKibcULuqV0Otkf4pCI1YMbKh2muZxkMB',
      'FACEBOOK_TOKEN=EAAA7MXSlklmCdTZs9ptLa9Sn39XUCTFlkjMKFcOPFn63nVKSI8CMVNg8vgl4OEO',
      'SQUARE_ACCESS_TOKEN=EAAAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
    ],
  },
  {
    // Square OAuth application secrets: sq0csp- + 43 base64url.
    id: 'square-oauth-secret',
    description: 'Square OAuth application secret',
    provider: 'square',
    keywords: ['sq0csp-'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>sq0csp-[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'square',
    truePositives: ['SQUARE_APPLICATION_SECRET=sq0csp-77Wj4EiAp1_FL3JH7boE8_lEd5TjxdZP8B9pxdXXJfp', "client_secret: 'sq0csp-FoY8QCWqW1IlvEDWEttsJwivJ2qhhJxwD0t4n4OPAVa'"],
    falsePositives: ['sq0csp-mu1CJfStmuwdxX6JxSjkEn0pDbhLAa', 'SQUARE_APPLICATION_SECRET=sq0csp-...', 'sq0csp-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX'],
  },
  {
    // Adyen API keys: AQE + base64 (ending "==") + "-" + 43 base64 + "=" + "-" + a short printable
    // tail. The two base64 parts with their padding and dashes make the shape specific on its own.
    id: 'adyen-api-key',
    description: 'Adyen API key',
    provider: 'adyen',
    keywords: ['aqe'],
    pattern: re`(?<![A-Za-z0-9+/])(?<secret>AQE[A-Za-z0-9+/]{40,160}={0,2}-[A-Za-z0-9+/]{43}=(?:-[^\s"'\`]{8,32})?)`,
    entropy: 4,
    migrate: 'adyen',
    truePositives: [
      "const config = new Config();\nconfig.apiKey = 'AQEMzhQCh4OZ7qKirs1KvsA5FDB/bNxlAOJKRJKXGd//wUYBUIIsBi9by5Xj4z5PWjUcJuoo6XEtakiXz60gY/g1xUpTZtWDHcta==-hNOn4xGkNVZ4L9n1YIlLze5UVKLxZZmv3yDrSbZfiPc=-OdxCw5*z1Hr~sG3et';",
      '"X-API-Key: AQERC4SUXr0jdIdCaTQapD6eFsoNhd98HauwzzufGSHAXqDNQPT31b4C78hH7b2/ZlvDrlnF6AXPlb/dri5iSsoCMTVGoyt3DPUR==-0PaCgrXn5QKY2irbjTloHOWPX8O2EM9e2uHaBsg5sQN=-ah29su*3vuW~H8kFl",',
    ],
    falsePositives: [
      'ADYEN_API_KEY=AQE...',
      'ADYEN_API_KEY=AQEoJWctsmuSwjlDWmKio6CPvie5cFF89mZfPJ2LYtQUvD+fRnQF4Gx6figjyYo',
      'ADYEN_CLIENT_KEY=live_HVE2WX53ZB6164WP1P3ZUBGZLW0CRTGH',
    ],
  },
  {
    // Razorpay: the key id (rzp_live_/rzp_test_ + 14) is not secret; the 24-character key secret is.
    // Found next to a name saying Razorpay, or paired with a key id as in `Client(auth=(id, secret))`.
    id: 'razorpay-key-secret',
    description: 'Razorpay API key secret',
    provider: 'razorpay',
    keywords: ['razorpay', 'rzp_live_', 'rzp_test_'],
    pattern: re`(?:(?<![A-Za-z0-9])razorpay[\w.-]{0,30}secret[\w.-]{0,10}${ASSIGN}|rzp_(?:live|test)_[A-Za-z0-9]{14}["'\`]?\s{0,4}[,:]\s{0,4}["'\`]?)(?<secret>[A-Za-z0-9]{24})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3.5,
    migrate: 'razorpay',
    truePositives: ['RAZORPAY_KEY_SECRET=IR513eQHLbtwpGlDGI6BPnDp', 'client = razorpay.Client(auth=("rzp_live_PAPS4RZMoJjn7w", "9GeetI6MqqLdOopwat38P0pe"))'],
    falsePositives: ['RAZORPAY_KEY_ID=rzp_live_EJY1V2icp8nQC9', 'RAZORPAY_KEY_SECRET=${RAZORPAY_SECRET}', 'RAZORPAY_KEY_SECRET=XMR05BpOBCPt4WhJOMd9'],
  },
  {
    // Shopify access tokens: shpat_ (public apps), shpca_ (custom apps), shppa_ (private apps) + 32 hex.
    id: 'shopify-access-token',
    description: 'Shopify Admin API access token',
    provider: 'shopify',
    keywords: ['shpat_', 'shpca_', 'shppa_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>shp(?:at|ca|pa)_[a-fA-F0-9]{32})(?![A-Za-z0-9_-])`,
    entropy: 3,
    migrate: 'shopify',
    truePositives: [
      'SHOPIFY_ACCESS_TOKEN=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',
      "'X-Shopify-Access-Token': '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'",
      'password = "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"',
    ],
    falsePositives: ['SHOPIFY_ACCESS_TOKEN=shpat_c8645cd0b4e9865ce48421e528f27a3', 'shpat_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', '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0'],
  },
  {
    // Shopify app shared secrets (used to sign webhooks and OAuth): shpss_ + 32 hex.
    id: 'shopify-shared-secret',
    description: 'Shopify app shared secret',
    provider: 'shopify',
    keywords: ['shpss_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>shpss_[a-fA-F0-9]{32})(?![A-Za-z0-9_-])`,
    entropy: 3,
    truePositives: ['SHOPIFY_API_SECRET=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', 'api_secret_key: "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"'],
    falsePositives: ['SHOPIFY_API_SECRET=shpss_645698fee3fc7fb33c841c50', 'shpss_<secret>'],
  },
  {
    // Plaid API secrets: 30 hex, named as such next to Plaid.
    id: 'plaid-secret',
    description: 'Plaid API secret',
    provider: 'plaid',
    keywords: ['plaid'],
    pattern: re`(?<![A-Za-z0-9])plaid[\w.-]{0,30}secret[\w.-]{0,10}${ASSIGN}(?<secret>[a-f0-9]{30})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3,
    migrate: 'plaid',
    truePositives: ['PLAID_SECRET=da527dea4cbcfba929de1e25f2b07f', '"plaid_secret": "adf7eedcde5fac9ac5f4a1fd7b0024"'],
    falsePositives: ['PLAID_CLIENT_ID=d87192c9e7e1bfb6891cf666', 'PLAID_SECRET=8ff6247a036a607b2a8be907', 'PLAID_SECRET=${PLAID_SECRET}'],
  },
  {
    // Plaid Item access tokens: access-<environment>-<uuid>. Sandbox tokens reach no real bank data.
    id: 'plaid-access-token',
    description: 'Plaid Item access token',
    provider: 'plaid',
    keywords: ['access-production-', 'access-development-'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>access-(?:production|development)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?![A-Za-z0-9-])`,
    entropy: 3,
    migrate: 'plaid',
    truePositives: ['PLAID_ACCESS_TOKEN=access-production-ed03b386-af8e-4b53-880d-74db181e94d6', '"access_token": "access-development-55a4943a-b4f0-48b8-a124-4fe671f67445"'],
    falsePositives: ['"access_token": "access-sandbox-e3d4e5d1-1955-4eee-8269-f1a9685fd4d5"', 'access-production-1234', 'access-production-4153ac3a50fe8746dc4fbcd22cf51e8c'],
  },
  {
    // Coinbase API secrets: 32 characters (legacy keys) to 88 base64 characters (Exchange / CDP Ed25519).
    // CDP's EC keys are PEM blocks and belong to the private-key rules.
    id: 'coinbase-api-secret',
    description: 'Coinbase API secret',
    provider: 'coinbase',
    keywords: ['coinbase'],
    pattern: re`(?<![A-Za-z0-9])coinbase[\w.-]{0,30}(?:secret|private[_.-]?key)[\w.-]{0,10}${ASSIGN}(?<secret>[A-Za-z0-9+/]{32,86}={0,2})(?![A-Za-z0-9+/=])`,
    flags: 'i',
    entropy: 3.5,
    migrate: 'coinbase',
    truePositives: [
      'COINBASE_API_SECRET=NyBuayhtMqXjJXmgURuTaldoUvwYMW42',
      'coinbase_api_secret: "KSuF1mgp8tHrL7CEmECsHzTr0BUfXir1urifv1b2W7H7HenYqBn/EDzcmmaJ6eNBdKq1zVE0UVv1lQZ0kzVIBK=="',
    ],
    falsePositives: ['COINBASE_API_KEY_NAME=organizations/abc/apiKeys/def', 'COINBASE_API_SECRET=${COINBASE_SECRET}', 'COINBASE_API_SECRET=7lWI0asIhWs2odMwRkhw'],
  },
  {
    // Flutterwave v3 secret keys: FLWSECK- (live) or FLWSECK_TEST- + 32 hex + "-X".
    id: 'flutterwave-secret-key',
    description: 'Flutterwave secret key',
    provider: 'flutterwave',
    keywords: ['flwseck'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>FLWSECK(?:_TEST)?-[a-fA-F0-9]{32}-X)(?![A-Za-z0-9_-])`,
    entropy: 3,
    migrate: 'flutterwave',
    truePositives: ['FLW_SECRET_KEY=FLWSECK-eb879a603ed600893801ba379be34a24-X', "'Authorization: Bearer FLWSECK_TEST-e0850dd5c58a77fac4abf72fb3501cb8-X',"],
    falsePositives: ['FLW_PUBLIC_KEY=FLWPUBK-212c68e2594fe70eee8d0004928d7bb3-X', 'FLW_SECRET_KEY=FLWSECK_TEST-xxx', 'FLWSECK-dd53e9987b58c405ded861a836c577-X'],
  },
  {
    // Flutterwave encryption keys: FLWSECK or FLWSECK_TEST directly followed by 12 hex.
    id: 'flutterwave-encryption-key',
    description: 'Flutterwave encryption key',
    provider: 'flutterwave',
    keywords: ['flwseck'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>FLWSECK(?:_TEST)?[a-f0-9]{12})(?![A-Za-z0-9_-])`,
    entropy: 2.5,
    truePositives: ['FLW_ENCRYPTION_KEY=FLWSECK8b3911df07b3', "'encryption_key' => 'FLWSECK_TESTb39d34443e4d',"],
    falsePositives: ['FLW_ENCRYPTION_KEY=FLWSECK_TEST', 'FLW_SECRET_KEY=FLWSECK-8fc2aeb8c0175d988a1cee826676892a-X', 'FLWSECK2ff89dd1b9'],
  },
  {
    // Mollie API keys: live_ or test_ + 30 base62, near a mention of Mollie.
    id: 'mollie-api-key',
    description: 'Mollie API key',
    provider: 'mollie',
    keywords: ['mollie'],
    window: { before: 256, after: 256 },
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>(?:live|test)_[A-Za-z0-9]{30})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'mollie',
    truePositives: ['MOLLIE_API_KEY=live_YV5NTNJYDl622R2Eo6VlJX1Gdrt98k', '$mollie->setApiKey("test_uqZhqe7hZ1yL5xY0Zq3V2cssEPtvua");'],
    falsePositives: ['MOLLIE_API_KEY=live_a02ByeS9h97fBr5zPNftM4KHQ', 'MOLLIE_API_KEY=live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'API_KEY=live_etLeWyNnWChveKAWQ1DmDd4gBuTGa9'],
  },
  {
    // GoCardless access tokens: live_ (or sandbox_) + 40 base64url, near a mention of GoCardless.
    id: 'gocardless-access-token',
    description: 'GoCardless access token',
    provider: 'gocardless',
    keywords: ['gocardless'],
    window: { before: 256, after: 256 },
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>(?:live|sandbox)_[A-Za-z0-9_-]{40})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'gocardless',
    truePositives: [
      'GOCARDLESS_ACCESS_TOKEN=live_SDNDmw3lsZkmex-rECZslYie5u47yH9dvFx9hTXs',
      'client = gocardless_pro.Client(access_token="sandbox_PUCzt8ZRu0qb9b7jO4DLtaTz8hERLO7sfH3Ol9wJ", environment="sandbox")',
    ],
    falsePositives: [
      'GOCARDLESS_ACCESS_TOKEN=live_8iwKILeCIQIiKFOGGWYUu8oGxohDtJ',
      'ACCESS_TOKEN=live_iBtOGvkPwMBaPtMBbkkMAGJpxXMIqeeyWVGaQUl9',
      'GOCARDLESS_ACCESS_TOKEN=live_...',
    ],
  },
];
