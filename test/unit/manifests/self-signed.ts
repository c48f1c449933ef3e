// The self-signed overlay reads certs/ from its own directory. Tests render it from a temporary
// copy of manifests/ with freshly generated certificates, never touching the working tree.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, render, type Manifest } from './render.js';

export const SERVICE_DNS = 'pidguard-webhook.pidguard-system.svc';

export interface SelfSignedRender {
  objects: Manifest[];
  /** Contents of the files the overlay read: ca.crt, tls.crt, tls.key. */
  files: Record<'ca.crt' | 'tls.crt' | 'tls.key', string>;
  cleanup: () => void;
}

export function renderSelfSigned(): SelfSignedRender {
  const root = mkdtempSync(join(tmpdir(), 'pidguard-manifests-'));
  try {
    cpSync(join(REPO_ROOT, 'manifests'), join(root, 'manifests'), { recursive: true });
    const certs = join(root, 'manifests', 'overlays', 'self-signed', 'certs');
    mkdirSync(certs, { recursive: true });
    generateCertificates(certs);
    const read = (name: string) => readFileSync(join(certs, name), 'utf8');
    return {
      objects: render(join(root, 'manifests', 'overlays', 'self-signed')),
      files: { 'ca.crt': read('ca.crt'), 'tls.crt': read('tls.crt'), 'tls.key': read('tls.key') },
      cleanup: () => rmSync(root, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

/**
 * ca.crt, ca.key, tls.crt, tls.key as `pidguard certs --out <dir> --dns <service>` writes them.
 * Made with openssl until that command exists (src/cli/certs.ts is still a placeholder).
 */
function generateCertificates(dir: string): void {
  const openssl = (args: string[]) => {
    try {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      throw new Error(`openssl ${args[0]} failed (the self-signed overlay test needs openssl on PATH): ${(error as { stderr?: Buffer }).stderr?.toString() ?? (error as Error).message}`);
    }
  };
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ecKey, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=pidguard-test-ca']);
  openssl(['req', ...ecKey, '-keyout', 'tls.key', '-out', 'tls.csr', '-subj', `/CN=${SERVICE_DNS}`]);
  writeFileSync(join(dir, 'tls.ext'), `subjectAltName=DNS:${SERVICE_DNS}\nextendedKeyUsage=serverAuth\n`);
  openssl(['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'tls.ext', '-out', 'tls.crt']);
}
