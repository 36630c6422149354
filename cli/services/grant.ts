import { obtain } from './run.js';

/** One more grant for the session this process runs in. */
export async function requestGrant(token: string, spec: string, ttl: string | undefined, stderr: NodeJS.WritableStream) {
  const issued = await obtain(token, { spec, ttl }, `grant ${spec}`, stderr);
  return { grant: issued.grant, env: issued.env };
}
