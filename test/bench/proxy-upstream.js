// A plain HTTP and an HTTPS upstream (with a throwaway CA) for the proxy benchmark.
import { generateKeyPairSync, sign, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import forge from 'node-forge';

const dir = process.argv[2];
function cert(subject, issuer, issuerKey, ca, ip) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const c = forge.pki.createCertificate();
  c.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  c.serialNumber = '0' + randomBytes(8).toString('hex');
  c.validity.notBefore = new Date(Date.now() - 3_600_000);
  c.validity.notAfter = new Date(Date.now() + 86_400_000);
  c.setSubject([{ name: 'commonName', value: subject }]);
  c.setIssuer(issuer ? issuer.subject.attributes : [{ name: 'commonName', value: subject }]);
  c.setExtensions(
    ca
      ? [
          { name: 'basicConstraints', cA: true },
          { name: 'keyUsage', keyCertSign: true },
        ]
      : [{ name: 'subjectAltName', altNames: [{ type: 7, ip }] }],
  );
  c.signatureOid = c.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption;
  c.tbsCertificate = forge.pki.getTBSCertificate(c);
  c.signature = sign('sha256', Buffer.from(forge.asn1.toDer(c.tbsCertificate).getBytes(), 'binary'), issuerKey ?? privateKey).toString('binary');
  return { c, pem: forge.pki.certificateToPem(c), key: privateKey };
}
const ca = cert('bench CA', undefined, undefined, true);
const leaf = cert('127.0.0.2', ca.c, ca.key, false, '127.0.0.2');
writeFileSync(join(dir, 'bench-ca.pem'), ca.pem);
const body = JSON.stringify({ ok: true, data: 'x'.repeat(200) });
const handler = (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
};
const http = createServer(handler).listen(0, '127.0.0.1', () => {
  const https = createHttpsServer({ key: leaf.key.export({ type: 'pkcs8', format: 'pem' }), cert: leaf.pem }, handler).listen(0, '127.0.0.2', () => {
    console.log(JSON.stringify({ http: `http://127.0.0.1:${http.address().port}`, https: `https://127.0.0.2:${https.address().port}`, ca: join(dir, 'bench-ca.pem') }));
  });
});
