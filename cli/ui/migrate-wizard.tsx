import { Box, Text, useApp, useInput } from 'ink';
import { useMemo, useState } from 'react';
import { ENTRY_NAME } from '../../daemon/vault/vault.js';

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
  /** The entry's name is how a tool finds it (AWS profile, git or Docker host): name and profile are not editable. */
  nameFixed: boolean;
  suggestedProfile: string;
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
}

type Mode = { screen: 'item'; index: number; editing?: string; error?: string } | { screen: 'review' };

export function MigrateWizard(props: WizardProps) {
  const { items, providers } = props;
  const { exit } = useApp();
  const [choices, setChoices] = useState<WizardChoice[]>(() => items.map((i) => ({ action: 'move', name: i.suggestedName, provider: i.suggestedProfile })));
  const [mode, setMode] = useState<Mode>(items.length ? { screen: 'item', index: 0 } : { screen: 'review' });
  const [done, setDone] = useState(false);
  const review = useMemo(() => (mode.screen === 'review' ? props.review(choices) : undefined), [mode.screen, choices]);

  const finish = (result: WizardChoice[] | undefined) => {
    if (done) return;
    setDone(true);
    props.onDone(result);
    exit();
  };
  const setChoice = (index: number, choice: WizardChoice) => setChoices((all) => all.map((c, i) => (i === index ? choice : c)));
  const nameProblem = (name: string, index: number): string | undefined => {
    if (!ENTRY_NAME.test(name)) return 'a name is letters, digits, ".", "_" and "-" (up to 64), starting with a letter or digit';
    if (props.existing.has(name)) return `the vault already has an entry named ${name}`;
    if (choices.some((c, i) => i !== index && c.action === 'move' && c.name === name)) return `${name} is already the name of another key here`;
    return undefined;
  };
  const next = (index: number) => setMode(index + 1 < items.length ? { screen: 'item', index: index + 1 } : { screen: 'review' });

  useInput((input, key) => {
    if (done) return;
    if (mode.screen === 'review') {
      if (input === 'y') finish(choices);
      else if (input === 'q' || key.escape) finish(undefined);
      else if ((key.leftArrow || input === 'b') && items.length) setMode({ screen: 'item', index: items.length - 1 });
      return;
    }
    const { index } = mode;
    const current = choices[index];
    const moving = current.action === 'move' ? current : { action: 'move' as const, name: items[index].suggestedName, provider: items[index].suggestedProfile };
    if (mode.editing !== undefined) {
      if (key.return) {
        const problem = nameProblem(mode.editing, index);
        if (problem) setMode({ ...mode, error: problem });
        else {
          setChoice(index, { ...moving, name: mode.editing });
          setMode({ screen: 'item', index });
        }
      } else if (key.escape) setMode({ screen: 'item', index });
      // Functional updates: keys typed faster than the screen redraws all count.
      else if (key.backspace || key.delete) setMode((m) => (m.screen === 'item' && m.editing !== undefined ? { ...m, editing: m.editing.slice(0, -1), error: undefined } : m));
      else if (input && !key.ctrl && !key.meta && /^[\x20-\x7e]+$/.test(input)) setMode((m) => (m.screen === 'item' && m.editing !== undefined ? { ...m, editing: (m.editing + input).slice(0, 64), error: undefined } : m));
      return;
    }
    if (input === 'm' || key.return) {
      setChoice(index, moving);
      next(index);
    } else if (input === 's') {
      setChoice(index, { action: 'skip' });
      next(index);
    } else if (input === 'a') {
      setChoice(index, { action: 'accept' });
      next(index);
    } else if (input === 'e') {
      if (items[index].nameFixed) setMode({ screen: 'item', index, error: 'this entry is named for how the tool finds it (profile or host); the name cannot change' });
      else setMode({ screen: 'item', index, editing: moving.name });
    }
    else if ((input === 'p' || input === 'P') && items[index].nameFixed) setMode({ screen: 'item', index, error: "this entry is read by the tool's credential helper, not through a provider profile" });
    else if (input === 'p' || input === 'P') {
      const at = providers.indexOf(moving.provider);
      const step = input === 'p' ? 1 : providers.length - 1;
      setChoice(index, { ...moving, provider: providers[((at < 0 ? 0 : at) + step) % providers.length] });
    } else if (key.leftArrow || input === 'b') {
      if (index > 0) setMode({ screen: 'item', index: index - 1 });
    } else if (key.rightArrow) next(index);
    else if (input === 'q' || key.escape) finish(undefined);
  });

  if (mode.screen === 'review' && review) return <ReviewScreen review={review} baselineFile={props.baselineFile} hasItems={items.length > 0} />;
  if (mode.screen !== 'item') return null;
  const item = items[mode.index];
  const choice = choices[mode.index];
  const [first, ...others] = item.locations;
  const moving = choice.action === 'move' ? choice : undefined;
  return (
    <Box flexDirection="column">
      <Text bold>
        keyward migrate: key {mode.index + 1} of {items.length}
      </Text>
      <Box flexDirection="column" marginTop={1} marginLeft={2}>
        <Text>
          <Text bold>{item.description}</Text> ({item.ruleId}, {item.confidence})
        </Text>
        <Text>
          File      {first.file}:{first.line}
        </Text>
        {first.keyPath ? <Text>Key path  {first.keyPath}</Text> : null}
        <Text>Provider  {item.provider}</Text>
        <Text>Secret    {item.masked}</Text>
        {others.length ? (
          <Box flexDirection="column">
            <Text>Also in   {where(others[0])}</Text>
            {others.slice(1, 6).map((l, i) => (
              <Text key={i}>          {where(l)}</Text>
            ))}
            {others.length > 6 ? <Text>          … and {others.length - 6} more</Text> : null}
          </Box>
        ) : (
          <Text dimColor>Also in   nowhere else that was scanned</Text>
        )}
      </Box>
      <Box flexDirection="column" marginTop={1} marginLeft={2}>
        {choice.action === 'move' || mode.editing !== undefined ? (
          <>
            <Text>
              Vault entry       {mode.editing !== undefined ? <Text inverse>{mode.editing + ' '}</Text> : <Text bold>{moving?.name}</Text>}
              {item.nameFixed ? <Text dimColor> (named for how the tool finds it)</Text> : null}
            </Text>
            <Text>
              Provider profile  <Text bold>{moving?.provider ?? item.suggestedProfile}</Text>
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

function ReviewScreen({ review, baselineFile, hasItems }: { review: Review; baselineFile: string; hasItems: boolean }) {
  const nothing = review.files.length === 0 && review.accepted === 0;
  return (
    <Box flexDirection="column">
      <Text bold>keyward migrate: review</Text>
      {review.files.map((f) => (
        <Box key={f.path} flexDirection="column" marginTop={1}>
          <Text bold>
            {f.path} ({f.kind})
          </Text>
          {f.changes.map((c, i) => (
            <Text key={i} color={c.startsWith('+') ? 'green' : c.startsWith('-') ? 'red' : undefined}>
              {'  '}
              {c}
            </Text>
          ))}
        </Box>
      ))}
      {review.entries.length ? (
        <Box marginTop={1}>
          <Text>Vault entries: {review.entries.map((e) => `${e.name} (${e.provider})`).join(', ')}</Text>
        </Box>
      ) : null}
      {review.rules.length ? (
        <Box flexDirection="column" marginTop={1}>
          <Text>Policy rules to add to policy.yaml:</Text>
          {review.rules.map((r, i) => (
            <Text key={i}>  {r}</Text>
          ))}
        </Box>
      ) : null}
      {review.accepted ? (
        <Box marginTop={1}>
          <Text>
            {review.accepted} finding(s) accepted: added to {baselineFile}
          </Text>
        </Box>
      ) : null}
      {review.notes.length || review.skipped.length ? (
        <Box flexDirection="column" marginTop={1}>
          {review.notes.map((n, i) => (
            <Text key={`n${i}`} dimColor>
              note: {n}
            </Text>
          ))}
          {review.skipped.map((s, i) => (
            <Text key={`s${i}`} dimColor>
              skipped: {s}
            </Text>
          ))}
        </Box>
      ) : null}
      <Box marginTop={1}>
        <Text>
          {nothing ? 'Nothing to change. ' : ''}
          <Text dimColor>{nothing ? 'q quit' : 'y apply these changes · q quit without changes'}{hasItems ? ' · ← back' : ''}</Text>
        </Text>
      </Box>
    </Box>
  );
}
