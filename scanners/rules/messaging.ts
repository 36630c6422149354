import type { Rule } from '../types.js';

const re = String.raw;

/** Between a name and its value: `=`, `:`, `=>` or `:=`, with optional quotes and spaces. */
const ASSIGN = re`["'\`]?\s{0,4}(?:[:=]|=>|:=)\s{0,4}["'\`]?`;

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';

/**
 * The first segment of a Discord bot token is the bot's numeric user id (a snowflake, 17 to 20
 * digits) in unpadded base64. Every 3 ASCII digits encode to one of [MNO][DTjz][AEIMQUYcgk][w-z0-5];
 * a trailing 2 or 1 digits to [MNO][DTjz][AEIMQUYcgk] or [MNO][AQgw].
 */
const DISCORD_ID = '(?:[MNO][DTjz][AEIMQUYcgk][w-z0-5]){5,6}(?:[MNO][DTjz][AEIMQUYcgk]|[MNO][AQgw])?';

export const messagingRules: Rule[] = [
  {
    // Bot tokens: xoxb-<team id>-<bot user id>-<24 base62>; very old bots omit the second number.
    id: 'slack-bot-token',
    description: 'Slack bot token',
    provider: 'slack',
    keywords: ['xoxb-'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>xoxb-[0-9]{8,14}-(?:[0-9]{8,14}-)?[A-Za-z0-9]{24,34})(?![A-Za-z0-9_-])`,
    entropy: 3,
    migrate: 'slack',
    truePositives: ['SLACK_BOT_TOKEN=xoxb-855019264650-5463024850029-dXbO3FtE5e4MeT3KpUDgISdF', "app = App(token='xoxb-75683840684-851953488287-6KcQjrTZu8C05ggryFnQueQk')"],
    falsePositives: ['SLACK_BOT_TOKEN=xoxb-not-a-real-token-this-will-not-work', 'xoxb-123-456-abc', 'SLACK_BOT_TOKEN=xoxb-118280535900-3760725771917-xf5144ezDAH5Feyy'],
  },
  {
    // User (xoxp-) and legacy session (xoxs-) tokens: three numeric ids and 32 hex.
    id: 'slack-user-token',
    description: 'Slack user token',
    provider: 'slack',
    keywords: ['xoxp-', 'xoxs-'],
    pattern: re`(?<![A-Za-z0-9_.-])(?<secret>xox[ps]-[0-9]{8,14}-[0-9]{8,14}-[0-9]{8,14}-[a-f0-9]{32})(?![A-Za-z0-9_-])`,
    entropy: 3,
    migrate: 'slack',
    truePositives: [
      'SLACK_USER_TOKEN=xoxp-392970143810-154230456253-6871407012289-2ccb1bfab496e1d1aa3a64294ae84ac3',
      '"token": "xoxs-22438254483-643580739140-6383084729595-61e037670272373bb77eb79bd9a54c26"',
    ],
    falsePositives: [
      'xoxp-102706046517-102261103053-d8f370be8043288648d73e620bb2f46d',
      'SLACK_USER_TOKEN=xoxp-...',
      'xoxp-513241674167-109260565994-4449530337433-9ctwz0ha5gSNBheMqiipBCdbwXEOgIDu',
    ],
  },
  {
    // Workspace-app access (xoxa-2-) and refresh (xoxr-) tokens, the retired workspace apps' format.
    id: 'slack-workspace-app-token',
    description: 'Slack workspace app token',
    provider: 'slack',
    keywords: ['xoxa-2', 'xoxr-'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>xox[ar]-2-[0-9]{8,14}-[0-9]{8,14}-[0-9]{8,14}-[a-f0-9]{32,64})(?![A-Za-z0-9_-])`,
    entropy: 3,
    migrate: 'slack',
    truePositives: [
      'SLACK_TOKEN=xoxa-2-646261589711-326398784538-1946744529566-56a9a72343564aa727fd288c384f8ef0dc144e4f4ead9576aa0e377971a7b0e7',
      "refresh_token: 'xoxr-2-28275634990-847191932608-9787193253912-6f987592338ab3aab7b575883bc90adf'",
    ],
    falsePositives: ['xoxa-2-978348147035-ff2d751c9bb6e929ff7b5deec90049b3a7956bff4fdaa7dce6ccf6ec9e7eedb0', 'xoxa-2-238532955073-539468323270-4200928383262-fe664ae9124abb94'],
  },
  {
    // Rotating user/bot access tokens and app configuration tokens: xoxe.xoxp-1- / xoxe.xoxb-1- + base62.
    id: 'slack-config-token',
    description: 'Slack configuration or rotating access token',
    provider: 'slack',
    keywords: ['xoxe.xox'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>xoxe\.xox[bp]-1-[A-Za-z0-9]{100,300})(?![A-Za-z0-9_-])`,
    entropy: 4,
    migrate: 'slack',
    truePositives: [
      'SLACK_CONFIG_TOKEN=xoxe.xoxp-1-AHPxzOsmHVUrCvBbWdajDudMu42PljAbzVSCjMZ0ZKNvtWoNcLRMbWtq1dZGhNAx1qu4VB78LN2XmFTb7oA0vQ1XlfPtKTkDZRe41JoXghtuvIghPnDUj4bFe0DRgkDwoEgWvrCBcpviWEJguMC8',
      '"access_token": "xoxe.xoxb-1-IfmK5W8SU1uQCwPQFfvF8885svpX2ZJBx8wAfFCxDFqbNFKIRagVzXkRtQBpTtqJ0ooQjfvM3B07dyKZmmHpu9vMFnAy0CEiNC4pbZoGLhkowYKSq7aIIh3gLxwwPJY9KthgX9T6SCz5sLQET9FUZPwy5CJdYIaK"',
    ],
    falsePositives: ['xoxe.xoxp-1-QMyHG1ip8jjSfuzNjIZRCw3YX6HptO5Bxgf057Rh', 'SLACK_CONFIG_TOKEN=xoxe.xoxp-1-...'],
  },
  {
    // Refresh tokens for rotating and configuration tokens: xoxe-1- + base62.
    id: 'slack-refresh-token',
    description: 'Slack refresh token',
    provider: 'slack',
    keywords: ['xoxe-'],
    pattern: re`(?<![A-Za-z0-9_.-])(?<secret>xoxe-1-[A-Za-z0-9]{100,300})(?![A-Za-z0-9_-])`,
    entropy: 4,
    truePositives: [
      'SLACK_CONFIG_REFRESH_TOKEN=xoxe-1-tzTs3FR7oapwByls5zDozsmNiK4wB2e90VKPMK1YKTItFfbCs7OPxsF87MDmZOMXQGJJkdsOs35pS7M6ltZsQTopktmQAFCJegYtRvmlDkBLI9wjdfeGaS4ENFGPfgcescUPI3cLmLf5XYlynd',
      '"refresh_token": "xoxe-1-DhD6IwcsdXTIxSQWwn8ijHLopIHBJMIsPJcUnV1yYAAuJQLu7WSoCfoT31TsWlgVfCTam8u1PgQyoiFOD5eflSjrIcROJ1Q85Pqhn11q0hyCsjdwjPau0B9TSczpktRdzJQcRBvpAHriUhvVRZDxev"',
    ],
    falsePositives: ['xoxe-1-xqOEaTESLkURzOXSYe4YYVS4Kv9BAMvaAAzSukMW8e01lz2OrS', 'SLACK_REFRESH_TOKEN=xoxe-1-<refresh token>'],
  },
  {
    // App-level tokens (Socket Mode): xapp-1-<app id>-<number>-<64 hex>.
    id: 'slack-app-level-token',
    description: 'Slack app-level token',
    provider: 'slack',
    keywords: ['xapp-'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>xapp-1-A[A-Z0-9]{8,12}-[0-9]{10,14}-[a-f0-9]{64})(?![A-Za-z0-9_-])`,
    entropy: 3,
    migrate: 'slack',
    truePositives: [
      'SLACK_APP_TOKEN=xapp-1-AQ2LIPIMNIA-8994194050630-cf735954a497ef677b79156830f72ebd9f9350536b27f28f24284deb4e118493',
      "app_token: 'xapp-1-AKR9VD3NFW-887732142002-668d9c6998aebf07d4f41412a08f380656662889c342a6697d43332e5ce5ff68'",
    ],
    falsePositives: ['SLACK_APP_TOKEN=xapp-1-...', 'xapp-1-APAEB624MCK-6606314493095-fee19942e55bdf4925290c6cf110e1f8'],
  },
  {
    // Incoming webhooks: https://hooks.slack.com/services/T<team>/B<bot>/<24 base62>.
    id: 'slack-webhook-url',
    description: 'Slack incoming webhook URL',
    provider: 'slack',
    keywords: ['hooks.slack.com/services/'],
    pattern: re`(?<secret>https?://hooks\.slack\.com/services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{24})(?![A-Za-z0-9])`,
    validate: 'slack-webhook',
    truePositives: [
      'SLACK_WEBHOOK_URL=https://hooks.slack.com/services/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',
      'curl -X POST -d \'{"text":"deployed"}\' https://hooks.slack.com/services/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',
    ],
    falsePositives: [
      'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX',
      'SLACK_WEBHOOK_URL=https://hooks.slack.com/services/...',
      'https://hooks.slack.com/services/T4EJSUR9A/BAB4X72N75Y/fIAaYaHH2eLJ',
    ],
  },
  {
    // Workflow Builder webhooks: /workflows/T<team>/A<app>/<id>/<24 base62> and /triggers/T<team>/<id>/<32 hex>.
    id: 'slack-workflow-webhook-url',
    description: 'Slack workflow webhook URL',
    provider: 'slack',
    keywords: ['hooks.slack.com/workflows/', 'hooks.slack.com/triggers/'],
    pattern: re`(?<secret>https?://hooks\.slack\.com/(?:workflows/T[A-Z0-9]{6,12}/A[A-Z0-9]{6,12}/[0-9]{15,20}/[A-Za-z0-9]{24}|triggers/T[A-Z0-9]{6,12}/[0-9]{10,20}/[a-f0-9]{32}))(?![A-Za-z0-9])`,
    entropy: 3.5,
    truePositives: [
      'SLACK_WORKFLOW_URL=https://hooks.slack.com/workflows/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',
      'url: "https://hooks.slack.com/triggers/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"',
    ],
    falsePositives: ['https://hooks.slack.com/workflows/T0000/A0000/1/abc', 'https://hooks.slack.com/triggers/...'],
  },
  {
    // Bot tokens: base64(user id) . 6 base64url (timestamp) . 27-38 base64url (HMAC). The first segment
    // must decode to digits, which keeps the shape specific; a mention of Discord must be near.
    id: 'discord-bot-token',
    description: 'Discord bot token',
    provider: 'discord',
    keywords: ['discord'],
    window: { before: 512, after: 512 },
    pattern: re`(?<![A-Za-z0-9_.-])(?<secret>${DISCORD_ID}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38})(?![A-Za-z0-9_.-])`,
    entropy: 3.5,
    migrate: 'discord',
    truePositives: [
      'DISCORD_TOKEN=OTkzNjYzNDA1MjA5MzExMDc1.TqsQfH.0jGUKIqT05jhrXtTWsrcdZi9JNtyby-_V7VQCX',
      "const { Client } = require('discord.js');\nconst client = new Client({ intents: [] });\nclient.login('NDQyNzU1NTU1OTcwNTIxNzI2.Sa9svp.NuIpwUZ__2kHW5J3pg8UfviNanp5REUzlLu0ql');",
    ],
    falsePositives: [
      'DISCORD_TOKEN=Ym90bmFtZW5udGd6c2xnZHZk.Q0WzWj.kpsAUvpuqzsLwnUsmCbjiOOvcF3R-3YNiAY5t8', // first segment is not a numeric id
      'DISCORD_TOKEN=your-bot-token',
      'TOKEN=NTQwNTkwMzcxNDMxNzM2MzE0.3ZSuVm.KPoRVaibzZdzkQLIJaD-Ty_ebtW80Mb4ghnZLG', // no mention of Discord
    ],
  },
  {
    id: 'discord-webhook-url',
    description: 'Discord webhook URL',
    provider: 'discord',
    keywords: ['discord.com/api/webhooks/', 'discordapp.com/api/webhooks/'],
    pattern: re`(?<secret>https?://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,72})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    truePositives: [
      'DISCORD_WEBHOOK=https://discord.com/api/webhooks/2581355233686311114/iGh_DqB2V-ZsQUZ9pR-XvTwovWvJ_YfXjUBxwXjG4HnYm0V0cr2EtUcvDwZgaE5UJ8Jo',
      'webhook_url = "https://discordapp.com/api/webhooks/604184432080691420/3W_3KVtxt0J3ZC6IjC8HPTtDW5rMjWWtnurzJ3g1OVebb-lH0_Uy37mjhRiW3u7fq8ih"',
    ],
    falsePositives: ['https://discord.com/api/webhooks/123/abc', 'https://discord.com/api/webhooks/{id}/{token}'],
  },
  {
    // Bot API tokens: <8-10 digit bot id>:AA + 33 base64url. Often inside https://api.telegram.org/bot<token>/.
    id: 'telegram-bot-token',
    description: 'Telegram bot token',
    provider: 'telegram',
    keywords: [':aa'],
    pattern: re`(?:(?<=bot)|(?<![A-Za-z0-9_:-]))(?<secret>[0-9]{8,10}:AA[A-Za-z0-9_-]{33})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'telegram',
    truePositives: [
      'TELEGRAM_BOT_TOKEN=5461414178:AA12wLBIsy6DbApk5MUxhVsNQRuxw4NAWW6',
      'requests.get(f"https://api.telegram.org/bot523097702:AA3xrpZO2Lul6xR41TqD383Gnhkq9sxlOjL/sendMessage")',
    ],
    falsePositives: ['TELEGRAM_BOT_TOKEN=123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11', 'mac = 00:aa:bb:cc:dd:ee', 'TELEGRAM_BOT_TOKEN=4041288127:AA4YdNfzaGLST9T8N7UjDA'],
  },
  {
    // API key SIDs: SK + 32 hex. The SID names the key; its secret is caught by twilio-auth-token.
    id: 'twilio-api-key',
    description: 'Twilio API key SID',
    provider: 'twilio',
    keywords: ['twilio'],
    window: { before: 512, after: 512 },
    pattern: re`(?<![A-Za-z0-9])(?<secret>SK[0-9a-f]{32})(?![A-Za-z0-9])`,
    entropy: 3,
    truePositives: [
      'TWILIO_API_KEY=SKd2fa00f60dd496bfd5927a2fcfba2054',
      'from twilio.rest import Client\nclient = Client("SK6ffc21da8456d7208830bb6122d47c03", api_secret, account_sid)',
    ],
    falsePositives: ['TWILIO_API_KEY=SKf0b92341a9aec0704b7fde43826b2c', 'TWILIO_ACCOUNT_SID=AC613c1eb41b778c821516c79b79262f10', 'API_KEY=SK9ac5bf45c6d1a120a57a79e0e4cab86a'],
  },
  {
    // Account auth tokens (32 hex) and API key secrets (32 base62): named as such next to Twilio,
    // or paired with an account or key SID as in Client("AC…", "…") or https://AC…:token@api.twilio.com.
    id: 'twilio-auth-token',
    description: 'Twilio auth token or API key secret',
    provider: 'twilio',
    keywords: ['twilio'],
    window: { after: 512 },
    pattern: re`(?:(?<![A-Za-z0-9])twilio[\w.-]{0,30}(?:auth[_.-]?token|secret)[\w.-]{0,10}${ASSIGN}|(?<![A-Za-z0-9])(?:AC|SK)[a-f0-9]{32}["'\`]?\s{0,4}[,:]\s{0,4}["'\`]?)(?<secret>[A-Za-z0-9]{32})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3,
    migrate: 'twilio',
    truePositives: [
      'TWILIO_AUTH_TOKEN=18eab7bc2b0fa1c540707ca3f54b9eba',
      'from twilio.rest import Client\nclient = Client("ACe0d82b04b92bdef6179b0a54af3ebba7", "36c79037ab9d729bef5cdb88b8e83261")',
      'TWILIO_API_SECRET=fVALHnUrS8TJQvdRpDd6BNdXmp87ytPw',
    ],
    falsePositives: ['TWILIO_ACCOUNT_SID=AC014a42068cf7c9db14a7d53700dd2adf', 'TWILIO_AUTH_TOKEN=${TWILIO_AUTH_TOKEN}', 'TWILIO_AUTH_TOKEN=4d3e736a7b76ebb4f4609ae3'],
  },
  {
    // SendGrid API keys: SG. + 22 base64url (key id) + . + 43 base64url (secret).
    id: 'sendgrid-api-key',
    description: 'SendGrid API key',
    provider: 'sendgrid',
    keywords: ['sg.'],
    pattern: re`(?<![A-Za-z0-9_.-])(?<secret>SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])`,
    entropy: 4,
    migrate: 'sendgrid',
    truePositives: [
      'SENDGRID_API_KEY=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',
      "sgMail.setApiKey('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');",
    ],
    falsePositives: [
      'SENDGRID_API_KEY=SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      'msg.wgciq0CYpQvVrtNorTSDxn.mWMooiqqpbrbfHW88lXgrURUCyfLG6Xaoi01kBQOeJW',
      'SG.8kvrD1b0kt5hZkwDOXe5ML.CBqF1mUFhxsFrckaTCpG',
    ],
  },
  {
    // Mailgun private API keys: key- + 32 hex (older), or 32 hex - 8 hex - 8 hex (current); near a mention of Mailgun.
    id: 'mailgun-api-key',
    description: 'Mailgun API key',
    provider: 'mailgun',
    keywords: ['mailgun'],
    window: { before: 256, after: 256 },
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>key-[0-9a-f]{32}|[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8})(?![A-Za-z0-9_-])`,
    entropy: 3,
    migrate: 'mailgun',
    truePositives: [
      'MAILGUN_API_KEY=key-68172e46a6b9eee9d0f65859664eb676',
      'curl -s --user "api:e57e05bd907713811f643c090db0acec-999c602f-6b521ae0" https://api.mailgun.net/v3/mg.acme.io/messages',
    ],
    falsePositives: ['MAILGUN_API_KEY=key-e144e297b0263ffc75d337e1', 'MAILGUN_DOMAIN=mg.acme.io', 'API_KEY=key-beb414792872f4b1fb4f822fe99ba589'],
  },
  {
    // Mailchimp (Marketing API) keys: 32 hex + -us<datacenter>.
    id: 'mailchimp-api-key',
    description: 'Mailchimp API key',
    provider: 'mailchimp',
    keywords: ['-us1', '-us2', '-us3', '-us4', '-us5', '-us6', '-us7', '-us8', '-us9'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>[0-9a-f]{32}-us[0-9]{1,2})(?![A-Za-z0-9_-])`,
    entropy: 3,
    migrate: 'mailchimp',
    truePositives: ['MAILCHIMP_API_KEY=59ddb1a017bb107d2b4182f28cfc7eab-us28', '"apiKey": "b527b733ca41555f3373c8a40caa731f-us6"'],
    falsePositives: ['MAILCHIMP_API_KEY=141cd3db974a8696e0e6c63b-us6', 'MAILCHIMP_API_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-us6', 'locale: en-us1'],
  },
  {
    // Postmark server and account tokens are UUIDs: named as such, or in the X-Postmark-*-Token headers.
    id: 'postmark-token',
    description: 'Postmark server or account API token',
    provider: 'postmark',
    keywords: ['postmark'],
    pattern: re`(?<![A-Za-z0-9])postmark[\w.-]{0,30}(?:${ASSIGN}|\(\s{0,4}["'\`])(?<secret>${UUID})(?![A-Za-z0-9-])`,
    flags: 'i',
    entropy: 3,
    migrate: 'postmark',
    truePositives: [
      'POSTMARK_SERVER_TOKEN=6b1cfcb0-51ad-48a7-ad3a-62054b9f7cec',
      "-H 'X-Postmark-Server-Token: a675b35f-7624-410e-aec4-dcb59d7229cc'",
      'const client = new postmark.ServerClient("ba2ea303-5e90-47d5-8754-50e6706c5b50");',
    ],
    falsePositives: ['POSTMARK_SERVER_TOKEN=POSTMARK_API_TEST', 'POSTMARK_SERVER_TOKEN=${POSTMARK_TOKEN}', 'POSTMARK_MESSAGE_STREAM=outbound'],
  },
  {
    // Mailjet API key pairs are 32 hex each; the private (secret) half is the credential.
    id: 'mailjet-api-secret',
    description: 'Mailjet API secret key',
    provider: 'mailjet',
    keywords: ['mailjet', 'mj_apikey_private'],
    pattern: re`(?<![A-Za-z0-9])(?:mailjet[\w.-]{0,30}(?:secret|private)|mj_apikey_private)[\w.-]{0,10}${ASSIGN}(?<secret>[a-f0-9]{32})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3,
    migrate: 'mailjet',
    truePositives: ['MJ_APIKEY_PRIVATE=7ac570629760b1163c3dd328a12bd1a6', 'MAILJET_SECRET_KEY: "08d0d3a94228de1e3d1d1fe8d430d916"'],
    falsePositives: ['MJ_APIKEY_PUBLIC=49a66fddd274e41bb3538aa48b456a92', 'MAILJET_SECRET_KEY=fb1d8c668b20b494755e', 'MAILJET_SECRET_KEY=${MJ_SECRET}'],
  },
  {
    // Resend API keys: re_ + 8 base62 (key id) + _ + 24 base62; near a mention of Resend.
    id: 'resend-api-key',
    description: 'Resend API key',
    provider: 'resend',
    keywords: ['resend'],
    window: { before: 256, after: 256 },
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>re_[A-Za-z0-9]{8,10}_[A-Za-z0-9]{24,32})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'resend',
    truePositives: ['RESEND_API_KEY=re_ORny5uRe_mHTgzR7mruttpMvudXdWfRc9', "const resend = new Resend('re_DcN6QfYq_M2kzj47sHJGbe0bqxJbLFWtD');"],
    falsePositives: ["const resend = new Resend('re_123456789');", 'RESEND_API_KEY=re_xxxxxxxxx', 'score_EXRm6eTR_a5xQzEPO1s3z0JwWj3aRcMvN = 1 # resend'],
  },
  {
    // Vonage (Nexmo) API secrets: 16 base62, named as such next to Vonage or Nexmo.
    id: 'vonage-api-secret',
    description: 'Vonage (Nexmo) API secret',
    provider: 'vonage',
    keywords: ['vonage', 'nexmo'],
    pattern: re`(?<![A-Za-z0-9])(?:vonage|nexmo)[\w.-]{0,30}secret[\w.-]{0,10}${ASSIGN}(?<secret>[A-Za-z0-9]{16})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3,
    migrate: 'vonage',
    truePositives: ['VONAGE_API_SECRET=PNw2WAMh6acX0p5U', 'nexmo_api_secret: "Rcps3BiQpNgcfyXh"'],
    falsePositives: ['VONAGE_API_KEY=2ee64586', 'VONAGE_API_SECRET=p5NqQFGVw2', 'VONAGE_SIGNATURE_SECRET=${SIG}'],
  },
  {
    // Teams incoming webhooks: https://<tenant>.webhook.office.com/webhookb2/<group>@<tenant>/IncomingWebhook/<32 hex>/<uuid>[/V2…]
    // (and the retired https://outlook.office.com/webhook/… form).
    id: 'microsoft-teams-webhook-url',
    description: 'Microsoft Teams incoming webhook URL',
    provider: 'microsoft',
    keywords: ['webhook.office.com/webhookb2/', 'outlook.office.com/webhook/', 'outlook.office365.com/webhook/'],
    pattern: re`(?<secret>https://(?:[a-z0-9-]{1,63}\.webhook\.office\.com/webhookb2|outlook\.office(?:365)?\.com/webhook)/${UUID}@${UUID}/IncomingWebhook/[a-f0-9]{32}/${UUID}(?:/[A-Za-z0-9_-]{10,80})?)(?![A-Za-z0-9_-])`,
    entropy: 3,
    truePositives: [
      'webhook: "https://outlook.office.com/webhook/6c9f786c-1d7c-4b73-96f4-e47e5f237cdf@6104a0b8-21c2-4c2a-93c0-b72dcfee4462/IncomingWebhook/06eb9d9ab79ee0a1b347373b89dcb5ab/8023df36-67da-4d17-aa07-bad8c7013668"',
      'TEAMS_WEBHOOK_URL=https://acme.webhook.office.com/webhookb2/fb99dd0a-7190-45c4-ab92-aef1ad719f19@43c3de1c-ff05-4cce-b52a-f047d5468a2d/IncomingWebhook/e3455bb5d549b80499fb196f5d5c3e75/fa369357-eb86-440c-9275-9ada0ba1edf8/V26PSq4jOEOxSOhP3qdzTPJvSp5WMTup9dyw8zExGN',
    ],
    falsePositives: [
      'https://acme.webhook.office.com/webhookb2/...',
      'https://acme.webhook.office.com/webhookb2/6950dc9e-4af5-4191-92fd-8b95f2a176c1@3dab1cf4-e8f3-462b-b51a-3b4e90030bc7/IncomingWebhook/<id>/<uuid>',
    ],
  },
  {
    // Intercom access tokens: base64 of "tok:<uuid with underscores>:1:0", so they start "dG9rO" + j or m.
    id: 'intercom-access-token',
    description: 'Intercom access token',
    provider: 'intercom',
    keywords: ['intercom'],
    window: { before: 256, after: 256 },
    pattern: re`(?<![A-Za-z0-9+/])(?<secret>dG9rO[jm][A-Za-z0-9+/]{40,100}={0,2})(?![A-Za-z0-9+/=])`,
    entropy: 4,
    migrate: 'intercom',
    truePositives: [
      'INTERCOM_APP_ID=ysooy9gv\nINTERCOM_ACCESS_TOKEN=dG9rOjI4NWU2YWRlX2Y5ZmRfNGU5NV9iNTg2XzU0MzMwNmE2OTBiZToxOjA=',
      'const client = new IntercomClient({ token: "dG9rOjM1NGI4M2MzXzA2ZWFfNGFkOV85OTliXzc0OGQxZTg0MGQ3ODoxOjA=" });',
    ],
    falsePositives: ['INTERCOM_APP_ID=mksz6kqw', 'INTERCOM_ACCESS_TOKEN=dG9rOj...', 'TOKEN=dG9rOjE2YTJhMDA2XzdhOTRfNGM5YV9iYTk5XzFkNmUwNTQ1ZGVmYjoxOjA='],
  },
  {
    // Pusher Channels app secrets: 20 hex, named as a secret near a mention of Pusher.
    id: 'pusher-app-secret',
    description: 'Pusher Channels app secret',
    provider: 'pusher',
    keywords: ['pusher'],
    window: { before: 256, after: 256 },
    pattern: re`secret[\w.-]{0,10}${ASSIGN}(?<secret>[a-f0-9]{20})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 2.5, // 20 hex: random values fall below 3 bits a few times in a hundred
    migrate: 'pusher',
    truePositives: [
      'PUSHER_APP_SECRET=b2e35e2ab1ef2b5c26dd',
      "const pusher = new Pusher({\n  appId: '3347882',\n  key: '5204771f098e87f87c34',\n  secret: 'c2a0171cf88633bfc332',\n  cluster: 'eu',\n});",
    ],
    falsePositives: ['PUSHER_APP_KEY=23839b5234cb464fe5bb', 'PUSHER_APP_SECRET=336a9a9e6755', 'APP_SECRET=9e9682931c800ad524b0'],
  },
  {
    // Zendesk API tokens: 40 base62, named as a token next to Zendesk.
    id: 'zendesk-api-token',
    description: 'Zendesk API token',
    provider: 'zendesk',
    keywords: ['zendesk'],
    pattern: re`(?<![A-Za-z0-9])zendesk[\w.-]{0,30}(?:token|key|secret)[\w.-]{0,10}${ASSIGN}(?<secret>[A-Za-z0-9]{40})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3.5,
    migrate: 'zendesk',
    truePositives: ['ZENDESK_API_TOKEN=HVRYfdWvzPtBCaXpwBWsmSEiwQEMCTORzpITY0Km', 'config.zendesk_api_token = "7mf2Rr35D8zADTt6JxHYpDcKERPNdu9DW3AW4Ysa"'],
    falsePositives: ['ZENDESK_SUBDOMAIN=acme', 'ZENDESK_API_TOKEN=9IK80DIWOsrBk2LyDrNeeKDC9i23vl', 'ZENDESK_API_TOKEN=${ZENDESK_TOKEN}'],
  },
];
