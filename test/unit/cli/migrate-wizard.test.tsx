import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { render } from 'ink-testing-library';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { planMigration, type RawFinding } from '../../../cli/services/migrate/plan.js';
import { summarise, toChoices, wizardItems } from '../../../cli/services/migrate/wizard.js';
import { MigrateWizard, initialState, step, type WizardChoice } from '../../../cli/ui/migrate-wizard.js';

const OPENAI = 'sk-proj-Qw3rTy7uIo9pAs2dFg4hJk6lZx8cVb1nM5qW7eR9tY2uI4oP6aS8dF0gH2jK4lZ6xC8vB0nM2qW4eR6tY8uI0oP';
const NETRC = 'Zq8wXe4rCt6vBy2nUm9iKo1lPa3sDf5g';
const dir = mkdtempSync(join(tmpdir(), 'keyward-wizard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

writeFileSync(join(dir, '.env'), `OPENAI_API_KEY=${OPENAI}\nDEBUG=1\n`);
writeFileSync(join(dir, 'other.env'), `KEY=${OPENAI}\n`);
writeFileSync(join(dir, '.netrc'), `machine git.example.com\n  login ada\n  password ${NETRC}\n`);

const finding = (over: Partial<RawFinding>): RawFinding => ({
  ruleId: 'openai-api-key',
  provider: 'openai',
  description: 'OpenAI API key',
  file: join(dir, '.env'),
  line: 1,
  column: 16,
  secret: OPENAI,
  fingerprint: 'a'.repeat(64),
  confidence: 'validated',
  migratable: true,
  source: 'home',
  profile: 'openai',
  ...over,
});
const findings = [
  finding({ keyPath: 'OPENAI_API_KEY', format: 'env' }),
  finding({ file: join(dir, 'other.env'), column: 5, keyPath: 'KEY', format: 'env' }),
  finding({
    ruleId: 'generic-secret-assignment',
    provider: 'generic',
    description: 'Secret-looking value',
    file: join(dir, '.netrc'),
    line: 3,
    column: 12,
    secret: NETRC,
    fingerprint: 'b'.repeat(64),
    confidence: 'pattern',
    profile: undefined,
    format: 'netrc',
    keyPath: '["git.example.com"].password',
  }),
];
const plan = (choices?: Parameters<typeof toChoices>[1], items?: ReturnType<typeof wizardItems>) =>
  planMigration(findings, { launcher: ['keyward'], existing: new Set(['taken']), keysUrl: () => undefined, choices: items && choices ? toChoices(items, choices) : undefined });
const providers = ['generic', 'github', 'openai'];
// eslint-disable-next-line no-restricted-syntax -- a fixed sleep, still to be replaced by a state wait (docs/testing.md#known-debt)
const tick = () => new Promise((r) => setTimeout(r, 60));
/** Waits for a state (a redraw, a result), however loaded the machine is. */
const eventually = (check: () => void) => vi.waitFor(check, { timeout: 5000 });
/** Waits until the wizard reads keys (ink's `readable` listener on stdin): a key sent before is lost. */
const reading = (app: { stdin: { listenerCount(event: string): number } }) => vi.waitFor(() => expect(app.stdin.listenerCount('readable')).toBeGreaterThan(0), { timeout: 5000 });

function setup() {
  const items = wizardItems(findings, plan(), providers);
  let result: WizardChoice[] | undefined | null = null;
  const app = render(
    <MigrateWizard
      items={items}
      providers={providers}
      existing={new Set(['taken'])}
      baselineFile=".keyward-baseline.json"
      review={(c) => summarise(plan(c, items), [OPENAI, NETRC])}
      onDone={(c) => (result = c)}
    />,
  );
  const press = async (...keys: string[]) => {
    for (const k of keys) {
      app.stdin.write(k);
      await tick();
    }
  };
  return { app, items, press, result: () => result };
}

describe('keyward migrate wizard', () => {
  it('one screen per key: where it is, its key path, provider, where else it appears; never the secret', async () => {
    const { app, items } = setup();
    await reading(app);
    expect(items.map((i) => i.suggestedName)).toEqual(['openai', 'git-git.example.com']);
    const screen = app.lastFrame()!;
    expect(screen).toContain('key 1 of 2');
    expect(screen).toContain(`File      ${join(dir, '.env')}:1`);
    expect(screen).toContain('Key path  OPENAI_API_KEY');
    expect(screen).toContain('Provider  openai');
    expect(screen).toContain(`Also in   ${join(dir, 'other.env')}:1  KEY`);
    expect(screen).toContain('Vault entry       openai');
    expect(screen).not.toContain(OPENAI);
    app.unmount();
  });

  it('renames, changes the provider, skips, and applies only after the review', async () => {
    const { app, items, press, result } = setup();
    await reading(app);
    await press('e', ...Array(6).fill('\x7f'), 'b', 'a', 'd', ' ', '!', '\r');
    await eventually(() => expect(app.lastFrame()).toContain('a name is letters, digits'));
    await press('\x7f', '\x7f', 't', 'a', 'k', 'e', 'n');
    await press('\x7f', '\x7f', '\x7f', '\x7f', '\x7f', '\x7f', '\x7f', '\x7f', 't', 'a', 'k', 'e', 'n', '\r');
    await eventually(() => expect(app.lastFrame()).toContain('the vault already has an entry named taken'));
    await press(...Array(5).fill('\x7f'), ...'prod-openai', '\r');
    await eventually(() => expect(app.lastFrame()).toContain('Vault entry       prod-openai'));
    await press('p');
    await eventually(() => expect(app.lastFrame()).toContain('Provider profile  generic'));
    await press('P');
    await eventually(() => expect(app.lastFrame()).toContain('Provider profile  openai'));
    await press('m');
    // The netrc entry is named for git's lookup: not editable.
    await eventually(() => expect(app.lastFrame()).toContain('key 2 of 2'));
    await press('e');
    await eventually(() => expect(app.lastFrame()).toContain('the name cannot change'));
    await press('s');
    await eventually(() => expect(app.lastFrame()).toContain('keyward migrate: review'));
    const review = app.lastFrame()!;
    expect(review).toContain('keyward migrate: review');
    expect(review).toContain('+OPENAI_API_KEY=keyward://prod-openai');
    expect(review).toContain('+KEY=keyward://prod-openai');
    expect(review).not.toContain('.netrc (netrc)');
    expect(review).not.toContain(OPENAI);
    expect(result()).toBeNull();
    await press('y');
    await eventually(() => expect(result()).not.toBeNull());
    const chosen = result() as WizardChoice[];
    expect(chosen).toEqual([{ action: 'move', name: 'prod-openai', provider: 'openai' }, { action: 'skip' }]);
    const final = plan(chosen, items);
    expect([...final.entries.keys()]).toEqual(['prod-openai']);
    expect(final.files.map((f) => f.path).sort()).toEqual([join(dir, '.env'), join(dir, 'other.env')]);
    expect(final.skipped.map((s) => s.file)).toEqual([join(dir, '.netrc')]);
  });

  it('accepting puts a key in the baseline instead; going back changes an answer; q changes nothing', async () => {
    const { app, items, press, result } = setup();
    await reading(app);
    await press('a');
    await eventually(() => expect(app.lastFrame()).toContain('key 2 of 2'));
    await press('\x1b[D');
    await eventually(() => expect(app.lastFrame()).toContain('accept (added to .keyward-baseline.json)'));
    await press('\x1b[C', 'm');
    await eventually(() => expect(app.lastFrame()).toContain('1 finding accepted: added to .keyward-baseline.json'));
    await press('y');
    await eventually(() => expect(result()).not.toBeNull());
    const final = plan(result() as WizardChoice[], items);
    expect(final.accepted.map((f) => f.file)).toEqual([join(dir, '.env'), join(dir, 'other.env')]);
    expect(final.files.map((f) => f.kind)).toEqual(['netrc']);

    const second = setup();
    await reading(second.app);
    await second.press('q');
    await eventually(() => expect(second.result()).toBeUndefined());
  });
});

describe('keys typed faster than the screen redraws', () => {
  it('each press acts on the state the previous one left (written in one go, no waiting)', async () => {
    const { app, items, result } = setup();
    await reading(app);
    // Rename, then skip the next key, then apply: all in one burst.
    app.stdin.write('e');
    for (let i = 0; i < 6; i++) app.stdin.write('\x7f');
    app.stdin.write('x');
    app.stdin.write('y');
    app.stdin.write('z');
    app.stdin.write('\r');
    app.stdin.write('m');
    app.stdin.write('s');
    app.stdin.write('y');
    await vi.waitFor(() => expect(result()).toEqual([{ action: 'move', name: 'xyz', provider: 'openai' }, { action: 'skip' }]), { timeout: 5000 });
    expect(items).toHaveLength(2);
  });

  it('a pasted name ending in a newline is taken whole', () => {
    const items = wizardItems(findings, plan(), providers);
    const ctx = { items, providers, existing: new Set<string>() };
    let state = step(initialState(items), { input: 'e', key: {} }, ctx);
    for (let i = 0; i < 6; i++) state = step(state, { input: '', key: { backspace: true } }, ctx);
    state = step(state, { input: 'team-openai\r', key: {} }, ctx);
    expect(state.choices[0]).toEqual({ action: 'move', name: 'team-openai', provider: 'openai' });
  });

  it('moving a key whose name another key took meanwhile asks for another name', () => {
    const items = wizardItems(findings, plan(), providers);
    const ctx = { items, providers, existing: new Set<string>() };
    let state = initialState(items);
    state = { ...state, choices: [state.choices[0], { action: 'move', name: 'openai', provider: 'generic' }] };
    state = step(state, { input: 'm', key: {} }, ctx);
    expect(state.mode).toMatchObject({ screen: 'item', index: 0, editing: 'openai', error: 'openai is already the name of another key here' });
  });
});

describe('the plan never puts two secrets in one entry', () => {
  it('a .netrc password and a .git-credentials token for the same host: the second stays, said why', () => {
    const other = 'Pq7wXe4rCt6vBy2nUm9iKo1lPa3sDf5h';
    writeFileSync(join(dir, '.git-credentials'), `https://ada:${other}@git.example.com\n`);
    const both = [
      findings[2],
      finding({
        ruleId: 'generic-secret-assignment',
        provider: 'generic',
        file: join(dir, '.git-credentials'),
        line: 1,
        column: 13,
        secret: other,
        fingerprint: 'c'.repeat(64),
        format: 'git-credentials',
        profile: undefined,
      }),
    ];
    const p = planMigration(both, { launcher: ['keyward'], existing: new Set(), keysUrl: () => undefined });
    expect([...p.entries.keys()]).toEqual(['git-git.example.com']);
    expect(JSON.parse(p.entries.get('git-git.example.com')!.value).password).toBe(NETRC);
    expect(p.files.map((f) => f.kind)).toEqual(['netrc']);
    expect(p.skipped).toEqual([
      {
        file: join(dir, '.git-credentials'),
        line: 1,
        ruleId: 'generic-secret-assignment',
        reason: expect.stringContaining('vault entry git-git.example.com already takes a different secret'),
      },
    ]);
  });

  it('the same key in .env and in an HTTP MCP server header: two entries, the route keeps its own', () => {
    const token = 'ghp_Rt5yUi8oPa2sDf4gHj6kLz8xCv0bNm1qWe3r';
    writeFileSync(join(dir, 'gh.env'), `GITHUB_TOKEN=${token}\n`);
    writeFileSync(join(dir, 'mcp.json'), `{"mcpServers":{"github":{"url":"https://api.example.com/mcp","headers":{"Authorization":"Bearer ${token}"}}}}\n`);
    const f = (file: string, keyPath: string, format: string) =>
      finding({ ruleId: 'github-classic-pat', provider: 'github', file: join(dir, file), secret: token, fingerprint: 'd'.repeat(64), keyPath, format, profile: 'github' });
    const p = planMigration([f('gh.env', 'GITHUB_TOKEN', 'env'), f('mcp.json', 'mcpServers.github.headers.Authorization', 'json')], {
      launcher: ['keyward'],
      existing: new Set(),
      keysUrl: () => undefined,
      proxy: { url: 'http://127.0.0.1:7419', used: new Map() },
    });
    expect([...p.entries.keys()]).toEqual(['github', 'github-2']);
    expect(p.entries.get('github')!.attributes).toBeUndefined();
    expect(p.entries.get('github-2')!.attributes).toMatchObject({ helper: 'mcp-http', server: 'github' });
    expect(p.files).toHaveLength(2);
  });
});

describe('what the wizard cannot move, and what stays exposed', () => {
  it('a key in a file keyward cannot rewrite gets a screen to skip or accept it; exposed keys are in the review', async () => {
    writeFileSync(join(dir, 'notes.txt'), `key: ${OPENAI}\n`);
    const some = [
      finding({ file: join(dir, 'notes.txt'), column: 6, fingerprint: 'e'.repeat(64), keyPath: undefined, format: undefined }),
      finding({ file: 'old.env', source: 'history', commit: 'abc123def4567890', secret: '', fingerprint: 'f'.repeat(64) }),
    ];
    const p = planMigration(some, { launcher: ['keyward'], existing: new Set(), keysUrl: () => 'https://platform.openai.com/api-keys' });
    const items = wizardItems(some, p, providers);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ movable: false, reason: expect.stringContaining('cannot rewrite this kind of file') });
    let result: WizardChoice[] | undefined | null = null;
    const app = render(
      <MigrateWizard
        items={items}
        providers={providers}
        existing={new Set()}
        baselineFile="b.json"
        review={(c) =>
          summarise(planMigration(some, { launcher: ['keyward'], existing: new Set(), keysUrl: () => 'https://platform.openai.com/api-keys', choices: toChoices(items, c) }), [
            OPENAI,
          ])
        }
        onDone={(c) => (result = c)}
      />,
    );
    await reading(app);
    await eventually(() => expect(app.lastFrame()).toContain('keyward cannot move this one'));
    app.stdin.write('m');
    await tick();
    await eventually(() => expect(app.lastFrame()).toContain('Chosen: skip'));
    app.stdin.write('a');
    await eventually(() => expect(app.lastFrame()).toContain('accepted'));
    const review = app.lastFrame()!;
    expect(review).toContain('1 finding accepted');
    expect(review).toContain('old.env (openai-api-key) in commit abc123def456: https://platform.openai.com/api-keys');
    app.stdin.write('y');
    await eventually(() => expect(result).toEqual([{ action: 'accept' }]));
  });
});

describe('the wizard and its review escape what came from the files', () => {
  it('shows control characters in file names, key paths and notes as escapes', () => {
    const file = join(dir, 'evil\u001b]0;pwned\u0007.env');
    writeFileSync(file, `OPENAI_API_KEY=${OPENAI}\n`);
    const finding: RawFinding = {
      ruleId: 'openai-project-key',
      provider: 'openai',
      description: 'OpenAI \u001b[2J key',
      file,
      line: 1,
      column: 16,
      secret: OPENAI,
      fingerprint: 'e'.repeat(64),
      confidence: 'pattern',
      migratable: true,
      source: 'file',
      keyPath: 'OPENAI\u001b[1A',
    };
    const plan = planMigration([finding], { launcher: ['node', 'run.js'], existing: new Set(), keysUrl: () => undefined });
    plan.notes.push('note \u001b[31mred');
    const items = wizardItems([finding], plan, ['openai']);
    // Occurrences are keys for the answers, never shown.
    const shown = JSON.stringify(items.map(({ occurrences: _o, ...shownFields }) => shownFields)) + JSON.stringify(summarise(plan, [OPENAI]));
    expect(shown).not.toMatch(/\\u001b|\u001b|\\u0007/);
    expect(items[0].locations[0].file).toContain('evil\\e]0;pwned\\x07.env');
    expect(items[0].description).toBe('OpenAI \\e[2J key');
  });
});
