/** The policy rule an "always" answer writes, as shown to the person before it is written. */
export function ruleFor(c: { agent: string; credential: string; permission: string; resource?: string; mode: string }): string {
  const fields = [`agent: ${JSON.stringify(c.agent)}`, `credential: ${c.credential}`, `permission: ${JSON.stringify(c.permission)}`];
  if (c.resource) fields.push(`resource: ${JSON.stringify(c.resource)}`);
  fields.push(`mode: ${c.mode}`, 'decision: allow');
  return `- { ${fields.join(', ')} }`;
}
