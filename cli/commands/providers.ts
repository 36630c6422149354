import { Args } from '@oclif/core';
import { BaseCommand } from '../base.js';

export default class Providers extends BaseCommand {
  static override summary = 'List the providers: upstream, permissions (methods and paths), resource form and the environment variables they set.';
  static override description =
    'Built-in providers and your own (providers/<name>.yaml in the config directory, which can also override a built-in one). A grant is credential:permission[:resource]: the permission is one listed here for the credential’s provider.';
  static override examples = ['<%= config.bin %> providers', '<%= config.bin %> providers github', '<%= config.bin %> providers --json'];
  static override enableJsonFlag = true;
  static override args = { name: Args.string({ description: 'Show only this provider.' }) };

  async run() {
    const { args } = await this.parse(Providers);
    const { listProviders } = await import('../services/providers.js');
    const providers = listProviders(args.name);
    if (!this.jsonEnabled()) {
      for (const p of providers) {
        this.log(`${p.name}${p.description ? `  ${p.description}` : ''}`);
        this.log(`  upstream     ${p.upstream}`);
        this.log(`  key          ${p.inject}`);
        const env = [p.env.key && `${p.env.key} (key)`, p.env.baseUrl && `${p.env.baseUrl} (base URL)`, ...(p.env.aliases ?? [])].filter(Boolean);
        this.log(`  environment  ${env.length ? env.join(', ') : '(none)'}`);
        if (p.resource) this.log(`  resource     ${p.resource}`);
        this.log('  permissions');
        for (const perm of p.permissions) {
          for (const [i, rule] of perm.rules.entries()) this.log(`    ${(i === 0 ? perm.name : '').padEnd(16)} ${rule.methods.join(',').padEnd(24)} ${rule.paths.join(' ')}`);
        }
        this.log('');
      }
    }
    return providers;
  }
}
