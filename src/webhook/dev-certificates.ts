// Development TLS material: a CA and a serving certificate it signs, for
// `pidguard certs`, `npm start` and the tests. Keys come from node:crypto;
// node-forge only builds and signs the X.509 structures.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import forge from 'node-forge';

export interface DevCertificateOptions {
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  days: number;
  /** Start of validity (backdated 5 minutes for clock skew). */
  now?: Date;
  commonName?: string;
}

export interface DevCertificates {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
}

export const DEFAULT_DEV_DNS_NAMES: readonly string[] = ['localhost'];
export const DEFAULT_DEV_IP_ADDRESSES: readonly string[] = ['127.0.0.1', '::1'];

export function generateDevCertificates(options: DevCertificateOptions): DevCertificates {
  for (const ip of options.ipAddresses) {
    if (isIP(ip) === 0) throw new Error(`"${ip}" is not an IP address`);
  }
  if (options.dnsNames.length + options.ipAddresses.length === 0) throw new Error('a serving certificate needs at least one DNS name or IP address');
  const now = options.now ?? new Date();
  const ca = rsaKeyPair();
  const caCert = newCertificate(ca.publicKey, now, options.days);
  const caSubject = [{ name: 'commonName', value: 'pidguard development CA' }];
  caCert.setSubject(caSubject);
  caCert.setIssuer(caSubject);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(ca.privateKey, forge.md.sha256.create());

  const serving = rsaKeyPair();
  const cert = newCertificate(serving.publicKey, now, options.days);
  cert.setSubject([{ name: 'commonName', value: options.commonName ?? options.dnsNames[0] ?? options.ipAddresses[0]! }]);
  cert.setIssuer(caSubject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        ...options.dnsNames.map((value) => ({ type: 2, value })),
        ...options.ipAddresses.map((ip) => ({ type: 7, ip })),
      ],
    },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(ca.privateKey, forge.md.sha256.create());

  return {
    caCert: forge.pki.certificateToPem(caCert),
    caKey: ca.privateKeyPem,
    cert: forge.pki.certificateToPem(cert),
    key: serving.privateKeyPem,
  };
}

/** File names inside the output directory, as `pidguard certs` writes them. */
const DEV_CERTIFICATE_FILES = { caCert: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key' } as const;

/** Writes the four files (keys readable by the owner only), creating directories as needed. */
export async function writeDevCertificates(
  certificates: DevCertificates,
  paths: { caCert: string; caKey: string; cert: string; key: string },
): Promise<void> {
  for (const name of ['caCert', 'caKey', 'cert', 'key'] as const) {
    await mkdir(dirname(paths[name]), { recursive: true });
    const isKey = name === 'caKey' || name === 'key';
    await writeFile(paths[name], certificates[name], { mode: isKey ? 0o600 : 0o644 });
    if (isKey) await chmod(paths[name], 0o600); // writeFile's mode applies only to new files
  }
}

export function devCertificatePaths(directory: string): { caCert: string; caKey: string; cert: string; key: string } {
  return {
    caCert: join(directory, DEV_CERTIFICATE_FILES.caCert),
    caKey: join(directory, DEV_CERTIFICATE_FILES.caKey),
    cert: join(directory, DEV_CERTIFICATE_FILES.cert),
    key: join(directory, DEV_CERTIFICATE_FILES.key),
  };
}

function rsaKeyPair(): { publicKey: forge.pki.rsa.PublicKey; privateKey: forge.pki.rsa.PrivateKey; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    publicKey: forge.pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey,
    privateKey: forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey,
    privateKeyPem: privateKey,
  };
}

/**
 * A serial number from 16 random bytes that DER-encodes as it is: positive (top bit clear) and
 * minimal (first byte not zero). With only the top bit cleared, about 1 certificate in 32,768
 * started 0x00 0x00: node-forge drops one leading zero, and OpenSSL refuses the padded INTEGER
 * left ("illegal padding"), so `serve` could not load the certificate `pidguard certs` wrote.
 */
export function serialNumberHex(random: Uint8Array): string {
  const serial = Buffer.from(random);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  return serial.toString('hex');
}

function newCertificate(publicKey: forge.pki.rsa.PublicKey, now: Date, days: number): forge.pki.Certificate {
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = publicKey;
  certificate.serialNumber = serialNumberHex(randomBytes(16));
  certificate.validity.notBefore = new Date(now.getTime() - 5 * 60_000);
  certificate.validity.notAfter = new Date(now.getTime() + days * 86_400_000);
  return certificate;
}
