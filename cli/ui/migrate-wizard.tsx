import { Box, Text, useApp, useInput, useStdout } from 'ink';
import { useEffect, useMemo, useReducer, useRef } from 'react';
import { ENTRY_NAME } from '../../daemon/vault/vault.js';
import { plural } from '../../kernel/units.js';

/**
 * The interactive `keyward migrate`: one screen per secret, then a review of every change before
 * anything is written. Pure presentation: the items, the planner and the result callback are
 * passed in, so tests drive it with plain data.
 */
export interface WizardLocation {
  file: string;
  line: number;
  keyPath?: string;
}

export interface WizardItem {
  /** The findings (fingerprint in a file) this key's choice applies to. */
  occurrences: string[];
  description: string;
  ruleId: string;
  provider: string;
  confidence: string;
  /** The secret (or secrets: an AWS key pair), masked. */
  masked: string;
  /** Every place the secret was found; the first is where it is shown from. */
  locations: WizardLocation[];
  suggestedName: string;
  /** The entry's name is how a tool finds it (AWS profile, git or Docker host): not editable. */
  nameFixed: boolean;
  /** The entry is read by a credential helper or the proxy's MCP route: no provider profile to choose. */
  profileFixed: boolean;
  suggestedProfile: string;
  /** False when keyward cannot rewrite where the key is: only skip or accept. */
  movable: boolean;
  /** Why it cannot be moved. */
  reason?: string;
}

export type WizardChoice = { action: 'move'; name: string; provider: string } | { action: 'skip' } | { action: 'accept' };

export interface ReviewFile {
  path: string;
  kind: string;
  /** Changed lines, secrets masked: `-old` and `+new`. */
  changes: string[];
}

export interface Review {
  files: ReviewFile[];
  entries: { name: string; provider: string }[];
  rules: string[];
  notes: string[];
  skipped: string[];
  accepted: number;
  /** Keys in history or images: cannot be rewritten; rotate them. */
  exposed: string[];
}

export interface WizardProps {
  items: WizardItem[];
  /** Provider profiles an entry can use. */
  providers: string[];
  /** Vault entries that exist already: not offered as names. */
  existing: Set<string>;
  /** What the choices would change (the migration plan, summarised). */
  review(choices: WizardChoice[]): Review;
  /** Where accepted findings go. */
  baselineFile: string;
  /** Called once: the choices to apply, or undefined to change nothing. */
  onDone(choices: WizardChoice[] | undefined): void;
  /** Choices from an interrupted run, per item (undefined where there was none): the screens start from them. */
  resumed?: (WizardChoice | undefined)[];
  /** Called after each change of the choices, so that an interrupted run can resume. */
  onChange?(choices: WizardChoice[]): void;
}

type Mode = { screen: 'item'; index: number; editing?: string; error?: string } | { screen: 'review'; /** First detail line shown. */ scroll?: number };

export interface WizardState {
  choices: WizardChoice[];
  mode: Mode;
  /** Set once the user is done: the choices to apply, or undefined to change nothing. */
  result?: { choices: WizardChoice[] | undefined };
}

interface KeyPress {
  input: string;
  key: {
    return?: boolean;
    escape?: boolean;
    backspace?: boolean;
    delete?: boolean;
    leftArrow?: boolean;
    rightArrow?: boolean;
    upArrow?: boolean;
    downArrow?: boolean;
    pageUp?: boolean;
    pageDown?: boolean;
    ctrl?: boolean;
    meta?: boolean;
  };
}

type Context = Pick<WizardProps, 'items' | 'providers' | 'existing'> & {
  /** The review's scrolling: detail lines in all, and how many fit on the screen. */
  reviewLines?: { total: number; height: number };
};

export function initialState(items: WizardItem[], resumed?: (WizardChoice | undefined)[]): WizardState {
  return {
    choices: items.map(
      (i, n) =>
        (resumed?.[n] && (resumed[n].action !== 'move' || i.movable) ? resumed[n] : undefined) ??
        (i.movable ? { action: 'move', name: i.suggestedName, provider: i.suggestedProfile } : { action: 'skip' }),
    ),
    mode: items.length ? { screen: 'item', index: 0 } : { screen: 'review' },
  };
}

function nameProblem(ctx: Context, choices: WizardChoice[], name: string, index: number): string | undefined {
  if (!ENTRY_NAME.test(name)) return 'a name is letters, digits, ".", "_" and "-" (up to 64), starting with a letter or digit';
  if (ctx.items[index].nameFixed) return undefined;
  if (ctx.existing.has(name)) return `the vault already has an entry named ${name}`;
  if (choices.some((c, i) => i !== index && c.action === 'move' && c.name === name)) return `${name} is already the name of another key here`;
  return undefined;
}

/**
 * One key press: a pure step from state to state, so that keys typed faster than the screen
 * redraws (or pasted) each act on the state the previous one left.
 */
export function step(state: WizardState, { input, key }: KeyPress, ctx: Context): WizardState {
  if (state.result) return state;
  const { items, providers } = ctx;
  const { mode, choices } = state;
  const setChoice = (index: number, choice: WizardChoice) => choices.map((c, i) => (i === index ? choice : c));
  const after = (index: number): Mode => (index + 1 < items.length ? { screen: 'item', index: index + 1 } : { screen: 'review' });
  if (mode.screen === 'review') {
    if (input === 'y') return { ...state, result: { choices } };
    const { total, height } = ctx.reviewLines ?? { total: 0, height: 1 };
    const max = Math.max(0, total - height);
    const at = Math.min(mode.scroll ?? 0, max);
    const by = key.upArrow || input === 'k' ? -1 : key.downArrow || input === 'j' ? 1 : key.pageUp ? -height : key.pageDown || input === ' ' ? height : 0;
    if (by) return { ...state, mode: { screen: 'review', scroll: Math.max(0, Math.min(max, at + by)) } };
    if (input === 'q' || key.escape) return { ...state, result: { choices: undefined } };
    if ((key.leftArrow || input === 'b') && items.length) return { ...state, mode: { screen: 'item', index: items.length - 1 } };
    return state;
  }
  const { index } = mode;
  const item = items[index];
  const current = choices[index];
  const moving = current.action === 'move' ? current : { action: 'move' as const, name: item.suggestedName, provider: item.suggestedProfile };
  if (mode.editing !== undefined) {
    if (key.escape) return { ...state, mode: { screen: 'item', index } };
    if (key.backspace || key.delete) return { ...state, mode: { ...mode, editing: mode.editing.slice(0, -1), error: undefined } };
    if (key.ctrl || key.meta) return state;
    // Typed or pasted text, perhaps ending with enter.
    const enter = key.return || /[\r\n]/.test(input);
    const typed = input.replace(/[^\x20-\x7e]/g, '');
    const editing = (mode.editing + typed).slice(0, 64);
    if (!enter) return { ...state, mode: { ...mode, editing, error: undefined } };
    const problem = nameProblem(ctx, choices, editing, index);
    if (problem) return { ...state, mode: { ...mode, editing, error: problem } };
    return { ...state, choices: setChoice(index, { ...moving, name: editing }), mode: { screen: 'item', index } };
  }
  if (input === 'm' || key.return) {
    if (!item.movable) return { ...state, mode: { screen: 'item', index, error: `keyward cannot move this one: ${item.reason ?? 'no rewrite for this file'}` } };
    // The name may have been given to another key since: ask for another.
    const problem = nameProblem(ctx, choices, moving.name, index);
    if (problem) return { ...state, mode: { screen: 'item', index, editing: moving.name, error: problem } };
    return { ...state, choices: setChoice(index, moving), mode: after(index) };
  }
  if (input === 's') return { ...state, choices: setChoice(index, { action: 'skip' }), mode: after(index) };
  if (input === 'a') return { ...state, choices: setChoice(index, { action: 'accept' }), mode: after(index) };
  if (input === 'e') {
    if (!item.movable) return { ...state, mode: { screen: 'item', index, error: `keyward cannot move this one: ${item.reason ?? 'no rewrite for this file'}` } };
    if (item.nameFixed) return { ...state, mode: { screen: 'item', index, error: 'this entry is named for how the tool finds it (profile or host); the name cannot change' } };
    return { ...state, mode: { screen: 'item', index, editing: moving.name } };
  }
  if (input === 'p' || input === 'P') {
    if (!item.movable || item.profileFixed)
      return {
        ...state,
        mode: {
          screen: 'item',
          index,
          error: item.movable
            ? "this entry is read by a credential helper or the proxy's MCP route, not through a provider profile"
            : `keyward cannot move this one: ${item.reason ?? 'no rewrite for this file'}`,
        },
      };
    const at = providers.indexOf(moving.provider);
    const delta = input === 'p' ? 1 : providers.length - 1;
    return { ...state, choices: setChoice(index, { ...moving, provider: providers[((at < 0 ? 0 : at) + delta) % providers.length] }), mode: { screen: 'item', index } };
  }
  if (key.leftArrow || input === 'b') return index > 0 ? { ...state, mode: { screen: 'item', index: index - 1 } } : state;
  if (key.rightArrow) return { ...state, mode: after(index) };
  if (input === 'q' || key.escape) return { ...state, result: { choices: undefined } };
  return state;
}

export function MigrateWizard(props: WizardProps) {
  const { items } = props;
  const { exit } = useApp();
  const { stdout } = useStdout();
  // The review's size, as last drawn, for the key handler (scrolling stops at the end).
  const drawn = useRef({ total: 0, height: 1 });
  const [state, dispatch] = useReducer(
    (s: WizardState, press: KeyPress): WizardState => step(s, press, { ...props, reviewLines: drawn.current }),
    items,
    (i) => initialState(i, props.resumed),
  );
  const { mode, choices } = state;
  const review = useMemo((): Review | undefined => (mode.screen === 'review' ? props.review(choices) : undefined), [mode.screen, choices]);
  const details = useMemo((): Line[] => (review ? reviewDetails(review, props.baselineFile) : []), [review]);
  // The header, the summary, the footer and their margins take 7 rows.
  const reviewLines: { total: number; height: number } = { total: details.length, height: Math.max(3, (stdout.rows || 24) - 7) };
  drawn.current = reviewLines;
  useEffect(() => props.onChange?.(choices), [choices]);
  useEffect(() => {
    if (!state.result) return;
    props.onDone(state.result.choices);
    exit();
  }, [state.result]);
  useInput((input, key) => dispatch({ input, key }));

  // Once answered, the last frame left on the terminal is one line, not a screen the output runs into.
  if (state.result) return <Text dimColor>keyward migrate: {state.result.choices ? 'applying…' : 'nothing changed'}</Text>;
  if (mode.screen === 'review' && review)
    return (
      <ReviewScreen
        review={review}
        details={details}
        scroll={Math.min(mode.scroll ?? 0, Math.max(0, details.length - reviewLines.height))}
        height={reviewLines.height}
        hasItems={items.length > 0}
      />
    );
  if (mode.screen !== 'item') return null;
  const item = items[mode.index];
  const choice = choices[mode.index];
  const [first, ...others] = item.locations;
  const moving = choice.action === 'move' ? choice : undefined;
  return (
    <Box flexDirection="column">
      <Text bold>
        keyward migrate: key {mode.index + 1} of {items.length}
        {props.resumed ? <Text dimColor> (choices from the interrupted run)</Text> : null}
      </Text>
      <Box flexDirection="column" marginTop={1} marginLeft={2}>
        <Text>
          <Text bold>{item.description}</Text> ({item.ruleId}, {item.confidence})
        </Text>
        <Text>
          {'File      '}
          {first.file}:{first.line}
        </Text>
        {first.keyPath ? (
          <Text>
            {'Key path  '}
            {first.keyPath}
          </Text>
        ) : null}
        <Text>
          {'Provider  '}
          {item.provider}
        </Text>
        <Text>
          {'Secret    '}
          {item.masked}
        </Text>
        {others.length ? (
          <Box flexDirection="column">
            <Text>
              {'Also in   '}
              {where(others[0])}
            </Text>
            {others.slice(1, 6).map((l, i) => (
              <Text key={i}>
                {' '.repeat(10)}
                {where(l)}
              </Text>
            ))}
            {others.length > 6 ? (
              <Text>
                {' '.repeat(10)}… and {others.length - 6} more
              </Text>
            ) : null}
          </Box>
        ) : (
          <Text dimColor>{'Also in   '}nowhere else that was scanned</Text>
        )}
      </Box>
      {!item.movable ? (
        <Box marginTop={1} marginLeft={2}>
          <Text color="yellow">keyward cannot move this one: {item.reason ?? 'no rewrite for this file'}. Skip it or accept it.</Text>
        </Box>
      ) : null}
      <Box flexDirection="column" marginTop={1} marginLeft={2}>
        {choice.action === 'move' || mode.editing !== undefined ? (
          <>
            <Text>
              {'Vault entry       '}
              {mode.editing !== undefined ? <Text inverse>{mode.editing + ' '}</Text> : <Text bold>{moving?.name}</Text>}
              {item.nameFixed ? <Text dimColor> (named for how the tool finds it)</Text> : null}
            </Text>
            <Text>
              {'Provider profile  '}
              <Text bold>{moving?.provider ?? item.suggestedProfile}</Text>
              {item.profileFixed ? <Text dimColor> (read by a credential helper or the proxy)</Text> : null}
            </Text>
          </>
        ) : (
          <Text>
            Chosen: <Text bold>{choice.action === 'skip' ? 'skip (left as it is)' : `accept (added to ${props.baselineFile})`}</Text>
          </Text>
        )}
        {mode.error ? <Text color="red">{mode.error}</Text> : null}
      </Box>
      <Box marginTop={1}>
        {mode.editing !== undefined ? (
          <Text dimColor>type the entry name · enter keep it · esc cancel</Text>
        ) : (
          <Text dimColor>m/enter move to vault · e edit name · p/P provider · s skip · a accept (baseline) · ← back · q quit without changes</Text>
        )}
      </Box>
    </Box>
  );
}

const where = (l: WizardLocation) => `${l.file}:${l.line}${l.keyPath ? `  ${l.keyPath}` : ''}`;

type Line = { text: string; color?: 'green' | 'red' | 'yellow'; bold?: boolean; dim?: boolean };

/** One line that says what the review holds. */
export function reviewSummary(review: Review): string {
  const parts = [
    plural(review.files.length, 'file changes', 'files change'),
    plural(review.entries.length, 'vault entry', 'vault entries'),
    plural(review.rules.length, 'policy rule', 'policy rules'),
  ];
  if (review.accepted) parts.push(`${review.accepted} accepted`);
  if (review.skipped.length) parts.push(`${review.skipped.length} skipped`);
  if (review.exposed.length) parts.push(`${review.exposed.length} exposed (rotate)`);
  return parts.join(' · ');
}

/** Everything the review shows below its summary, a line each: the part that scrolls. */
export function reviewDetails(review: Review, baselineFile: string): Line[] {
  const out: Line[] = [];
  const gap = () => out.length && out.push({ text: '' });
  for (const f of review.files) {
    gap();
    out.push({ text: `${f.path} (${f.kind})`, bold: true });
    for (const c of f.changes) out.push({ text: `  ${c}`, color: c.startsWith('+') ? 'green' : c.startsWith('-') ? 'red' : undefined });
  }
  if (review.entries.length) {
    gap();
    out.push({ text: `Vault entries: ${review.entries.map((e) => `${e.name} (${e.provider})`).join(', ')}` });
  }
  if (review.rules.length) {
    gap();
    out.push({ text: 'Policy rules to add to policy.yaml:' }, ...review.rules.map((r) => ({ text: `  ${r}` })));
  }
  if (review.accepted) {
    gap();
    out.push({ text: `${plural(review.accepted, 'finding')} accepted: added to ${baselineFile}` });
  }
  const notes = [...new Set(review.notes)];
  if (notes.length || review.skipped.length) {
    gap();
    out.push(...notes.map((n) => ({ text: `note: ${n}`, dim: true })), ...review.skipped.map((s) => ({ text: `skipped: ${s}`, dim: true })));
  }
  if (review.exposed.length) {
    gap();
    out.push({ text: 'Exposed where keyward cannot rewrite (rotate these at the provider):', color: 'yellow' }, ...review.exposed.map((e) => ({ text: `  ${e}` })));
  }
  return out;
}

function ReviewScreen({ review, details, scroll, height, hasItems }: { review: Review; details: Line[]; scroll: number; height: number; hasItems: boolean }) {
  const nothing = review.files.length === 0 && review.accepted === 0;
  const shown = details.slice(scroll, scroll + height);
  const scrolls = details.length > height;
  return (
    <Box flexDirection="column">
      <Text bold>keyward migrate: review</Text>
      <Text>{reviewSummary(review)}</Text>
      <Box flexDirection="column" marginTop={1}>
        {shown.map((l, i) => (
          <Text key={scroll + i} color={l.color} bold={l.bold} dimColor={l.dim} wrap="truncate-end">
            {l.text || ' '}
          </Text>
        ))}
      </Box>
      <Box marginTop={1}>
        <Text>
          {nothing ? 'Nothing to change. ' : ''}
          <Text dimColor>
            {nothing ? 'q quit' : 'y apply these changes · q quit without changes'}
            {scrolls ? ` · ↑/↓ PgUp/PgDn scroll (lines ${scroll + 1}–${scroll + shown.length} of ${details.length})` : ''}
            {hasItems ? ' · ← back' : ''}
          </Text>
        </Text>
      </Box>
    </Box>
  );
}
