// KEP-6063 discovery: a dry-run create answers whether the API server accepts
// spec.resources.limits.pid; only "admitted and kept" counts as served, and an
// unknown answer never turns the switch on.
import { PodPidLimitDiscovery, probePodPidLimit, type PodPidLimitAnswer } from '../../../src/kube/pod-pid-limit-probe.js';
import { KubeApiError, type KubeTransport } from '../../../src/kube/transport.js';

/** A stand-in transport answering the one POST with `answer`, recording what it was asked. */
function transport(answer: (body: Record<string, any>) => unknown, calls: Array<{ method: string; path: string; body: any }> = []): KubeTransport {
  return {
    async call(method: string, path: string, _attempted: string, options: { body?: any }) {
      calls.push({ method, path, body: options.body });
      const result = answer(options.body);
      if (result instanceof Error) throw result;
      return result;
    },
  } as unknown as KubeTransport;
}

test('a server that admits the pod and keeps the field serves it; the request is a dry run in the given namespace', async () => {
  const calls: Array<{ method: string; path: string; body: any }> = [];
  const answer = await probePodPidLimit(transport((body) => ({ ...body, status: { qosClass: 'Guaranteed' } }), calls), 'pidguard-system');
  expect(answer.served).toBe(true);
  expect(calls).toEqual([expect.objectContaining({ method: 'POST', path: '/api/v1/namespaces/pidguard-system/pods?dryRun=All' })]);
  expect(calls[0]?.body.spec.resources.limits.pid).toBe('128');
});

test('a server that keeps the field but computes the QoS class from it (BestEffort) does not serve it: pods would be demoted', async () => {
  const answer = await probePodPidLimit(transport((body) => ({ ...body, status: { qosClass: 'BestEffort' } })), 'ns');
  expect(answer).toEqual({ served: false, detail: expect.stringContaining('QoS class BestEffort') });
});

test('a server that drops the field (gate off) does not serve it', async () => {
  const dropped = (body: any) => ({ ...body, spec: { ...body.spec, resources: {} } });
  expect(await probePodPidLimit(transport(dropped), 'ns')).toEqual({ served: false, detail: expect.stringContaining('drops') });
});

test('a server that rejects it (422) does not serve it', async () => {
  const rejected = () => new KubeApiError(422, 'Invalid', 'Pod "x" is invalid: spec.resources.limits[pid]: Unsupported value: "pid"');
  expect(await probePodPidLimit(transport(rejected), 'ns')).toEqual({ served: false, detail: expect.stringContaining('Unsupported value') });
});

test('403 or a timeout is unknown, and discovery keeps the switch off', async () => {
  const forbidden = () => new KubeApiError(403, 'Forbidden', 'pods is forbidden');
  const answer = await probePodPidLimit(transport(forbidden), 'ns');
  expect(answer.served).toBeUndefined();
  const changes: PodPidLimitAnswer[] = [];
  const discovery = new PodPidLimitDiscovery(async () => answer, (a) => changes.push(a));
  await discovery.refresh();
  expect(discovery.served()).toBe(false);
  expect(changes).toEqual([answer]);
});

test('discovery follows the server: off, on when the field appears, off again; each change reported once', async () => {
  const answers: PodPidLimitAnswer[] = [
    { served: false, detail: 'drops' },
    { served: true, detail: 'accepts' },
    { served: true, detail: 'accepts' },
    { served: false, detail: 'rejects' },
  ];
  const changes: Array<boolean | undefined> = [];
  const discovery = new PodPidLimitDiscovery(async () => answers.shift()!, (a) => changes.push(a.served));
  const seen: boolean[] = [];
  for (let i = 0; i < 4; i += 1) {
    await discovery.refresh();
    seen.push(discovery.served());
  }
  expect(seen).toEqual([false, true, true, false]);
  expect(changes).toEqual([false, true, false]);
});
