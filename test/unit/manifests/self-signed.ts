// The self-signed overlay reads certs/ from its own directory. Tests render it from a temporary
// copy of manifests/ with certificates made by `pidguard certs`, as docs/INSTALL.md tells users,
// never touching the working tree.
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { certsCommand } from '../../../src/cli/certs.js';
import { REPO_ROOT, render, type Manifest } from './render.js';

export const SERVICE_DNS = 'pidguard-webhook.pidguard-system.svc';

export interface SelfSignedRender {
  objects: Manifest[];
  /** Contents of the files the overlay read: ca.crt, tls.crt, tls.key. */
  files: Record<'ca.crt' | 'tls.crt' | 'tls.key', string>;
  cleanup: () => void;
}

export async function renderSelfSigned(): Promise<SelfSignedRender> {
  const root = mkdtempSync(join(tmpdir(), 'pidguard-manifests-'));
  try {
    cpSync(join(REPO_ROOT, 'manifests'), join(root, 'manifests'), { recursive: true });
    const certs = join(root, 'manifests', 'overlays', 'self-signed', 'certs');
    // pidguard certs --out manifests/overlays/self-signed/certs/ --dns pidguard-webhook.pidguard-system.svc
    const stderr = new PassThrough();
    const code = await certsCommand.run(['--out', certs, '--dns', SERVICE_DNS], {
      stdout: new PassThrough(), stderr, stdin: Readable.from([]), env: {},
    });
    if (code !== 0) throw new Error(`pidguard certs exited ${code}: ${stderr.read()?.toString() ?? ''}`);
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
