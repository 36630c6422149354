import { readFileSync } from 'node:fs';
import { Document, parseDocument } from 'yaml';
import { writeFileAtomic } from '../../kernel/atomic-file.js';
import { configFile } from '../../daemon/config.js';
import { daemonFiles, ensurePrivateDir, ping } from '../../daemon/files.js';
import { keywardPaths } from '../../kernel/paths.js';
import { FileStore } from '../../daemon/vault/file-store.js';
import { KeychainStore } from '../../daemon/vault/keychain.js';
import { KeywardError } from '../../kernel/errors.js';

/** Sets `vault.backend` in config.yaml, keeping the rest of the file as it is. */
function setBackend(backend: 'keychain' | 'file'): void {
  const file = configFile();
  let doc: Document;
  try {
    doc = parseDocument(readFileSync(file, 'utf8'));
    if (doc.errors.length) throw new KeywardError(`${file} has YAML errors; fix them first`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    doc = new Document({});
  }
  doc.setIn(['vault', 'backend'], backend);
  writeFileAtomic(file, doc.toString(), { mode: 0o600 });
}

export async function initVault(options: { file?: boolean }): Promise<{ backend: 'keychain' | 'file'; message: string }> {
  const paths = keywardPaths();
  for (const dir of [paths.config, paths.state]) ensurePrivateDir(dir);
  const files = daemonFiles(paths);
  const running = await ping(files.adminSock);
  const restart = running ? ' Restart the daemon to use it: keyward daemon stop && keyward daemon start' : '';
  if (!options.file) {
    await new KeychainStore().check();
    setBackend('keychain');
    return { backend: 'keychain', message: `The OS keychain works; the vault uses it.${restart}` };
  }
  let passphrase = process.env.KEYWARD_VAULT_PASSPHRASE;
  if (!passphrase) {
    const { promptHidden } = await import('../prompt.js');
    passphrase = await promptHidden('New vault passphrase: ');
    const again = await promptHidden('Repeat it: ');
    if (again !== passphrase) throw new KeywardError('the passphrases differ; nothing was created');
  }
  if (!FileStore.exists(files.fileVault)) await FileStore.create(files.fileVault, passphrase);
  else await new FileStore(files.fileVault, () => passphrase).check();
  setBackend('file');
  return {
    backend: 'file',
    message: `The vault is the encrypted file ${files.fileVault}. keyward daemon start asks for its passphrase on a terminal; a daemon started without it stays locked until keyward vault unlock.${restart}`,
  };
}
