// KEP-6063 discovery against the real kube-apiserver (v1.36.3 here, which has no
// PerPodPIDLimit gate): the dry-run pod with spec.resources.limits.pid is
// rejected or loses the field, so the discovery says "not served", and nothing
// is created. When a served API exists, the same test must see served: true.
import { clusterFromFlags } from '../../src/cli/cluster.js';
import { probePodPidLimit } from '../../src/kube/pod-pid-limit-probe.js';
import { KubeTransport } from '../../src/kube/transport.js';
import { apis, createNamespace, kubeconfigPath } from './harness.js';

it('the real API server without the gate: not served, with its reason, and the dry run creates nothing', async () => {
  const namespace = await createNamespace('e2e-pod-pid-limit', { 'pidguard.io/mode': 'enforce' });
  const endpoint = clusterFromFlags(kubeconfigPath('admin'), {});
  if (!endpoint) throw new Error('no cluster endpoint from the admin kubeconfig');
  const answer = await probePodPidLimit(new KubeTransport(endpoint), namespace);
  // v1.36.3 answers 422: spec.resources.limits[pid]: Invalid value: "pid": must be a standard resource type or fully qualified.
  expect(answer).toEqual({ served: false, detail: expect.stringMatching(/^the API server rejects spec.resources.limits.pid: .*422.*limits\[pid\]/) });
  expect((await apis().core.listNamespacedPod({ namespace })).items).toEqual([]);
});
