/**
 * Where a migrated key could stop being handed out at all: keyward can mint short-lived,
 * scoped credentials from an AWS key pair (STS) or a PostgreSQL admin URL (a role per grant),
 * and a GitHub App replaces a personal access token. Migrate says how, per entry; the key
 * itself is never in the note.
 */
export function mintingNote(entry: string, stored: { value: string; provider?: string; attributes?: Record<string, string> }, provider: string): string | undefined {
  if (stored.attributes?.helper === 'aws') {
    return `${entry}: instead of handing this key pair to the AWS CLI, keyward can mint short-lived STS credentials from it: keyward vault mint ${entry} [--role-arn arn:aws:iam::<account>:role/<role>]`;
  }
  if (/^postgres(ql)?:\/\//i.test(stored.value)) {
    return `${entry}: if this URL's role has CREATEROLE, keyward can give each grant its own short-lived login role instead of this one: keyward vault mint ${entry} --as postgres`;
  }
  if (provider === 'github' && /^(ghp_|github_pat_)/.test(stored.value)) {
    return `${entry}: a GitHub App's installation tokens (one repository, one hour at most, revoked when the grant ends) can replace this personal access token: keyward vault add <name> --provider github --from-file app.pem -a appId=<id> -a installation=<id>`;
  }
  return undefined;
}
