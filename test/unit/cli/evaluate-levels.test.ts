// `pidguard evaluate` takes a namespace's require-resources levels from the
// Namespace objects in its input, as the webhook takes them from the cluster.
import { runCli } from './run-cli.js';

const input = `apiVersion: v1
kind: Namespace
metadata:
  name: team
  labels: {pidguard.io/require-resources: not-besteffort, pidguard.io/require-resources-warn: requests-and-limits}
---
apiVersion: v1
kind: Pod
metadata: {name: burstable, namespace: team}
spec: {containers: [{name: web, image: nginx, resources: {requests: {cpu: 100m, memory: 128Mi}}}]}
---
apiVersion: v1
kind: Pod
metadata: {name: besteffort, namespace: team}
spec: {containers: [{name: web, image: nginx}]}
`;

test('warns at the warn level and denies at the enforced one', async () => {
  const run = await runCli(['evaluate', '-f', '-', '-o', 'report'], { stdin: input });
  expect(run.code).toBe(1);
  const [burstable, bestEffort] = JSON.parse(run.stdout) as Array<{ name: string; allowed: boolean; warnings: string[] }>;
  expect(burstable).toMatchObject({ name: 'burstable', allowed: true, warnings: [expect.stringMatching(/^require-resources: level requests-and-limits \(namespace label pidguard\.io\/require-resources-warn\): /)] });
  expect(bestEffort).toMatchObject({ name: 'besteffort', allowed: false, warnings: [] });
});
