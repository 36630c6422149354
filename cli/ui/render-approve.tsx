import { render } from 'ink';
import { Approve, type Actions, type Feed } from './approve.js';

/** Draws `keyward approve` until the user quits. The only place ink renders this screen. */
export async function renderApprove(feed: Feed, actions: Actions): Promise<void> {
  const app = render(<Approve feed={feed} actions={actions} />, { exitOnCtrlC: true });
  await app.waitUntilExit();
}
