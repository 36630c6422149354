import { join } from 'node:path';

/**
 * Where credentials and agent configs live, per platform. docs/locations.md is this table in
 * prose; a test checks that every client here is documented there.
 */

export type ConfigFormat = 'json' | 'jsonc' | 'yaml' | 'toml' | 'ini' | 'npmrc' | 'netrc' | 'git-credentials' | 'env' | 'history' | 'ssh-key';

export interface LocationEnv {
  home: string;
  platform: NodeJS.Platform;
  env: Record<string, string | undefined>;
}

export interface LocationSpec {
  client: string;
  format: ConfigFormat;
  /** `keyward migrate` can rewrite this file (env, MCP/agent configs, aws credentials, npmrc, pypirc, netrc, docker config, git-credentials). */
  migratable: boolean;
  /** Absolute paths on this platform (most have one). */
  paths(e: LocationEnv): string[];
  /** Scan every regular file of these directories instead (SSH keys). */
  directory?: boolean;
}

const xdgConfig = (e: LocationEnv) => e.env.XDG_CONFIG_HOME || join(e.home, '.config');
const appData = (e: LocationEnv) => e.env.APPDATA || join(e.home, 'AppData', 'Roaming');
const macSupport = (e: LocationEnv) => join(e.home, 'Library', 'Application Support');
/** The per-user application config directory: XDG on Linux, Application Support on macOS, %APPDATA% on Windows. */
const appConfig = (e: LocationEnv) => (e.platform === 'darwin' ? macSupport(e) : e.platform === 'win32' ? appData(e) : xdgConfig(e));
const home =
  (...parts: string[]) =>
  (e: LocationEnv) => [join(e.home, ...parts)];

export const HOME_LOCATIONS: LocationSpec[] = [
  // Cloud and registry credentials
  { client: 'AWS CLI', format: 'ini', migratable: true, paths: (e) => [e.env.AWS_SHARED_CREDENTIALS_FILE || join(e.home, '.aws', 'credentials')] },
  { client: 'AWS CLI', format: 'ini', migratable: false, paths: (e) => [e.env.AWS_CONFIG_FILE || join(e.home, '.aws', 'config')] },
  { client: 'npm', format: 'npmrc', migratable: true, paths: (e) => [e.env.NPM_CONFIG_USERCONFIG || join(e.home, '.npmrc')] },
  { client: 'pip / twine', format: 'ini', migratable: true, paths: home('.pypirc') },
  { client: 'netrc (curl, git, pip)', format: 'netrc', migratable: true, paths: (e) => [e.env.NETRC || join(e.home, e.platform === 'win32' ? '_netrc' : '.netrc')] },
  { client: 'Docker', format: 'json', migratable: true, paths: (e) => [join(e.env.DOCKER_CONFIG || join(e.home, '.docker'), 'config.json')] },
  {
    client: 'Podman / skopeo',
    format: 'json',
    migratable: true,
    paths: (e) => [...(e.env.XDG_RUNTIME_DIR ? [join(e.env.XDG_RUNTIME_DIR, 'containers', 'auth.json')] : []), join(xdgConfig(e), 'containers', 'auth.json')],
  },
  {
    client: 'Kubernetes',
    format: 'yaml',
    migratable: false,
    paths: (e) => (e.env.KUBECONFIG ? e.env.KUBECONFIG.split(e.platform === 'win32' ? ';' : ':').filter(Boolean) : [join(e.home, '.kube', 'config')]),
  },
  {
    client: 'GitHub CLI',
    format: 'yaml',
    migratable: false,
    paths: (e) => [join(e.env.GH_CONFIG_DIR || (e.platform === 'win32' ? join(appData(e), 'GitHub CLI') : join(xdgConfig(e), 'gh')), 'hosts.yml')],
  },
  { client: 'git credential store', format: 'git-credentials', migratable: true, paths: (e) => [join(e.home, '.git-credentials'), join(xdgConfig(e), 'git', 'credentials')] },
  { client: 'git config', format: 'ini', migratable: false, paths: (e) => [join(e.home, '.gitconfig'), join(xdgConfig(e), 'git', 'config')] },
  { client: 'SSH private keys', format: 'ssh-key', migratable: false, directory: true, paths: home('.ssh') },
  { client: '.env in home', format: 'env', migratable: true, paths: home('.env') },

  // Shell and REPL histories
  { client: 'bash history', format: 'history', migratable: false, paths: (e) => [e.env.HISTFILE || join(e.home, '.bash_history')] },
  { client: 'zsh history', format: 'history', migratable: false, paths: (e) => [join(e.env.ZDOTDIR || e.home, '.zsh_history'), join(e.home, '.zhistory')] },
  { client: 'sh/ksh history', format: 'history', migratable: false, paths: home('.sh_history') },
  { client: 'fish history', format: 'history', migratable: false, paths: (e) => [join(e.env.XDG_DATA_HOME || join(e.home, '.local', 'share'), 'fish', 'fish_history')] },
  {
    client: 'PowerShell history',
    format: 'history',
    migratable: false,
    paths: (e) =>
      e.platform === 'win32'
        ? [join(appData(e), 'Microsoft', 'Windows', 'PowerShell', 'PSReadLine', 'ConsoleHost_history.txt')]
        : [join(e.env.XDG_DATA_HOME || join(e.home, '.local', 'share'), 'powershell', 'PSReadLine', 'ConsoleHost_history.txt')],
  },
  { client: 'Node.js REPL history', format: 'history', migratable: false, paths: (e) => [e.env.NODE_REPL_HISTORY || join(e.home, '.node_repl_history')] },
  { client: 'Python REPL history', format: 'history', migratable: false, paths: home('.python_history') },
  { client: 'psql history', format: 'history', migratable: false, paths: home('.psql_history') },
  { client: 'mysql history', format: 'history', migratable: false, paths: home('.mysql_history') },

  // MCP and agent clients
  { client: 'Claude Desktop', format: 'json', migratable: true, paths: (e) => [join(appConfig(e), 'Claude', 'claude_desktop_config.json')] },
  { client: 'Claude Code', format: 'json', migratable: true, paths: (e) => [join(e.home, '.claude.json'), join(e.home, '.claude.json.backup')] },
  // Claude Code keeps timestamped copies of ~/.claude.json: the same keys, in the same format.
  { client: 'Claude Code backups', format: 'json', migratable: true, directory: true, paths: (e) => [join(e.env.CLAUDE_CONFIG_DIR || join(e.home, '.claude'), 'backups')] },
  {
    client: 'Claude Code',
    format: 'json',
    migratable: true,
    paths: (e) => [join(e.env.CLAUDE_CONFIG_DIR || join(e.home, '.claude'), 'settings.json'), join(e.env.CLAUDE_CONFIG_DIR || join(e.home, '.claude'), 'settings.local.json')],
  },
  { client: 'Cursor', format: 'json', migratable: true, paths: home('.cursor', 'mcp.json') },
  { client: 'VS Code', format: 'jsonc', migratable: true, paths: (e) => [join(appConfig(e), 'Code', 'User', 'mcp.json'), join(appConfig(e), 'Code', 'User', 'settings.json')] },
  { client: 'VS Code Insiders', format: 'jsonc', migratable: true, paths: (e) => [join(appConfig(e), 'Code - Insiders', 'User', 'mcp.json')] },
  {
    client: 'Cline (VS Code)',
    format: 'json',
    migratable: true,
    paths: (e) => [join(appConfig(e), 'Code', 'User', 'globalStorage', 'saoudrizwan.claude-dev', 'settings', 'cline_mcp_settings.json')],
  },
  { client: 'Windsurf', format: 'json', migratable: true, paths: home('.codeium', 'windsurf', 'mcp_config.json') },
  { client: 'Gemini CLI', format: 'json', migratable: true, paths: home('.gemini', 'settings.json') },
  { client: 'Codex', format: 'toml', migratable: true, paths: (e) => [join(e.env.CODEX_HOME || join(e.home, '.codex'), 'config.toml')] },
  { client: 'Codex', format: 'json', migratable: true, paths: (e) => [join(e.env.CODEX_HOME || join(e.home, '.codex'), 'auth.json')] },
  { client: 'Continue', format: 'json', migratable: true, paths: home('.continue', 'config.json') },
  { client: 'Continue', format: 'yaml', migratable: true, paths: home('.continue', 'config.yaml') },
  {
    client: 'Zed',
    format: 'jsonc',
    migratable: true,
    paths: (e) => [e.platform === 'win32' ? join(appData(e), 'Zed', 'settings.json') : join(xdgConfig(e), 'zed', 'settings.json')],
  },
];

/** Files looked for inside project directories (`--project`), by path relative to a directory. */
export interface ProjectPattern {
  client: string;
  format: ConfigFormat;
  migratable: boolean;
  /** Matches the path relative to the directory being walked, with `/` separators. */
  test(relative: string, name: string): boolean;
}

const exact =
  (...paths: string[]) =>
  (rel: string) =>
    paths.some((p) => rel === p || rel.endsWith(`/${p}`));

export const PROJECT_PATTERNS: ProjectPattern[] = [
  { client: '.env file', format: 'env', migratable: true, test: (_rel, name) => name === '.env' || name.startsWith('.env.') },
  { client: 'npm', format: 'npmrc', migratable: true, test: (_rel, name) => name === '.npmrc' },
  { client: 'pip / twine', format: 'ini', migratable: true, test: (_rel, name) => name === '.pypirc' },
  { client: 'Claude Code', format: 'json', migratable: true, test: exact('.mcp.json', '.claude/settings.json', '.claude/settings.local.json') },
  { client: 'Cursor', format: 'json', migratable: true, test: exact('.cursor/mcp.json') },
  { client: 'VS Code', format: 'jsonc', migratable: true, test: exact('.vscode/mcp.json', '.vscode/settings.json') },
  { client: 'Gemini CLI', format: 'json', migratable: true, test: exact('.gemini/settings.json') },
  { client: 'Codex', format: 'toml', migratable: true, test: exact('.codex/config.toml') },
  { client: 'Continue', format: 'yaml', migratable: true, test: (rel) => /(?:^|\/)\.continue\/(?:config\.yaml|mcpServers\/[^/]+\.ya?ml)$/.test(rel) },
  { client: 'Continue', format: 'json', migratable: true, test: (rel) => /(?:^|\/)\.continue\/(?:config\.json|mcpServers\/[^/]+\.json)$/.test(rel) },
  { client: 'Zed', format: 'jsonc', migratable: true, test: exact('.zed/settings.json') },
  { client: 'Windsurf', format: 'json', migratable: true, test: exact('.windsurf/mcp_config.json') },
];

/** Directories never entered when looking through a project: dependencies, build output, VCS data. */
export const PROJECT_SKIP_DIRS = new Set([
  'node_modules',
  '.git',
  '.hg',
  '.svn',
  'vendor',
  '.venv',
  'venv',
  '__pycache__',
  '.tox',
  'dist',
  'build',
  'target',
  '.next',
  '.nuxt',
  '.cache',
  '.gradle',
  '.terraform',
]);
