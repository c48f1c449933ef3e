import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { generateDevCertificates, serialNumberHex } from '../../../src/webhook/dev-certificates.js';

/** A self-signed certificate with this serial number, as node-forge writes it, loaded by node:crypto (OpenSSL). */
function loadWithSerial(serialHex: string): X509Certificate {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 1024, e: 0x10001 });
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = keys.publicKey;
  certificate.serialNumber = serialHex;
  certificate.validity.notBefore = new Date();
  certificate.validity.notAfter = new Date(Date.now() + 86_400_000);
  certificate.setSubject([{ name: 'commonName', value: 'serial' }]);
  certificate.setIssuer([{ name: 'commonName', value: 'serial' }]);
  certificate.sign(keys.privateKey, forge.md.sha256.create());
  return new X509Certificate(forge.pki.certificateToPem(certificate));
}

describe('development certificate serial numbers', () => {
  it('start with a byte from 0x40 to 0x7f whatever the random bytes: positive and minimally encoded', () => {
    for (let first = 0; first < 256; first++) {
      for (const second of [0x00, 0x01, 0x7f, 0x80, 0xff]) {
        const hex = serialNumberHex(Uint8Array.from([first, second, ...new Array<number>(14).fill(0)]));
        expect(hex).toHaveLength(32);
        const top = Number.parseInt(hex.slice(0, 2), 16);
        expect(top >= 0x40 && top < 0x80).toBe(true);
        expect(hex.slice(2, 4)).toBe(second.toString(16).padStart(2, '0'));
      }
    }
  });

  it('load in OpenSSL when the random bytes start 0x00 0x00 (the 1-in-32,768 serial that did not)', () => {
    const random = Uint8Array.from([0x00, 0x00, ...new Array<number>(14).fill(0x01)]);
    // The bytes as the old code used them (top bit cleared only) give a certificate OpenSSL refuses.
    expect(() => loadWithSerial(Buffer.from(random).toString('hex'))).toThrow(/illegal padding/);
    expect(loadWithSerial(serialNumberHex(random)).serialNumber).toBe(`4000${'01'.repeat(14)}`.toUpperCase());
  });

  it('a generated pair loads in node:crypto, the serving certificate signed by the CA', () => {
    const pair = generateDevCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 1 });
    const serving = new X509Certificate(pair.cert);
    expect(serving.verify(new X509Certificate(pair.caCert).publicKey)).toBe(true);
    expect(serving.checkHost('localhost')).toBe('localhost');
  });
});
