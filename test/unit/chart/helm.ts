// Renders charts/pidguard with the real helm CLI, built from its Go module by
// test/e2e/cluster/helm-build.sh (cached under ~/.cache/pidguard-e2e). No helm, no pass: the tests
// fail saying how to build it.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT, type Manifest } from '../manifests/render.js';

export const CHART = join(REPO_ROOT, 'charts/pidguard');
export const RELEASE = 'pidguard';

let helmBinary: string | undefined;

/** The pinned helm, from helm-build.sh's cache. */
export function helmPath(): string {
  if (helmBinary) return helmBinary;
  let bin: string;
  try {
    bin = execFileSync('bash', [join(REPO_ROOT, 'test/e2e/cluster/helm-build.sh'), '--cached-only'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').pop()!;
  } catch (error) {
    throw new Error(`the chart tests need the helm CLI: ${(error as { stderr?: string }).stderr || (error as Error).message}`);
  }
  helmBinary = join(bin, 'helm');
  return helmBinary;
}

/** Runs helm; throws with its stderr when it fails. */
export function helm(args: string[]): string {
  try {
    return execFileSync(helmPath(), args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', HELM_CACHE_HOME: '/tmp/pidguard-helm-cache', HELM_CONFIG_HOME: '/tmp/pidguard-helm-config', HELM_DATA_HOME: '/tmp/pidguard-helm-data' } });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`helm ${args.join(' ')} failed: ${stderr || (error as Error).message}`);
  }
}

const cache = new Map<string, Manifest[]>();

/** `helm template pidguard charts/pidguard -n <namespace> <flags>`, parsed (YAML 1.1, as the API server reads it). */
export function template(flags: string[] = [], namespace = 'pidguard-system'): Manifest[] {
  const key = JSON.stringify([flags, namespace]);
  const cached = cache.get(key);
  if (cached) return cached;
  const output = helm(['template', RELEASE, CHART, '--namespace', namespace, ...flags]);
  const objects = parseAllDocuments(output)
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`helm template: invalid YAML: ${document.errors[0]!.message}`);
      return document.toJS() as Manifest | null;
    })
    .filter((object): object is Manifest => object !== null);
  cache.set(key, objects);
  return objects;
}
