import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPair, randomBytes, sign, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { promisify } from 'node:util';
import type forgeType from 'node-forge';
import { writeFileAtomic } from '../../kernel/atomic-file.js';
import type { SecretStore } from '../vault/store.js';

type Forge = typeof forgeType;
let forgeLoaded: Promise<Forge> | undefined;
/**
 * node-forge builds certificates; it costs the daemon ~11 MB, so it loads only when a certificate
 * is made (the first run, and the first intercepted host), not for a daemon that never intercepts.
 */
const loadForge = () => (forgeLoaded ??= import('node-forge').then((m) => (m.default ?? m) as Forge));
const newRsaKey = async () => (await promisify(generateKeyPair)('rsa', { modulusLength: 2048 })).privateKey;

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
function signCertificate(forge: Forge, cert: forgeType.pki.Certificate, key: KeyObject): void {
  cert.signatureOid = forge.pki.oids.sha256WithRSAEncryption;
  cert.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption;
  const tbs = (forge.pki as unknown as { getTBSCertificate(c: forgeType.pki.Certificate): forgeType.asn1.Asn1 }).getTBSCertificate(cert);
  cert.tbsCertificate = tbs;
  const der = Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary');
  cert.signature = sign('sha256', der, key).toString('binary');
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f; // positive
  return bytes.toString('hex');
}

function publicKeyOf(forge: Forge, key: KeyObject): forgeType.pki.PublicKey {
  return forge.pki.publicKeyFromPem(createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString());
}

/**
 * The local CA of the interception proxy. Created once: the private key goes into the secret
 * store (the OS keychain), the certificate under the config directory. Leaf certificates for
 * intercepted hosts are minted on demand with one per-run leaf key and cached.
 */
export class LocalCA {
  private readonly contexts = new Map<string, { context: SecureContext; until: number }>();
  private leaf?: Promise<{ forge: Forge; key: KeyObject; keyPem: string; publicKey: forgeType.pki.PublicKey; caCert: forgeType.pki.Certificate }>;

  private constructor(
    private readonly caKey: KeyObject,
    private readonly caCertPem: string,
    readonly files: CaFiles,
  ) {}

  /** Loads the CA, creating it (and the CA bundle) the first time. */
  static async load(store: SecretStore, configDir: string): Promise<LocalCA> {
    const files = caFiles(configDir);
    let keyPem = await store.get(CA_KEY_ENTRY);
    let certPem = existsSync(files.cert) ? readFileSync(files.cert, 'utf8') : undefined;
    let usable = false;
    if (keyPem && certPem) {
      try {
        const cert = new X509Certificate(certPem);
        usable = Date.parse(cert.validTo) > Date.now() + 86_400_000 && cert.checkPrivateKey(createPrivateKey(keyPem));
      } catch {
        usable = false;
      }
    }
    if (!usable) {
      const forge = await loadForge();
      const privateKey = await newRsaKey();
      keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const cert = forge.pki.createCertificate();
      cert.publicKey = publicKeyOf(forge, privateKey);
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
      signCertificate(forge, cert, privateKey);
      certPem = forge.pki.certificateToPem(cert);
      await store.set(CA_KEY_ENTRY, keyPem);
      writeFileAtomic(files.cert, certPem, { mode: 0o644 });
    }
    writeBundle(files, certPem!);
    return new LocalCA(createPrivateKey(keyPem!), certPem!, files);
  }

  /** One leaf key per daemon run, made (with forge loaded) when the first host is intercepted. */
  private leafMaterial() {
    this.leaf ??= (async () => {
      const forge = await loadForge();
      const key = await newRsaKey();
      return {
        forge,
        key,
        keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
        publicKey: publicKeyOf(forge, key),
        caCert: forge.pki.certificateFromPem(this.caCertPem),
      };
    })();
    return this.leaf;
  }

  /** A TLS context presenting a certificate for `host`, signed by this CA. */
  async contextFor(host: string): Promise<SecureContext> {
    const cached = this.contexts.get(host);
    if (cached && cached.until > Date.now()) return cached.context;
    const { forge, keyPem, publicKey, caCert } = await this.leafMaterial();
    const again = this.contexts.get(host);
    if (again && again.until > Date.now()) return again.context;
    const cert = forge.pki.createCertificate();
    cert.publicKey = publicKey;
    cert.serialNumber = serial();
    cert.validity.notBefore = new Date(Date.now() - 3_600_000);
    const notAfter = Math.min(Date.now() + LEAF_DAYS * 86_400_000, caCert.validity.notAfter.getTime());
    cert.validity.notAfter = new Date(notAfter);
    cert.setSubject([{ name: 'commonName', value: host }]);
    cert.setIssuer(caCert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [isIP(host) ? { type: 7, ip: host } : { type: 2, value: host }] },
    ]);
    signCertificate(forge, cert, this.caKey);
    const context = createSecureContext({ key: keyPem, cert: forge.pki.certificateToPem(cert) });
    if (this.contexts.size > 1000) this.contexts.clear();
    this.contexts.set(host, { context, until: notAfter - 3_600_000 });
    return context;
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
