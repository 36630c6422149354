/** The vault entry docker-credential-keyward reads for a registry (what migrate stores it as). */
export function dockerEntry(serverUrl: string): string {
  const host =
    serverUrl
      .replace(/^[a-z]+:\/\//i, '')
      .replace(/\/.*$/, '')
      .toLowerCase() || 'index.docker.io';
  return `docker-${host === 'registry-1.docker.io' || host === 'docker.io' ? 'index.docker.io' : host}`.replace(/[^A-Za-z0-9._-]/g, '_');
}
