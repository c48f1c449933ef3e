// `audit -n NS` reads its one namespace with a list narrowed by name, never a GET: the audit's
// ClusterRole (manifests/base/audit.yaml) lists namespaces and gets none.
import { runAudit } from '../../../src/audit/run-audit.js';
import { defaultConfig } from '../../../src/policy/config.js';
import { KubeApiError, type KubeTransport } from '../../../src/kube/transport.js';
import type { KubeObject } from '../../../src/policy/types.js';

function transport(namespaces: KubeObject[], paths: string[]): KubeTransport {
  return {
    async *listPages(path: string) {
      paths.push(path);
      const selector = new URL(path, 'https://api').searchParams.get('fieldSelector');
      const items = path.startsWith('/api/v1/namespaces?') ? namespaces.filter((ns) => selector === `metadata.name=${ns.metadata?.name}`) : [];
      yield { items: structuredClone(items) };
    },
    async call() {
      throw new Error('the audit must not GET anything');
    },
  } as unknown as KubeTransport;
}

describe('audit -n', () => {
  const options = { config: defaultConfig(), pageSize: 100, timeoutMs: 1000, namespace: 'shop' };

  it('lists the namespace by name (the ClusterRole lists, it does not get) and reads its mode label', async () => {
    const paths: string[] = [];
    const { report } = await runAudit(transport([{ metadata: { name: 'shop', labels: { 'pidguard.io/mode': 'audit' } } }, { metadata: { name: 'other' } }], paths), options);
    expect(paths[0]).toBe('/api/v1/namespaces?fieldSelector=metadata.name%3Dshop');
    expect(report.namespaces.map((ns) => [ns.name, ns.mode, ns.modeSource])).toEqual([['shop', 'audit', 'label']]);
    // The workloads are listed in that namespace only.
    expect(paths.slice(1).every((path) => path.includes('/namespaces/shop/'))).toBe(true);
  });

  it('says the namespace does not exist when the list is empty', async () => {
    const failure = await runAudit(transport([{ metadata: { name: 'other' } }], []), options).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(KubeApiError);
    expect((failure as KubeApiError).status).toBe(404);
    expect((failure as KubeApiError).message).toBe('namespace "shop" not found');
  });
});
