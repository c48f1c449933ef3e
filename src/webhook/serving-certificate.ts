// The serving certificate: loaded from PEM files, checked (parsable, key
// matches), and reloaded when the files change, so cert-manager or a renewed
// Secret takes effect on the next TLS handshake without a restart.
//
// Files are polled with fs.watchFile: stat() follows symlinks, so it sees the
// kubelet's atomic `..data` symlink swap as well as files replaced in place or
// renamed over, which fs.watch on a single file can miss.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { unwatchFile, watchFile } from 'node:fs';
import { readFile } from 'node:fs/promises';

export interface KeyPair {
  cert: string;
  key: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 fingerprint of the leaf certificate. */
  fingerprint: string;
}

/** Reads and checks a certificate/key pair; throws an Error saying what is wrong. */
export async function loadKeyPair(certPath: string, keyPath: string): Promise<KeyPair> {
  // Both files are read before either failure is reported, so the error names every unreadable file, in a fixed order.
  const [certRead, keyRead] = await Promise.allSettled([readPem(certPath, 'certificate'), readPem(keyPath, 'key')]);
  if (certRead.status === 'rejected' || keyRead.status === 'rejected') {
    throw new Error([certRead, keyRead].flatMap((read) => (read.status === 'rejected' ? [(read.reason as Error).message] : [])).join('; '));
  }
  const cert = certRead.value;
  const key = keyRead.value;
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`certificate ${certPath} is not a PEM X.509 certificate: ${(error as Error).message}`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new Error(`key ${keyPath} is not a PEM private key: ${(error as Error).message}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new Error(`key ${keyPath} does not belong to certificate ${certPath}`);
  return { cert, key, notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo), fingerprint: leaf.fingerprint256 };
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export interface CertificateWatchOptions {
  certPath: string;
  keyPath: string;
  /** How often the files are checked for changes. */
  pollIntervalMs: number;
  /** Called with each new, valid pair (not for the first). */
  onReload: (pair: KeyPair) => void;
  /** Called when changed files do not form a valid pair; the previous pair stays in use. */
  onReloadFailure: (error: Error) => void;
}

export interface ServingCertificate {
  current(): KeyPair;
  /** Reads the files now (as a change would); says whether a new pair was installed. */
  reload(): Promise<'reloaded' | 'unchanged' | 'failed'>;
  stop(): void;
}

/**
 * Loads the pair (throwing if it is unusable) and watches both files. A
 * renewal writes the certificate and the key one after the other; the first
 * change may find a mismatched pair, which is reported and retried on the
 * second change.
 */
export async function watchServingCertificate(options: CertificateWatchOptions): Promise<ServingCertificate> {
  let pair = await loadKeyPair(options.certPath, options.keyPath);
  let reloading: Promise<void> = Promise.resolve();
  let stopped = false;

  const reload = async (): Promise<'reloaded' | 'unchanged' | 'failed'> => {
    if (stopped) return 'unchanged';
    try {
      const next = await loadKeyPair(options.certPath, options.keyPath);
      if (stopped || (next.fingerprint === pair.fingerprint && next.key === pair.key)) return 'unchanged';
      pair = next;
      options.onReload(next);
      return 'reloaded';
    } catch (error) {
      options.onReloadFailure(error as Error);
      return 'failed';
    }
  };
  // Reloads run one at a time, in order, so a slow read never overwrites a newer pair.
  const queueReload = () => {
    const result = reloading.then(reload);
    reloading = result.then(() => undefined);
    return result;
  };
  const onChange = () => void queueReload();
  const watchOptions = { interval: options.pollIntervalMs, persistent: false };
  watchFile(options.certPath, watchOptions, onChange);
  watchFile(options.keyPath, watchOptions, onChange);

  return {
    current: () => pair,
    reload: queueReload,
    stop() {
      stopped = true;
      unwatchFile(options.certPath, onChange);
      unwatchFile(options.keyPath, onChange);
    },
  };
}
