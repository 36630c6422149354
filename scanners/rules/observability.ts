import type { Rule } from '../types.js';

const re = String.raw;

/** Between a name and its value: `=`, `:`, `=>` or `:=`, with optional quotes and spaces. */
const ASSIGN = re`["'\`]?\s{0,4}(?:[:=]|=>|:=)\s{0,4}["'\`]?`;

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';

export const observabilityRules: Rule[] = [
  {
    // Datadog API keys: 32 hex, named DD_API_KEY / datadog api key, or in the DD-API-KEY header.
    id: 'datadog-api-key',
    description: 'Datadog API key',
    provider: 'datadog',
    keywords: ['datadog', 'dd_api', 'dd-api', 'ddapi'],
    pattern: re`(?<![A-Za-z0-9])(?:datadog|dd)[\w.-]{0,25}api[\w.-]{0,10}${ASSIGN}(?<secret>[a-f0-9]{32})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3,
    migrate: 'datadog',
    truePositives: [
      'DD_API_KEY=7dbc72cb6b5ae2ace34f74f108a03bf1',
      'curl -H "DD-API-KEY: 80c55a18d21750269d97ac7f48f74c6e" https://api.datadoghq.com/api/v1/validate',
      'datadog_api_key = "8e9216cea146fce655b8b23610e5efcb"',
    ],
    falsePositives: ['DD_API_KEY=30d0f365764a5a0c9bdd17b7', 'DD_API_KEY=${DD_API_KEY}', 'add_api_key = "4302a459677208edaef5e79eca795536"', 'DD_SITE=datadoghq.eu'],
  },
  {
    // Datadog application keys: 40 hex, named DD_APP_KEY / application key, or in the DD-APPLICATION-KEY header.
    id: 'datadog-app-key',
    description: 'Datadog application key',
    provider: 'datadog',
    keywords: ['datadog', 'dd_app', 'dd-app', 'ddapp'],
    pattern: re`(?<![A-Za-z0-9])(?:datadog|dd)[\w.-]{0,25}app(?:lication)?[\w.-]{0,10}${ASSIGN}(?<secret>[a-f0-9]{40})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3,
    migrate: 'datadog',
    truePositives: [
      'DD_APP_KEY=d21956e04292d3890b5f71f5a9e697d424e585d3',
      "-H 'DD-APPLICATION-KEY: f0418bfa35a501680896b7ab2a58102f84b440b5'",
      'datadog_app_key: "45dd7ac7607cf3d73f3fa3cbac2528f39eb2d49f"',
    ],
    falsePositives: [
      'DD_API_KEY=9dfc43701306e243d3522fe094c7d14a2a6115d4',
      'DD_APP_KEY=fd70eaa5e2f98a8cd4857aa1e4b3c08e',
      'DD_APPLICATION_ID=8157d77c-8069-4b3e-8ad5-cea13883c2f8',
    ],
  },
  {
    // New Relic user API keys: NRAK- + 27 upper-case base36.
    id: 'newrelic-user-api-key',
    description: 'New Relic user API key',
    provider: 'newrelic',
    keywords: ['nrak-'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>NRAK-[A-Z0-9]{27})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'newrelic',
    truePositives: ['NEW_RELIC_API_KEY=NRAK-5YSVGOFYP1XJFWJBRW0GR4MVPB5', "-H 'Api-Key: NRAK-HEUMXYBKDVS5NGZ72SLQOKZK8WR'"],
    falsePositives: ['NEW_RELIC_API_KEY=NRAK-XXXXXXXXXXXXXXXXXXXXXXXXXXX', 'NRAK-0Y7Z9CPIGK4P3BGHC4J7'],
  },
  {
    // Insights insert (NRII-) and query (NRIQ-) keys: prefix + 32 base64url.
    id: 'newrelic-insights-key',
    description: 'New Relic Insights insert or query key',
    provider: 'newrelic',
    keywords: ['nrii-', 'nriq-'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>NRI[IQ]-[A-Za-z0-9_-]{32})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'newrelic',
    truePositives: ['NEW_RELIC_INSERT_KEY=NRII-1RSieCaAFwp3rL-tkl_38NpXXa0Vb3oo', '"X-Query-Key": "NRIQ-nu1BDdNsDwrh5Qsv04Eq2VutHmT6vFFF"'],
    falsePositives: ['NRII-Rh4nzBgiknLM0RLdbczt', 'NEW_RELIC_INSERT_KEY=NRII-...'],
  },
  {
    // Browser keys: NRJS- + 19 hex. They ship in web pages, but also allow writing browser data.
    id: 'newrelic-browser-key',
    description: 'New Relic browser API key',
    provider: 'newrelic',
    keywords: ['nrjs-'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>NRJS-[a-f0-9]{19})(?![A-Za-z0-9_-])`,
    entropy: 3,
    truePositives: ['NEW_RELIC_BROWSER_KEY=NRJS-37ac48de190092f0fc6', 'licenseKey: "NRJS-ace18f17a7870e79544",'],
    falsePositives: ['NRJS-447f971df58d', 'licenseKey: "NRJS-xxxxxxxxxxxxxxxxxxx"'],
  },
  {
    // Ingest license keys: 40 characters, the last four "NRAL" (EU keys start with eu01xx).
    id: 'newrelic-license-key',
    description: 'New Relic ingest license key',
    provider: 'newrelic',
    keywords: ['nral'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>[a-z0-9]{36}NRAL)(?![A-Za-z0-9_-])`,
    entropy: 3,
    migrate: 'newrelic',
    truePositives: ['NEW_RELIC_LICENSE_KEY=9e6be271f55101da1bc8dd4b67653d5c0c81NRAL', "license_key: 'eu01xxbc6908b11901f3c9a827baf773e1eaNRAL'"],
    falsePositives: ['NEW_RELIC_LICENSE_KEY=bdeb694722445ed490cd617c35d081NRAL', 'general = "NRAL"', 'NEW_RELIC_LICENSE_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxNRAL'],
  },
  {
    // Grafana Cloud access policy tokens: glc_ + base64 of a JSON object {"o":…,"n":…,"k":…,"m":{"r":…}}.
    id: 'grafana-cloud-token',
    description: 'Grafana Cloud access policy token',
    provider: 'grafana',
    keywords: ['glc_eyj'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>glc_eyJ[A-Za-z0-9+/]{40,600}={0,2})(?![A-Za-z0-9+/=_-])`,
    entropy: 4,
    migrate: 'grafana',
    truePositives: [
      'GRAFANA_CLOUD_TOKEN=glc_eyJvIjoiODExOTAwIiwibiI6InN0YWNrLTE5Nzk3Ny1obS1yZWFkLXhwbWg5IiwiayI6Ind2QWtIakVHNXhOUnd3UkwwekVuaURjZiIsIm0iOnsiciI6InByb2QtdXMtZWFzdC0wIn19',
      'basic_auth:\n  password: glc_eyJvIjoiOTE5MTg5IiwibiI6InN0YWNrLTExOTc2Ny1obS1yZWFkLXk1aWFiIiwiayI6ImxrejBDRzdjU1UwUEY1Z1ZtNzZZMkxCYyIsIm0iOnsiciI6InByb2QtdXMtZWFzdC0wIn19',
    ],
    falsePositives: ['GRAFANA_CLOUD_TOKEN=glc_...', 'glc_eyJmVqUVKTlSUD66b1rUXMw', 'GRAFANA_CLOUD_TOKEN=glc_wfpm6NdDFPB4lZ2UYL3rBIg6ONfPyD9OHP6ENBCJvTRvpHVIECskkBOBRr57'],
  },
  {
    // Grafana service account tokens: glsa_ + 32 base62 + _ + 8 hex checksum.
    id: 'grafana-service-account-token',
    description: 'Grafana service account token',
    provider: 'grafana',
    keywords: ['glsa_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>glsa_[A-Za-z0-9]{32}_[a-fA-F0-9]{8})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'grafana',
    truePositives: ['GRAFANA_TOKEN=glsa_BaN50Qf8BgFifTczF2R0E4LfFaBS1AoY_3ae5dfd4', 'Authorization: Bearer glsa_NMeLjsBmEELsYfkGnVFhUu1XgV1Jk1Q6_b0cf7f6f'],
    falsePositives: ['GRAFANA_TOKEN=glsa_ICgIjbNVRj0u6AoSaKTznObEJWhrJffn', 'glsa_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx_xxxxxxxx'],
  },
  {
    // Legacy Grafana API keys: base64 of {"k":"<32 base62>","n":"<name>","id":<org>}, so they start eyJrIjoi.
    id: 'grafana-api-key',
    description: 'Grafana API key (legacy)',
    provider: 'grafana',
    keywords: ['eyjrijoi'],
    pattern: re`(?<![A-Za-z0-9+/_-])(?<secret>eyJrIjoi[A-Za-z0-9+/]{40,200}={0,2})(?![A-Za-z0-9+/=_-])`,
    validate: 'base64-json',
    entropy: 3.5,
    migrate: 'grafana',
    truePositives: [
      'GRAFANA_API_KEY=eyJrIjoiUm9nVk9ZdGxMNm02NXlrd1hiRDRmWFNocUFCaklTVlIiLCJuIjoiY2ktaXR0aGciLCJpZCI6OTJ9',
      '"Authorization": "Bearer eyJrIjoiNEh5N3pHY2FYNE1LYXBnNVVCTmR5TWY4NzdSeE45YjQiLCJuIjoiY2ktdGp3cXYiLCJpZCI6ODB9"',
    ],
    falsePositives: ['GRAFANA_API_KEY=eyJrIjoiJZVrMpdlBdc6vv57tZScJ3fcuFe387wPSHZLn0OHg0Yo5C2FEcsT94kSFa5s', 'GRAFANA_API_KEY=eyJrIjoi...'],
  },
  {
    // Honeycomb ingest keys: hc<x>ik_ + 26-character key id + 32-character secret, concatenated.
    id: 'honeycomb-ingest-key',
    description: 'Honeycomb ingest key',
    provider: 'honeycomb',
    keywords: [...'abcdefghijklmnopqrstuvwxyz'].map((c) => `hc${c}ik_`),
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>hc[a-z]ik_[A-Za-z0-9]{58})(?![A-Za-z0-9_-])`,
    entropy: 3.5,
    migrate: 'honeycomb',
    truePositives: [
      'HONEYCOMB_API_KEY=hcaik_01fi1pv38fufz36a93vdujnwdio0dy52uos8ru6fhf0d2rebtb5vka5who',
      "x-honeycomb-team: 'hcxik_016rzy52im0sa8ajbz1fl190imx3va5ktqzfucry6sdzwiq8xabl4nq9bz'",
    ],
    falsePositives: ['HONEYCOMB_KEY_ID=hcxik_018i9tttpeu35nace2nhi6gcha', 'hcxik_8c87fzlrtm5x2q8orf9pmo040smglu9zasfz42rd'],
  },
  {
    // Classic and configuration keys: 32 hex or 22 base62, named as Honeycomb's (X-Honeycomb-Team header).
    id: 'honeycomb-api-key',
    description: 'Honeycomb API key',
    provider: 'honeycomb',
    keywords: ['honeycomb'],
    pattern: re`(?<![A-Za-z0-9])honeycomb[\w.-]{0,30}(?:key|team|token)[\w.-]{0,10}${ASSIGN}(?<secret>[a-f0-9]{32}|[A-Za-z0-9]{22})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3,
    migrate: 'honeycomb',
    truePositives: ['HONEYCOMB_API_KEY=SHGSKTnHFrFDHx0FxSWNx9', '"x-honeycomb-team": "d08118233eb3e3a91e1a8c4779024c0e"', 'HONEYCOMB_WRITEKEY=3ed879ac6bf3e68be4cc2cbf3da967a5'],
    falsePositives: ['HONEYCOMB_DATASET=productionapiserviceeu1', 'HONEYCOMB_API_KEY=${HONEYCOMB_API_KEY}', 'HONEYCOMB_API_KEY=eHn538XAPy30'],
  },
  {
    // Dynatrace tokens: dt0<kind><2 digits> . 24 upper-case base32 (public id) . 64 upper-case base32 (secret).
    id: 'dynatrace-api-token',
    description: 'Dynatrace API token',
    provider: 'dynatrace',
    keywords: ['dt0'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>dt0[a-z][0-9]{2}\.[A-Z0-9]{24}\.[A-Z0-9]{64})(?![A-Za-z0-9_-])`,
    entropy: 4,
    migrate: 'dynatrace',
    truePositives: [
      'DT_API_TOKEN=dt0c01.5MYQN412ZIVT6QU4JI8MHWIT.EWMTTYMU6LGWZA9Q0XIIWC8BQX5L3T951C6YBVGW1Y0FFGBH3MQTBV9ZK5Y1P1MD',
      'Authorization: Api-Token dt0s01.K2KWWZDB5FFL7GJ00R3QWPAF.2ISVXSN49HEQIJK8LV361C9H4XKYRZNFLHA6CDOBMGM4QDGYRQJCAPPX1OXGVJVA',
    ],
    falsePositives: [
      'DT_API_TOKEN=dt0c01.8IUD6VAZNAQFMBLVXFI71Z38',
      'dt0c01.ABC.DEF',
      'DT_API_TOKEN=dt0c01.XXXXXXXXXXXXXXXXXXXXXXXX.XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
    ],
  },
  {
    // Splunk HTTP Event Collector tokens are UUIDs: named as such, or after the "Splunk" auth scheme.
    id: 'splunk-hec-token',
    description: 'Splunk HTTP Event Collector token',
    provider: 'splunk',
    keywords: ['splunk', 'hec_token', 'hec-token', 'hectoken'],
    pattern: re`(?:(?<![A-Za-z0-9])(?:splunk|hec)[\w.-]{0,30}token[\w.-]{0,10}${ASSIGN}|(?<![A-Za-z0-9])Splunk\s{1,4})(?<secret>${UUID})(?![A-Za-z0-9-])`,
    flags: 'i',
    entropy: 3,
    migrate: 'splunk',
    truePositives: [
      'SPLUNK_HEC_TOKEN=c547a95b-2e30-4490-93bd-2094699196b3',
      'curl -H "Authorization: Splunk 0e3cf737-983c-4b83-ab7d-f227beca4647" https://splunk.acme.io:8088/services/collector',
      'hec_token: "018ce114-e81b-433a-8eb0-754e8d87b8c6"',
    ],
    falsePositives: ['SPLUNK_INDEX=main', 'check_token = "ce3e7120-1b53-454d-901c-78b1f136a3de"', 'SPLUNK_HEC_TOKEN=00000000-0000-0000-0000-000000000000'],
  },
  {
    // Sumo Logic access keys: 64 base62, paired with a 14-character access id (su…).
    id: 'sumologic-access-key',
    description: 'Sumo Logic access key',
    provider: 'sumologic',
    keywords: ['sumo'],
    pattern: re`(?<![A-Za-z0-9])sumo[\w.-]{0,30}(?:access[_.-]?key|secret)[\w.-]{0,10}${ASSIGN}(?<secret>[A-Za-z0-9]{64})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3.5,
    migrate: 'sumologic',
    truePositives: [
      'SUMOLOGIC_ACCESSKEY=hYbqSaVQXcRCCYZlXcBEjENFt2TK8IPo2X3Ez5mdLsGYtT6ztGgC907WjWrJMr17',
      'sumo_access_key: "tUGpHAKrgos3sfLnmLRD4E2fy7WSVo8nIeqzHNFWbjnW4JT5yMaEo1arGY0yKe1x"',
    ],
    falsePositives: ['SUMOLOGIC_ACCESSID=sunmAZHNt4gOgT', 'SUMOLOGIC_ACCESSKEY=04KgqS3Q3UfMTwOnpcfjACDkyhFtqFOrmT98zF6b', 'SUMOLOGIC_ACCESSKEY=${SUMO_KEY}'],
  },
  {
    // Hosted HTTP source URLs carry their own credential in the last path segment.
    id: 'sumologic-http-source-url',
    description: 'Sumo Logic HTTP source URL',
    provider: 'sumologic',
    keywords: ['sumologic.com/receiver/'],
    pattern: re`(?<secret>https://[a-z0-9.-]{1,80}\.sumologic\.com/receiver/v1/(?:http|otlp)/[A-Za-z0-9_=+-]{40,400})(?![A-Za-z0-9_=+-])`,
    entropy: 3.5,
    truePositives: [
      'SUMO_COLLECTOR=prod\nSUMO_URL=https://endpoint4.collection.us2.sumologic.com/receiver/v1/http/0Q5GovO2A2RwILdA5G5y8gGs1Gkeso0wbaPrPwHyOI64XbTwveBFnjxgJXEFlWEVwoTkBSRsSZi0dd==',
      'url: "https://endpoint1.collection.eu.sumologic.com/receiver/v1/otlp/fh7-nFBZHb_XX2glSQAdCjErxRgzGi7eo58VCelvRLvkupTINAIc2RILP5gH"',
    ],
    falsePositives: ['https://endpoint4.collection.us2.sumologic.com/receiver/v1/http/', 'https://endpoint4.collection.sumologic.com/receiver/v1/http/<token>'],
  },
  {
    // Elasticsearch API keys: base64 of "<id>:<key>", sent with the ApiKey scheme or named next to Elastic.
    id: 'elastic-api-key',
    description: 'Elasticsearch / Elastic Cloud API key',
    provider: 'elastic',
    keywords: ['apikey ', 'elastic'],
    pattern: re`(?:(?<![A-Za-z0-9])elastic[\w.-]{0,30}api[_.-]?key[\w.-]{0,10}${ASSIGN}|(?<![A-Za-z0-9])ApiKey\s{1,4})(?<secret>(?:essu_)?[A-Za-z0-9+/]{40,200}={0,2})(?![A-Za-z0-9+/=_-])`,
    flags: 'i',
    entropy: 4,
    migrate: 'elastic',
    truePositives: [
      "headers = {'Authorization': 'ApiKey 20POZuEBbWiY+gqVShWHjZ/cR8m3ZuBl8GWwTZw0XaW/qWD6dDWLrePU5oF='}",
      'ELASTIC_API_KEY=pcAfGKu8/PuprvTcipvPJr9R8YFpstF6pAaM3dXHmKgwKElq9n5AiBbk5yG=',
      'elasticsearch.api_key: "UL2rwP+uLeaUlfUKAGTbZw1+nBIqPD39zFHEdd7LRmIzW/rAxJoFiNQCbJ+CQI6PEMhy4ALBUnFTJrOt"',
    ],
    falsePositives: ['const apiKey = getKey();', 'ELASTIC_API_KEY=${ELASTIC_API_KEY}', 'ELASTIC_PASSWORD=changeme', 'Authorization: ApiKey pNWTk6EPrvhBv85tkx1+'],
  },
  {
    // PagerDuty REST API keys: 20 characters, and user tokens: u+ + 18. Named next to PagerDuty,
    // or in the "Token token=" scheme of its REST API.
    id: 'pagerduty-api-key',
    description: 'PagerDuty REST API key',
    provider: 'pagerduty',
    keywords: ['pagerduty', 'pager_duty', 'token token='],
    pattern: re`(?:(?<![A-Za-z0-9])pager[_.-]?duty[\w.-]{0,30}(?:key|token)[\w.-]{0,10}${ASSIGN}|Token\s{1,4}token=["']?)(?<secret>u\+[A-Za-z0-9_-]{18}|[A-Za-z0-9_+-]{20})(?![A-Za-z0-9_+-])`,
    flags: 'i',
    entropy: 3,
    migrate: 'pagerduty',
    truePositives: [
      'PAGERDUTY_API_KEY=m0eKSE2ryi30ldP94OnR',
      'curl -H "Authorization: Token token=u+xg0_oalfwrt4iNYlXs" https://api.pagerduty.com/users',
      'pagerduty_token: "u+xD1gyGWhHPf4rGi46G"',
    ],
    falsePositives: ['PAGERDUTY_ROUTING_KEY=8dc003f6096079a1b279499d35893c7b', 'PAGERDUTY_API_KEY=${PD_KEY}', 'PAGERDUTY_SERVICE_ID=PD415CB'],
  },
  {
    // Opsgenie API keys are UUIDs: named next to Opsgenie, or after the GenieKey scheme.
    id: 'opsgenie-api-key',
    description: 'Opsgenie API key',
    provider: 'opsgenie',
    keywords: ['opsgenie', 'geniekey'],
    pattern: re`(?:(?<![A-Za-z0-9])opsgenie[\w.-]{0,30}(?:key|token)[\w.-]{0,10}${ASSIGN}|GenieKey\s{1,4})(?<secret>${UUID})(?![A-Za-z0-9-])`,
    flags: 'i',
    entropy: 3,
    migrate: 'opsgenie',
    truePositives: [
      'OPSGENIE_API_KEY=0288feff-885f-4248-a123-73ce5738a0b5',
      'curl -H "Authorization: GenieKey fbb28ee8-9d77-41c4-9d0f-fbd51bade5e0" https://api.opsgenie.com/v2/alerts',
    ],
    falsePositives: ['OPSGENIE_TEAM_ID=2be1689b-e993-4d1a-89ac-e5035a04042c', 'OPSGENIE_API_KEY=${OPSGENIE_API_KEY}', 'OPSGENIE_API_KEY=cc2d370cc60a0e2f1f8dcb3c'],
  },
  {
    // Rollbar access tokens: 32 hex. Client-side (post_client_item) tokens ship in web pages and are skipped.
    id: 'rollbar-access-token',
    description: 'Rollbar access token',
    provider: 'rollbar',
    keywords: ['rollbar'],
    pattern: re`(?<![A-Za-z0-9])rollbar(?![\w.-]{0,30}client)[\w.-]{0,30}(?:token|key)[\w.-]{0,10}${ASSIGN}(?<secret>[a-f0-9]{32})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3,
    migrate: 'rollbar',
    truePositives: ['ROLLBAR_ACCESS_TOKEN=5dea3b3ea46b185a83d14b4da3d04824', "-H 'X-Rollbar-Access-Token: 628d8b40a85028cd2ba720284a66fdc4'"],
    falsePositives: ['ROLLBAR_CLIENT_TOKEN=603a9101494437fa5d32d4e8c0c26a1f', 'ROLLBAR_ACCESS_TOKEN=241450d3a38f542c209c2a6a', 'ROLLBAR_ENV=production'],
  },
  {
    // Bugsnag project API keys (notifier) and data access tokens: 32 hex near a mention of Bugsnag.
    id: 'bugsnag-api-key',
    description: 'Bugsnag API key',
    provider: 'bugsnag',
    keywords: ['bugsnag'],
    window: { before: 256, after: 256 },
    pattern: re`(?<![A-Za-z0-9])(?:bugsnag[\w.-]{0,30}(?:key|token)|api[_.-]?key|auth[_.-]?token)[\w.-]{0,10}${ASSIGN}(?<secret>[a-f0-9]{32})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3,
    migrate: 'bugsnag',
    truePositives: ['BUGSNAG_API_KEY=0ee2afc369c5392b74a1cf47c2c2d262', "Bugsnag.start({ apiKey: '27c77df93e803b45747263c31e51867c' })"],
    falsePositives: ['BUGSNAG_RELEASE_STAGE=production', 'BUGSNAG_API_KEY=d002c6fad0f5d76de794', 'Bugsnag.start({ apiKey: process.env.BUGSNAG_KEY })'],
  },
  {
    // LaunchDarkly API access tokens (api-<uuid>) and server-side SDK keys (sdk-<uuid>); mobile keys
    // (mob-) and client-side ids ship in apps and are skipped.
    id: 'launchdarkly-key',
    description: 'LaunchDarkly API access token or server-side SDK key',
    provider: 'launchdarkly',
    keywords: ['launchdarkly', 'ld_sdk', 'ld_api', 'ld-sdk', 'ld-api', 'ld_access'],
    window: { before: 256, after: 256 },
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>(?:api|sdk)-${UUID})(?![A-Za-z0-9-])`,
    entropy: 3,
    migrate: 'launchdarkly',
    truePositives: [
      'LAUNCHDARKLY_SDK_KEY=sdk-46779515-dc66-4699-9956-d0701eb8950d',
      'LD_API_TOKEN=api-205033c0-5de2-4e62-a350-a5ab0551c54e',
      "import * as ld from '@launchdarkly/node-server-sdk';\nconst client = ld.init('sdk-d4fc7672-c971-4165-9835-f2ba4a866cb5');",
    ],
    falsePositives: [
      'LAUNCHDARKLY_MOBILE_KEY=mob-382fb70a-0cb5-483d-b594-a06737aa87a9',
      'LAUNCHDARKLY_CLIENT_ID=e6369a2590cf39e2f844a4aa',
      'REQUEST_ID=api-695f356c-7fbc-45c3-9adf-5b5d04ea467c',
    ],
  },
  {
    // Segment write keys: 32 base62 named as Segment's. Browser snippets embed them, so only server-side names count.
    id: 'segment-write-key',
    description: 'Segment write key',
    provider: 'segment',
    keywords: ['segment_write', 'segment-write', 'segmentwrite', 'segment_api', 'segment_key'],
    pattern: re`(?<![A-Za-z0-9])segment[_.-]?(?:write[_.-]?key|api[_.-]?key|key)[\w.-]{0,10}${ASSIGN}(?<secret>[A-Za-z0-9]{32})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3.5,
    migrate: 'segment',
    truePositives: ['SEGMENT_WRITE_KEY=psUSSnWJoXIGVkj581OrZkjM9bOwMThI', 'segmentWriteKey: "GtZef3zxREUMw312jeR2UuUtFs3Xaahl",'],
    falsePositives: ['SEGMENT_WRITE_KEY=${SEGMENT_WRITE_KEY}', 'SEGMENT_WRITE_KEY=W6eO6ZkXxWwpJNQQRdpo', 'line_segment_length = 12'],
  },
  {
    // Segment Public API tokens: sgp_ + 64 base62.
    id: 'segment-public-api-token',
    description: 'Segment Public API token',
    provider: 'segment',
    keywords: ['sgp_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>sgp_[A-Za-z0-9]{64})(?![A-Za-z0-9_-])`,
    entropy: 4,
    migrate: 'segment',
    truePositives: [
      'SEGMENT_PUBLIC_API_TOKEN=sgp_1E8TiViM2m7Rq88Ocj0jzYCyiLlyrKaXfSeHTwe0bqiUeW6vn1hIyK8acSc09myx',
      'Authorization: Bearer sgp_2Lnez3iEagSGqwyHvsMKpKPKfmeV5cNIncJcWMJcGN5wSOu7NM0ykVZMpdkjzJfd',
    ],
    falsePositives: ['SELECT * FROM sgp_gateway_pagamentos', 'sgp_tOkkaOlgEG5toa2In86CCybdMd5UgqQuyOwdfE9Q'],
  },
  {
    // PostHog personal API keys: phx_ + ~43 base64url. Project keys (phc_) are public by design: not matched.
    id: 'posthog-personal-api-key',
    description: 'PostHog personal API key',
    provider: 'posthog',
    keywords: ['phx_'],
    pattern: re`(?<![A-Za-z0-9_-])(?<secret>phx_[A-Za-z0-9_-]{40,50})(?![A-Za-z0-9_-])`,
    entropy: 4,
    migrate: 'posthog',
    truePositives: ['POSTHOG_PERSONAL_API_KEY=phx_nOQB015l3iAY3yHFcbcB3t5zk1WgFZJVSmHCH1ZVFq2', '"Authorization": "Bearer phx_hUnI5666mWj9QP9gsmjYmJYb_yAAmZGKflK_-WCxDUJ"'],
    falsePositives: ['NEXT_PUBLIC_POSTHOG_KEY=phc_fK7iRgwu5DLeCqdvJhqlWJqk7TvpMWO3EUskrZ8hvFd', 'phx_tWiCZ1tGRnYvtFNoHBSb', 'POSTHOG_PERSONAL_API_KEY=phx_...'],
  },
  {
    // Better Stack (Logtail) source and API tokens: 20-40 base62 named next to Logtail or Better Stack.
    id: 'betterstack-token',
    description: 'Better Stack (Logtail) token',
    provider: 'betterstack',
    keywords: ['logtail', 'betterstack', 'better_stack', 'better-stack'],
    pattern: re`(?<![A-Za-z0-9])(?:logtail|better[_.-]?stack)(?:[\w.-]{0,30}(?:token|key)[\w.-]{0,10}${ASSIGN}|\(\s{0,4}["'\`])(?<secret>[A-Za-z0-9]{20,40})(?![A-Za-z0-9])`,
    flags: 'i',
    entropy: 3.5,
    migrate: 'betterstack',
    truePositives: [
      'LOGTAIL_SOURCE_TOKEN=vdOQEUPv85jHdGb0kOrMiEVq',
      'const logtail = new Logtail("ChjqZh5PiEbXBLz7C6Z51M6o");',
      'BETTERSTACK_API_TOKEN=bhkvcPjyaqsTGpnumMDg2IMtlU73Tk4u',
    ],
    falsePositives: ['LOGTAIL_SOURCE_TOKEN=${LOGTAIL_TOKEN}', 'LOGTAIL_INGESTING_HOST=in.logs.betterstack.com', 'LOGTAIL_SOURCE_TOKEN=Gg5Zo02PArKF'],
  },
];
