import { Box, Text, useApp, useInput } from 'ink';
import { useEffect, useRef, useState } from 'react';
import type { ConsentInfo } from '../../daemon/broker/broker.js';
import { ruleFor } from '../consent-rule.js';

export { ruleFor };

/**
 * `keyward approve`: consent requests, active grants and the last audit events, live. Pure
 * presentation: the event feed and the actions are passed in, so tests drive it with fakes.
 */
/** A consent request as `admin.sock` sends it (the screen does not need its session and delegator). */
export type PendingConsent = Omit<ConsentInfo, 'session' | 'delegator'>;

export interface ActiveGrant {
  id: string;
  agent: string;
  chain: string[];
  task?: string;
  credential: string;
  permission: string;
  resource?: string;
  mode: string;
  expires: string;
}

export interface AuditEntry {
  seq: number;
  time: string;
  event: string;
  agent?: string;
  chain?: string[];
  credential?: string;
  permission?: string;
  resource?: string;
  decision?: string;
  reason?: string;
  downstream?: { method: string; host: string; path: string; status?: number };
  /** For `finding` records: the rule, file and line (never the secret). */
  detail?: { rule?: string; file?: string; line?: number };
}

/** What a `finding` record says: which rule matched where. */
export function findingSummary(r: AuditEntry): string {
  return `${r.detail?.rule ?? '?'} in ${r.detail?.file ?? '?'}:${r.detail?.line ?? '?'}`;
}

export interface Feed {
  /** Calls back with every snapshot and audit record; returns an unsubscribe function. */
  subscribe(handlers: {
    snapshot(s: { pending: PendingConsent[]; grants: ActiveGrant[] }): void;
    audit(r: AuditEntry): void;
    connection(state: 'connected' | 'reconnecting'): void;
  }): () => void;
}

export type Answer = 'allow-once' | 'allow-session' | 'always' | 'deny';

export interface Actions {
  answer(id: string, answer: Answer): Promise<string>;
  revoke(grantId: string): Promise<string>;
}

export interface ApproveProps {
  feed: Feed;
  actions: Actions;
  now?: () => number;
  /** Last audit events shown. */
  auditLines?: number;
}

const what = (x: { credential: string; permission: string; resource?: string }) => [x.credential, x.permission, x.resource].filter(Boolean).join(':');

export function timeLeft(iso: string, now: number): string {
  const s = Math.max(0, Math.round((Date.parse(iso) - now) / 1000));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

function Consent({ c, selected, details, now }: { c: PendingConsent; selected: boolean; details: boolean; now: number }) {
  return (
    <Box flexDirection="column" borderStyle={selected ? 'bold' : 'single'} borderColor={selected ? (c.mode === 'release' ? 'red' : 'yellow') : 'gray'} paddingX={1}>
      <Text>
        <Text bold>{c.chain.join(' → ')}</Text> wants{' '}
        <Text bold color="cyan">
          {what(c)}
        </Text>{' '}
        for {timeLeft(new Date(now + c.ttl).toISOString(), now)}
        {'  '}
        {c.mode === 'release' ? (
          <Text color="red" bold>
            RELEASE: the raw secret leaves keyward
          </Text>
        ) : (
          <Text color="green">proxy: the agent holds a placeholder</Text>
        )}
      </Text>
      <Text dimColor>
        task: {c.task ?? '(none given)'} · policy: {c.policy.decision} ({c.policy.reason}) · times out in {timeLeft(c.expires, now)}
      </Text>
      {details && (
        <Box flexDirection="column" marginTop={1}>
          <Text>
            request {c.id} · provider {c.provider ?? '?'} · asked at {c.created.slice(11, 19)}
          </Text>
          <Text>"always" would add to policy.yaml: {ruleFor(c)}</Text>
        </Box>
      )}
    </Box>
  );
}

export function Approve({ feed, actions, now: clock = Date.now, auditLines = 8 }: ApproveProps) {
  const { exit } = useApp();
  const [pending, setPending] = useState<PendingConsent[]>([]);
  const [grants, setGrants] = useState<ActiveGrant[]>([]);
  const [audit, setAudit] = useState<AuditEntry[]>([]);
  const [connection, setConnection] = useState<'connected' | 'reconnecting'>('reconnecting');
  const [focus, setFocus] = useState<'pending' | 'grants'>('pending');
  const [index, setIndex] = useState(0);
  const [grantIndex, setGrantIndex] = useState(0);
  const [details, setDetails] = useState(false);
  const [confirmAlways, setConfirmAlways] = useState<PendingConsent | undefined>();
  const [message, setMessage] = useState('');
  const [now, setNow] = useState(clock());

  useEffect(
    () =>
      feed.subscribe({
        snapshot: (s) => {
          setPending(s.pending);
          setGrants(s.grants);
        },
        audit: (r) => setAudit((a) => [...a, r].slice(-auditLines)),
        connection: setConnection,
      }),
    [feed, auditLines],
  );
  useEffect(() => {
    const t = setInterval(() => setNow(clock()), 1000);
    return () => clearInterval(t);
  }, [clock]);

  const selected = pending[Math.min(index, pending.length - 1)];
  const selectedGrant = grants[Math.min(grantIndex, grants.length - 1)];
  const act = (p: Promise<string>) => void p.then(setMessage, (e: Error) => setMessage(`error: ${e.message}`));

  // What the keys act on. ink attaches a new key handler only after a redraw has been committed,
  // so a key typed just after the screen changed can reach the previous handler: the handler
  // reads and writes this ref, which always holds the latest selection, never its own closure.
  const live = useRef({ pending, grants, focus, index, grantIndex, confirmAlways });
  live.current = { pending, grants, focus, index, grantIndex, confirmAlways };
  const set = (patch: Partial<typeof live.current>) => {
    live.current = { ...live.current, ...patch };
    if (patch.focus !== undefined) setFocus(patch.focus);
    if (patch.index !== undefined) setIndex(patch.index);
    if (patch.grantIndex !== undefined) setGrantIndex(patch.grantIndex);
    if ('confirmAlways' in patch) setConfirmAlways(patch.confirmAlways);
  };

  useInput((input, key) => {
    const now = live.current;
    const chosen = now.pending[Math.min(now.index, now.pending.length - 1)];
    const chosenGrant = now.grants[Math.min(now.grantIndex, now.grants.length - 1)];
    if (now.confirmAlways) {
      if (input === 'y') act(actions.answer(now.confirmAlways.id, 'always'));
      else setMessage('"always" cancelled: nothing written');
      set({ confirmAlways: undefined });
      return;
    }
    if (input === 'q' || (key.ctrl && input === 'c')) return exit();
    if (key.tab) return set({ focus: now.focus === 'pending' ? 'grants' : 'pending' });
    if (key.upArrow || input === 'k') return now.focus === 'pending' ? set({ index: Math.max(0, now.index - 1) }) : set({ grantIndex: Math.max(0, now.grantIndex - 1) });
    if (key.downArrow || input === 'j')
      return now.focus === 'pending'
        ? set({ index: Math.max(0, Math.min(now.pending.length - 1, now.index + 1)) })
        : set({ grantIndex: Math.max(0, Math.min(now.grants.length - 1, now.grantIndex + 1)) });
    if (key.return) return setDetails((d) => !d);
    if (input === 'r') {
      if (now.focus !== 'grants') {
        set({ focus: 'grants' });
        return setMessage('select a grant (↑/↓) and press r again to revoke it');
      }
      if (chosenGrant) act(actions.revoke(chosenGrant.id));
      return;
    }
    if (!chosen || now.focus !== 'pending') return;
    if (input === 'a') act(actions.answer(chosen.id, 'allow-once'));
    else if (input === 's') act(actions.answer(chosen.id, 'allow-session'));
    else if (input === 'd') act(actions.answer(chosen.id, 'deny'));
    else if (input === 'A') {
      set({ confirmAlways: chosen });
      setMessage('');
    }
  });

  return (
    <Box flexDirection="column">
      <Box justifyContent="space-between">
        <Text bold>keyward approve</Text>
        <Text color={connection === 'connected' ? 'green' : 'yellow'}>{connection === 'connected' ? '● connected to the daemon' : '○ reconnecting…'}</Text>
      </Box>
      <Text bold underline color={focus === 'pending' ? 'yellow' : undefined}>
        Consent requests ({pending.length})
      </Text>
      {pending.length === 0 ? (
        <Text dimColor>Nothing is waiting. Requests appear here as agents make them.</Text>
      ) : (
        pending.map((c) => <Consent key={c.id} c={c} selected={c === selected && focus === 'pending'} details={details && c === selected} now={now} />)
      )}
      {confirmAlways && (
        <Box borderStyle="double" borderColor="magenta" flexDirection="column" paddingX={1}>
          <Text>Always allow? This rule will be written to policy.yaml:</Text>
          <Text bold>{ruleFor(confirmAlways)}</Text>
          <Text>y: write it and allow · any other key: cancel</Text>
        </Box>
      )}
      <Text> </Text>
      <Text bold underline color={focus === 'grants' ? 'yellow' : undefined}>
        Active grants ({grants.length})
      </Text>
      {grants.length === 0 && <Text dimColor>None.</Text>}
      {grants.map((g) => (
        <Text key={g.id} inverse={focus === 'grants' && g === selectedGrant}>
          {timeLeft(g.expires, now).padStart(7)} {g.chain.slice(1).join(' → ')} · {what(g)} · {g.mode}
          {g.task ? ` · ${g.task}` : ''} <Text dimColor>({g.id})</Text>
        </Text>
      ))}
      <Text> </Text>
      <Text bold underline>
        Recent events
      </Text>
      {audit.map((r) =>
        r.event === 'finding' ? (
          <Text key={r.seq} color="yellow">
            {r.time.slice(11, 19)} {r.event.padEnd(16)} new secret: {findingSummary(r)}
          </Text>
        ) : (
          <Text key={r.seq} dimColor={r.decision !== 'deny'} color={r.decision === 'deny' || r.event === 'admin.refused' ? 'red' : undefined}>
            {r.time.slice(11, 19)} {r.event.padEnd(16)} {(r.chain ?? [r.agent ?? '']).slice(1).join(' → ')}{' '}
            {r.credential ? what({ credential: r.credential, permission: r.permission ?? '', resource: r.resource }) : ''}
            {r.downstream ? ` ${r.downstream.method} ${r.downstream.host}${r.downstream.path} ${r.downstream.status ?? ''}` : ''}
            {r.decision ? ` ${r.decision}` : ''}
          </Text>
        ),
      )}
      <Text> </Text>
      {message && <Text color="cyan">{message}</Text>}
      <Text dimColor>a allow once · s allow for session · A always · d deny · enter details · tab switch list · r revoke grant · q quit</Text>
    </Box>
  );
}
