import { parsePodCgroupPath, parseProcessCgroups, podCgroupOfProcess, standardPodCgroupPaths } from '../../../src/node/cgroup-path.js';

const UID = '3f1c9a52-8d4e-4b1a-9c67-0e2d5f8a1b01';
const UID_ = UID.replace(/-/g, '_');
const ID = 'ab'.repeat(32);

describe('parsePodCgroupPath', () => {
  test.each([
    ['cgroupfs, Burstable, containerd', `/kubepods/burstable/pod${UID}/${ID}`, { qos: 'Burstable', driver: 'cgroupfs', podPath: `/kubepods/burstable/pod${UID}`, containerId: ID }],
    ['cgroupfs, BestEffort', `/kubepods/besteffort/pod${UID}/${ID}`, { qos: 'BestEffort', driver: 'cgroupfs', podPath: `/kubepods/besteffort/pod${UID}` }],
    ['cgroupfs, Guaranteed (directly under kubepods)', `/kubepods/pod${UID}/${ID}`, { qos: 'Guaranteed', driver: 'cgroupfs', podPath: `/kubepods/pod${UID}` }],
    ['cgroupfs, CRI-O leaf', `/kubepods/burstable/pod${UID}/crio-${ID}`, { containerId: ID, containerRuntime: 'cri-o' }],
    [
      'systemd, Burstable, containerd',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`,
      { qos: 'Burstable', driver: 'systemd', podPath: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`, containerId: ID, containerRuntime: 'containerd' },
    ],
    [
      'systemd, BestEffort, CRI-O',
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-${ID}.scope`,
      { qos: 'BestEffort', driver: 'systemd', containerId: ID, containerRuntime: 'cri-o' },
    ],
    ['systemd, CRI-O conmon', `/kubepods.slice/kubepods-pod${UID_}.slice/crio-conmon-${ID}.scope`, { qos: 'Guaranteed', containerRuntime: 'cri-o' }],
    ['systemd, Guaranteed', `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`, { qos: 'Guaranteed', driver: 'systemd', podPath: `/kubepods.slice/kubepods-pod${UID_}.slice` }],
    ['systemd, docker', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/docker-${ID}.scope`, { containerRuntime: 'docker' }],
    [
      'kind (kubelet.slice prefix)',
      `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
      { qos: 'BestEffort', driver: 'systemd', containerId: ID },
    ],
    ['a test root above kubepods', `/pidguard-test-1a2b/kubepods/burstable/pod${UID}/${ID}`, { podPath: `/pidguard-test-1a2b/kubepods/burstable/pod${UID}`, qos: 'Burstable' }],
  ])('%s', (_name, path, expected) => {
    const parsed = parsePodCgroupPath(path);
    expect(parsed).toMatchObject({ podUid: UID, ...expected });
  });

  test('the pod cgroup itself has no container', () => {
    const parsed = parsePodCgroupPath(`/kubepods/burstable/pod${UID}`);
    expect(parsed).toMatchObject({ podUid: UID, podPath: `/kubepods/burstable/pod${UID}` });
    expect(parsed).not.toHaveProperty('containerId');
  });

  test('static pods: the UID is a 32-hex-digit hash', () => {
    expect(parsePodCgroupPath(`/kubepods/burstable/pod${'e4b0fb8a'.repeat(4)}/${ID}`)?.podUid).toBe('e4b0fb8a'.repeat(4));
  });

  test.each(['/', '/system.slice/kubelet.service', '/user.slice/user-1000.slice/session-2.scope', '/kubepods/burstable', '/podcast/app'])('not a pod: %s', (path) => {
    expect(parsePodCgroupPath(path)).toBeUndefined();
  });
});

describe('parseProcessCgroups / podCgroupOfProcess', () => {
  test('cgroup v1 (hybrid): the pids controller line wins, read under <root>/pids', () => {
    const text = `12:pids:/kubepods/burstable/pod${UID}/${ID}\n4:memory:/kubepods/burstable/pod${UID}/${ID}\n1:name=systemd:/kubepods/burstable/pod${UID}/${ID}\n0::/\n`;
    const located = podCgroupOfProcess('/host/sys/fs/cgroup', parseProcessCgroups(text));
    expect(located?.pids).toEqual({ version: 'v1', path: `/kubepods/burstable/pod${UID}`, dir: `/host/sys/fs/cgroup/pids/kubepods/burstable/pod${UID}` });
  });

  test('cgroup v2: the 0:: line, read under <root>', () => {
    const path = `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`;
    const located = podCgroupOfProcess('/sys/fs/cgroup', parseProcessCgroups(`0::${path}\n`));
    expect(located?.pids).toEqual({ version: 'v2', path: `/kubepods.slice/kubepods-pod${UID_}.slice`, dir: `/sys/fs/cgroup/kubepods.slice/kubepods-pod${UID_}.slice` });
  });

  test('pids controller co-mounted with others in v1', () => {
    expect(parseProcessCgroups('5:cpu,pids:/a/b\n').v1Pids).toBe('/a/b');
  });

  test('a host process is in no pod', () => {
    expect(podCgroupOfProcess('/sys/fs/cgroup', parseProcessCgroups('0::/system.slice/containerd.service\n'))).toBeUndefined();
  });
});

test('standardPodCgroupPaths covers both drivers and every QoS class, and each parses back to the pod', () => {
  const paths = standardPodCgroupPaths(UID);
  expect(paths).toHaveLength(6);
  for (const path of paths) expect(parsePodCgroupPath(path)).toMatchObject({ podUid: UID, podPath: path });
  expect(new Set(paths.map((path) => parsePodCgroupPath(path)?.qos))).toEqual(new Set(['Guaranteed', 'Burstable', 'BestEffort']));
});
