// client-node's one remaining job: the headers of a kubeconfig user that
// authenticates through an exec plugin (`pidguard audit` for people on cloud
// clusters). The requests still go through the transport, over real TLS.

import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { clientNodeAuthHeaders } from '../../../src/kube/client.js';
import { endpointFor } from '../../../src/kube/kubeconfig.js';
import { KubeTransport } from '../../../src/kube/transport.js';
import { generateDevCertificates } from '../../../src/webhook/dev-certificates.js';

const certs = generateDevCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 1 });
const dir = mkdtempSync(join(tmpdir(), 'pidguard-client-node-'));
const authorizations: Array<string | undefined> = [];
let server: Server;

beforeAll(async () => {
  server = createServer({ cert: certs.cert, key: certs.key }, (request, response) => {
    authorizations.push(request.headers.authorization);
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"kind":"Namespace","metadata":{"name":"default"}}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});
afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('an exec plugin\'s token is sent by the transport; other commands refuse such a user', async () => {
  const plugin = join(dir, 'credential-plugin.sh');
  writeFileSync(plugin, `#!/bin/sh\necho '${JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', status: { token: 'from-exec-plugin' } })}'\n`);
  chmodSync(plugin, 0o755);
  writeFileSync(join(dir, 'ca.crt'), certs.caCert);
  const path = join(dir, 'config');
  writeFileSync(path, stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'cloud',
    clusters: [{ name: 'k', cluster: { server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, 'certificate-authority': 'ca.crt' } }],
    users: [{ name: 'person', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: plugin, interactiveMode: 'Never' } } }],
    contexts: [{ name: 'cloud', context: { cluster: 'k', user: 'person' } }],
  }));
  const location = { kind: 'kubeconfig', path, from: '--kubeconfig' } as const;
  expect(() => endpointFor(location)).toThrow(/user "person" authenticates through an exec plugin/);
  const transport = new KubeTransport(endpointFor(location, clientNodeAuthHeaders));
  try {
    expect(await transport.call('GET', '/api/v1/namespaces/default', 'get namespace default')).toMatchObject({ metadata: { name: 'default' } });
  } finally {
    transport.close();
  }
  expect(authorizations).toEqual(['Bearer from-exec-plugin']);
});
