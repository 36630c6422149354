import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import forge from 'node-forge';
import { writeFileAtomic } from '../atomic-file.js';
import type { SecretStore } from '../vault/store.js';

/** Where the CA's private key lives in the secret store (not listed as a vault entry). */
export const CA_KEY_ENTRY = 'keyward.proxy-ca-key';
const CA_DAYS = 825;
const LEAF_DAYS = 7;

export interface CaFiles {
  /** keyward's CA certificate (public): NODE_EXTRA_CA_CERTS points here. */
  cert: string;
  /** The system's CAs plus keyward's: SSL_CERT_FILE and friends point here. */
  bundle: string;
}

export function caFiles(configDir: string): CaFiles {
  return { cert: join(configDir, 'proxy-ca.pem'), bundle: join(configDir, 'ca-bundle.pem') };
}

/** Signs a forge certificate's TBS with a Node key (native RSA, much faster than forge's). */
function signCertificate(cert: forge.pki.Certificate, key: KeyObject): void {
  cert.signatureOid = forge.pki.oids.sha256WithRSAEncryption;
  cert.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption;
  const tbs = (forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);
  cert.tbsCertificate = tbs;
  const der = Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary');
  cert.signature = sign('sha256', der, key).toString('binary');
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f; // positive
  return bytes.toString('hex');
}

function publicKeyOf(key: KeyObject): forge.pki.PublicKey {
  return forge.pki.publicKeyFromPem(createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString());
}

/**
 * The local CA of the interception proxy. Created once: the private key goes into the secret
 * store (the OS keychain), the certificate under the config directory. Leaf certificates for
 * intercepted hosts are minted on demand with one per-run leaf key and cached.
 */
export class LocalCA {
  private readonly contexts = new Map<string, { context: SecureContext; until: number }>();
  private readonly leafKey: KeyObject;
  private readonly leafPublic: forge.pki.PublicKey;

  private constructor(
    private readonly caKey: KeyObject,
    private readonly caCert: forge.pki.Certificate,
    readonly files: CaFiles,
  ) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.leafKey = privateKey;
    this.leafPublic = publicKeyOf(privateKey);
  }

  /** Loads the CA, creating it (and the CA bundle) the first time. */
  static async load(store: SecretStore, configDir: string): Promise<LocalCA> {
    const files = caFiles(configDir);
    let keyPem = await store.get(CA_KEY_ENTRY);
    let certPem = existsSync(files.cert) ? readFileSync(files.cert, 'utf8') : undefined;
    let cert = certPem ? forge.pki.certificateFromPem(certPem) : undefined;
    const usable = keyPem && cert && cert.validity.notAfter.getTime() > Date.now() + 86_400_000 && matches(keyPem, certPem!);
    if (!usable) {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      cert = forge.pki.createCertificate();
      cert.publicKey = publicKeyOf(privateKey);
      cert.serialNumber = serial();
      cert.validity.notBefore = new Date(Date.now() - 3_600_000);
      cert.validity.notAfter = new Date(Date.now() + CA_DAYS * 86_400_000);
      const name = [
        { name: 'commonName', value: `keyward local proxy CA (${safeUser()}@${hostname()})` },
        { name: 'organizationName', value: 'keyward' },
      ];
      cert.setSubject(name);
      cert.setIssuer(name);
      cert.setExtensions([
        { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
        { name: 'subjectKeyIdentifier' },
      ]);
      signCertificate(cert, privateKey);
      certPem = forge.pki.certificateToPem(cert);
      await store.set(CA_KEY_ENTRY, keyPem);
      writeFileAtomic(files.cert, certPem, { mode: 0o644 });
    }
    writeBundle(files, certPem!);
    return new LocalCA(createPrivateKey(keyPem!), cert!, files);
  }

  /** A TLS context presenting a certificate for `host`, signed by this CA. */
  contextFor(host: string): SecureContext {
    const cached = this.contexts.get(host);
    if (cached && cached.until > Date.now()) return cached.context;
    const cert = forge.pki.createCertificate();
    cert.publicKey = this.leafPublic;
    cert.serialNumber = serial();
    cert.validity.notBefore = new Date(Date.now() - 3_600_000);
    const notAfter = Math.min(Date.now() + LEAF_DAYS * 86_400_000, this.caCert.validity.notAfter.getTime());
    cert.validity.notAfter = new Date(notAfter);
    cert.setSubject([{ name: 'commonName', value: host }]);
    cert.setIssuer(this.caCert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [isIP(host) ? { type: 7, ip: host } : { type: 2, value: host }] },
    ]);
    signCertificate(cert, this.caKey);
    const context = createSecureContext({ key: this.leafKey.export({ type: 'pkcs8', format: 'pem' }), cert: forge.pki.certificateToPem(cert) });
    if (this.contexts.size > 1000) this.contexts.clear();
    this.contexts.set(host, { context, until: notAfter - 3_600_000 });
    return context;
  }
}

function matches(keyPem: string, certPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** The system's CAs (Node's Mozilla bundle and the OS bundle, if any) plus keyward's. */
function writeBundle(files: CaFiles, caPem: string): void {
  const system = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'].find((f) => existsSync(f));
  const parts = [system ? readFileSync(system, 'utf8') : rootCertificates.join('\n'), caPem];
  writeFileAtomic(files.bundle, parts.map((p) => p.trim()).join('\n') + '\n', { mode: 0o644 });
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'user';
  }
}
