import type { Hook } from '@oclif/core';
import { didYouMean, editDistance, nearest } from '../../kernel/nearest.js';

/**
 * An unknown command: say which words were not understood, without the arguments that oclif
 * glues to them (`scna:.`), and suggest the nearest commands, keeping the arguments given.
 */
const hook: Hook<'command_not_found'> = async function (options) {
  const config = options.config;
  const parts = options.id.split(':');
  const argv = options.argv ?? [];
  const topics = config.topics.filter((t) => !t.hidden).map((t) => t.name.split(':'));
  const names = [...config.commands.filter((c) => !c.hidden).map((c) => c.id.split(':')), ...topics];

  // Read the first one, two, three words as a command name; the closest reading wins, the
  // longer one on a tie (`rule list` → `rules list` rather than the topic `rules`).
  let best: { words: number; distance: number; suggestions: string[] } | undefined;
  for (let words = 1; words <= Math.min(parts.length, 3); words++) {
    const typed = parts.slice(0, words).join(' ');
    const suggestions = nearest(
      typed,
      names.filter((n) => n.length === words).map((n) => n.join(' ')),
    );
    if (!suggestions.length) continue;
    const distance = editDistance(typed, suggestions[0]);
    if (!best || distance <= best.distance) best = { words, distance, suggestions };
  }
  // Without a suggestion, the unknown word is the first one after the known topics.
  let known = 0;
  while (known < parts.length - 1 && topics.some((t) => t.join(':') === parts.slice(0, known + 1).join(':'))) known++;
  const words = best?.words ?? known + 1;
  const rest = [...parts.slice(words), ...argv];
  const quote = (name: string) => `\`${[config.bin, name, ...rest].join(' ')}\``;
  const lines = [`${config.bin}: unknown command "${parts.slice(0, words).join(' ')}"`];
  if (best) lines.push(`  ${didYouMean(best.suggestions, quote)}`);
  lines.push(`  See \`${config.bin} ${known ? `${parts.slice(0, known).join(' ')} ` : ''}--help\` for the commands.`);
  process.stderr.write(lines.join('\n') + '\n');
  this.exit(2);
};

export default hook;
