// `pidguard evaluate` lends the labels of Namespace documents in its input to
// the engine, so the namespace's PID budget ceiling applies as in the cluster.
import { parse } from 'yaml';
import { runCli } from './run-cli.js';

const manifests = (ceiling: string) => `
apiVersion: v1
kind: Namespace
metadata: {name: batch, labels: {pidguard.io/pids-limit-ceiling: "${ceiling}"}}
---
apiVersion: v1
kind: Pod
metadata: {name: crawler, namespace: batch, annotations: {pidguard.io/pids-limit: "20000"}}
spec: {containers: [{name: c, image: nginx, resources: {requests: {cpu: 100m}}}]}
`;

describe('pidguard evaluate and the PID budget ceiling', () => {
  it('lowers a pids-limit above the namespace ceiling and says so', async () => {
    const { code, stdout } = await runCli(['evaluate', '-f', '-'], { stdin: manifests('8192') });
    expect(code).toBe(0);
    expect(stdout).toContain('warning: pids-ceiling: pidguard.io/pids-limit="20000" is above the ceiling 8192; lowered to 8192');
    const stored = parse((await runCli(['evaluate', '-f', '-', '-o', 'json'], { stdin: manifests('8192') })).stdout);
    expect(stored.items[1].metadata.annotations['pidguard.io/pids-limit']).toBe('8192');
  });

  it('keeps it where the namespace label raises the ceiling', async () => {
    const stored = parse((await runCli(['evaluate', '-f', '-', '-o', 'json'], { stdin: manifests('50000') })).stdout);
    expect(stored.items[1].metadata.annotations['pidguard.io/pids-limit']).toBe('20000');
  });
});
