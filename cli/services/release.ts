import { call, ensureDaemon } from '../daemon-client.js';
import { obtain } from './run.js';

/**
 * One secret for one tool invocation, through a release grant: a short session for `agent` (a
 * sub-agent when the caller runs inside a `keyward run` session), a grant the policy decides on
 * (waiting for consent where it says ask), the value, and the session ended again. What
 * credential helpers (git, docker, AWS) use: the tool asks, keyward answers for this once.
 */
export async function releaseSecret(
  agent: string,
  credential: string,
  options: { ttl?: string; stderr?: NodeJS.WritableStream; permission?: string } = {},
): Promise<{ value: string; expires: string }> {
  await ensureDaemon();
  const opened = await call<{ token: string }>('agent', 'POST', '/v1/sessions', { agent, pid: process.pid }, { token: process.env.KEYWARD_SESSION });
  try {
    // A permission narrows what a minted credential may do (aws-prod:s3:read:bucket).
    const body = options.permission ? { spec: `${credential}:${options.permission}`, mode: 'release', ttl: options.ttl } : { credential, mode: 'release', ttl: options.ttl };
    const issued = await obtain(opened.token, body, `release of ${credential} to ${agent}`, options.stderr ?? process.stderr);
    const resolved = await call<{ value: string }>('agent', 'POST', '/v1/resolve', { grant: issued.token }, { token: opened.token });
    return { value: resolved.value, expires: issued.grant.expires };
  } finally {
    // The tool that called this helper uses the credential after the helper exits: a minted one
    // lives until its grant expires (keep=released); a stored one was copied out anyway.
    await call('agent', 'DELETE', '/v1/sessions/current?keep=released', undefined, { token: opened.token }).catch(() => {});
  }
}
