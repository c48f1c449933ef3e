// The one kubeconfig resolution: precedence (--kubeconfig > KUBECONFIG >
// in-cluster > ~/.kube/config), and the same server, CA and user as
// client-node's KubeConfig picks from the same files (audit authenticates some
// users through client-node, everything else through this parser).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { endpointFor, locateCluster, readKubeconfig } from '../../../src/kube/kubeconfig.js';
import { generateDevCertificates } from '../../../src/webhook/dev-certificates.js';

const certs = generateDevCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 1 });
const b64 = (text: string) => Buffer.from(text).toString('base64');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pidguard-kubeconfig-'));
  mkdirSync(join(dir, 'pki'));
  writeFileSync(join(dir, 'pki/ca.crt'), certs.caCert);
  writeFileSync(join(dir, 'pki/client.crt'), certs.cert);
  writeFileSync(join(dir, 'pki/client.key'), certs.key);
  writeFileSync(join(dir, 'pki/token'), 'from-a-file\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, document: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(path, stringify({ apiVersion: 'v1', kind: 'Config', ...document }));
  return path;
}

const single = (cluster: Record<string, unknown>, user: Record<string, unknown>) => ({
  'current-context': 'only',
  clusters: [{ name: 'k', cluster: { server: 'https://127.0.0.1:6443', ...cluster } }],
  users: [{ name: 'u', user }],
  contexts: [{ name: 'only', context: { cluster: 'k', user: 'u', namespace: 'team-a' } }],
});

const FIXTURES: Record<string, Record<string, unknown>> = {
  'embedded certificates': single({ 'certificate-authority-data': b64(certs.caCert) }, { 'client-certificate-data': b64(certs.cert), 'client-key-data': b64(certs.key) }),
  'a token and a relative CA file': single({ 'certificate-authority': 'pki/ca.crt' }, { token: 's3cret' }),
  'relative client certificate files': single({ 'certificate-authority': './pki/ca.crt' }, { 'client-certificate': 'pki/client.crt', 'client-key': 'pki/client.key' }),
  'insecure, with a token': single({ 'insecure-skip-tls-verify': true }, { token: 't' }),
  'the current context picks the second cluster and user': {
    'current-context': 'prod',
    clusters: [{ name: 'dev', cluster: { server: 'https://dev.example:6443', 'certificate-authority-data': b64('not this one') } }, { name: 'prod', cluster: { server: 'https://10.0.0.1:443', 'certificate-authority': 'pki/ca.crt' } }],
    users: [{ name: 'dev', user: { token: 'dev-token' } }, { name: 'admin', user: { 'client-certificate': 'pki/client.crt', 'client-key-data': b64(certs.key) } }],
    contexts: [{ name: 'dev', context: { cluster: 'dev', user: 'dev' } }, { name: 'prod', context: { cluster: 'prod', user: 'admin' } }],
  },
};

describe('the transport picks what client-node picks from the same kubeconfig', () => {
  it.each(Object.keys(FIXTURES))('%s', async (name) => {
    const path = write('config', FIXTURES[name]!);
    const ours = endpointFor({ kind: 'kubeconfig', path, from: '--kubeconfig' });
    const clientNode = new KubeConfig();
    clientNode.loadFromFile(path);
    const theirs: { headers: Record<string, string>; ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean } = { headers: {} };
    await clientNode.applyToHTTPSOptions(theirs);
    expect(ours.server.href).toBe(new URL(clientNode.getCurrentCluster()!.server).href);
    expect(ours.ca?.toString()).toBe(theirs.ca?.toString());
    expect(ours.cert?.toString()).toBe(theirs.cert?.toString());
    expect(ours.key?.toString()).toBe(theirs.key?.toString());
    expect(ours.insecureSkipTlsVerify).toBe(theirs.rejectUnauthorized === false);
    expect((await ours.authHeaders?.())?.authorization).toBe(theirs.headers.Authorization);
    expect(readKubeconfig(path).namespace).toBe(clientNode.getContextObject(clientNode.getCurrentContext())?.namespace);
  });

  it('tokenFile (kubectl\'s spelling, relative to the kubeconfig): read per request; client-node 1.4 ignores it (it reads `token-file`)', async () => {
    const path = write('config', single({ 'certificate-authority': 'pki/ca.crt' }, { tokenFile: 'pki/token' }));
    const ours = endpointFor({ kind: 'kubeconfig', path, from: '--kubeconfig' });
    expect(await ours.authHeaders?.()).toEqual({ authorization: 'Bearer from-a-file' });
    writeFileSync(join(dir, 'pki/token'), 'rotated\n');
    expect(await ours.authHeaders?.()).toEqual({ authorization: 'Bearer rotated' });
    const clientNode = new KubeConfig();
    clientNode.loadFromFile(path);
    const theirs: { headers: Record<string, string> } = { headers: {} };
    await clientNode.applyToHTTPSOptions(theirs);
    expect(theirs.headers.Authorization).toBeUndefined();
  });
});

describe('where the cluster is', () => {
  it('--kubeconfig wins over KUBECONFIG, which wins over in-cluster, which wins over ~/.kube/config', () => {
    mkdirSync(join(dir, '.kube'));
    writeFileSync(join(dir, '.kube/config'), 'x');
    const env = { KUBECONFIG: '/from/env', KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', HOME: dir };
    expect(locateCluster('/from/flag', env)).toEqual({ kind: 'kubeconfig', path: '/from/flag', from: '--kubeconfig' });
    expect(locateCluster(undefined, env)).toEqual({ kind: 'kubeconfig', path: '/from/env', from: 'KUBECONFIG' });
    expect(locateCluster(undefined, { ...env, KUBECONFIG: '' }, '/sa')).toEqual({ kind: 'in-cluster', host: '10.96.0.1', port: '443', serviceAccountDir: '/sa' });
    expect(locateCluster(undefined, { HOME: dir })).toEqual({ kind: 'kubeconfig', path: join(dir, '.kube/config'), from: '~/.kube/config' });
  });

  it('no flag, no KUBECONFIG, not in a pod and no ~/.kube/config: no cluster', () => {
    expect(locateCluster(undefined, { HOME: dir })).toBeUndefined();
    expect(locateCluster(undefined, {})).toBeUndefined();
  });

  it('in a pod: the service account\'s CA, and its token read per request (it rotates); IPv6 hosts bracketed', async () => {
    writeFileSync(join(dir, 'ca.crt'), certs.caCert);
    writeFileSync(join(dir, 'token'), 'first\n');
    const endpoint = endpointFor({ kind: 'in-cluster', host: 'fd00::1', port: '443', serviceAccountDir: dir });
    expect(endpoint.server.href).toBe('https://[fd00::1]/');
    expect(endpoint.ca?.toString()).toBe(certs.caCert);
    expect(await endpoint.authHeaders?.()).toEqual({ authorization: 'Bearer first' });
    writeFileSync(join(dir, 'token'), 'second\n');
    expect(await endpoint.authHeaders?.()).toEqual({ authorization: 'Bearer second' });
  });

  it('a kubeconfig named but missing is an error naming it', () => {
    expect(() => endpointFor({ kind: 'kubeconfig', path: join(dir, 'nope'), from: 'KUBECONFIG' })).toThrow(`kubeconfig ${join(dir, 'nope')} does not exist`);
  });

  it('a server that is not https is refused with a message', () => {
    const path = write('config', single({ server: 'http://127.0.0.1:8001' }, {}));
    expect(() => endpointFor({ kind: 'kubeconfig', path, from: '--kubeconfig' })).toThrow(`kubeconfig ${path}: cluster "k" server "http://127.0.0.1:8001" is not https; pidguard only talks to the API server over TLS`);
  });

  it('a proxy-url is refused rather than ignored', () => {
    const path = write('config', single({ 'proxy-url': 'http://proxy.example:3128' }, { token: 't' }));
    expect(() => endpointFor({ kind: 'kubeconfig', path, from: '--kubeconfig' })).toThrow(/cluster "k" has a proxy-url; pidguard does not connect through proxies/);
  });

  it('plugin users are refused unless the caller authenticates them through client-node (audit)', () => {
    const path = write('config', single({ 'certificate-authority': 'pki/ca.crt' }, { exec: { command: 'gke-gcloud-auth-plugin', apiVersion: 'client.authentication.k8s.io/v1beta1' } }));
    expect(() => endpointFor({ kind: 'kubeconfig', path, from: '--kubeconfig' })).toThrow(/authenticates through an exec plugin; only `pidguard audit` supports that/);
    const endpoint = endpointFor({ kind: 'kubeconfig', path, from: '--kubeconfig' }, () => () => ({ authorization: 'Bearer from-plugin' }));
    expect(endpoint.authHeaders?.()).toEqual({ authorization: 'Bearer from-plugin' });
  });
});
