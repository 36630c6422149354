import { describe, expect, it } from 'vitest';
import { mintingNote } from '../../../cli/services/migrate/minting.js';

describe('migrate: where minting could replace a stored key', () => {
  it('offers STS for AWS key pairs, a role per grant for PostgreSQL URLs, a GitHub App for PATs; never quotes the key', () => {
    const aws = mintingNote(
      'aws-default',
      { value: '{"AccessKeyId":"AKIAEXAMPLEEXAMPLE12","SecretAccessKey":"s3cr3t"}', attributes: { helper: 'aws', profile: 'default' } },
      'generic',
    );
    expect(aws).toContain('keyward vault mint aws-default');
    expect(aws).not.toContain('s3cr3t');
    const pg = mintingNote('prod-db', { value: 'postgresql://admin:hunter2@db.internal/app' }, 'generic');
    expect(pg).toContain('keyward vault mint prod-db --as postgres');
    expect(pg).not.toContain('hunter2');
    const gh = mintingNote('github', { value: 'ghp_' + 'a'.repeat(36) }, 'github');
    expect(gh).toContain('appId=');
    expect(gh).not.toContain('ghp_');
  });

  it('says nothing for keys that cannot be minted from', () => {
    expect(mintingNote('openai', { value: 'sk-proj-abc' }, 'openai')).toBeUndefined();
    expect(mintingNote('cache', { value: 'redis://:pw@cache/0' }, 'generic')).toBeUndefined();
    expect(mintingNote('gh-app', { value: '-----BEGIN RSA PRIVATE KEY-----' }, 'github')).toBeUndefined();
  });
});
