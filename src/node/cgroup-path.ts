// Where a process sits in the cgroup tree, and which pod and container that
// means. Layouts (FACTS.md "Pod cgroups on a node"):
//   cgroupfs driver: /kubepods/<qos>/pod<UID>/<container>   (Guaranteed: /kubepods/pod<UID>/...)
//   systemd driver:  /kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<UID with _>.slice/<leaf>.scope
//   leaf: cri-containerd-<id>.scope (containerd), crio-<id>.scope (CRI-O), docker-<id>.scope, or a bare <id>
// Both may sit under a prefix (kind's /kubelet.slice/kubelet-kubepods.slice, a
// kubelet --cgroup-root, a test root), so the pod is found by its segment, not by position.

import { join } from 'node:path';
import type { QosClass } from '../policy/types.js';

/** The lines of /proc/<pid>/cgroup that matter for PIDs. */
export interface ProcessCgroups {
  /** Path in the cgroup v1 hierarchy that has the pids controller. */
  v1Pids?: string;
  /** Path in the cgroup v2 (unified) hierarchy: the `0::` line. */
  unified?: string;
}

export type CgroupDriver = 'systemd' | 'cgroupfs';
export type ContainerRuntime = 'containerd' | 'cri-o' | 'docker';

export interface PodCgroupPath {
  podUid: string;
  /** The pod-level cgroup: everything up to and including the pod segment. */
  podPath: string;
  qos: QosClass;
  driver: CgroupDriver;
  containerId?: string;
  containerRuntime?: ContainerRuntime;
}

export function parseProcessCgroups(text: string): ProcessCgroups {
  const result: ProcessCgroups = {};
  for (const line of text.split('\n')) {
    // id:controllers:path; the path itself may contain ':'.
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) continue;
    const id = line.slice(0, first);
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (id === '0' && controllers === '') result.unified = path;
    else if (controllers.split(',').includes('pids')) result.v1Pids = path;
  }
  return result;
}

const UID = '[0-9a-fA-F]{8}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{12}|[0-9a-fA-F]{32}';
// cgroupfs "pod<uid>", systemd "kubepods[-qos]-pod<uid>.slice" (with any prefix such as kubelet-).
const POD_SEGMENT = new RegExp(`^(?:pod(${UID})|(?:[\\w-]*-)?pod(${UID})\\.slice)$`);
const CONTAINER_SEGMENT = /^(cri-containerd-|crio-conmon-|crio-|docker-)?([0-9a-f]{64})(?:\.scope)?$/;

/** The pod (and container) a cgroup path belongs to, or undefined when it is not a pod's. */
export function parsePodCgroupPath(path: string): PodCgroupPath | undefined {
  const segments = path.split('/');
  const podIndex = segments.findIndex((segment) => POD_SEGMENT.test(segment));
  if (podIndex < 0) return undefined;
  const podSegment = segments[podIndex] as string;
  const match = POD_SEGMENT.exec(podSegment) as RegExpExecArray;
  const rawUid = (match[1] ?? match[2]) as string;
  const driver: CgroupDriver = podSegment.endsWith('.slice') ? 'systemd' : 'cgroupfs';
  const parent = segments[podIndex - 1] ?? '';
  const result: PodCgroupPath = {
    podUid: rawUid.replace(/_/g, '-').toLowerCase(),
    podPath: segments.slice(0, podIndex + 1).join('/'),
    qos: qosOf(parent, podSegment),
    driver,
  };
  const leaf = segments[podIndex + 1];
  const container = leaf === undefined ? null : CONTAINER_SEGMENT.exec(leaf);
  if (container) {
    result.containerId = container[2] as string;
    const prefix = container[1];
    if (prefix === 'cri-containerd-') result.containerRuntime = 'containerd';
    else if (prefix === 'crio-' || prefix === 'crio-conmon-') result.containerRuntime = 'cri-o';
    else if (prefix === 'docker-') result.containerRuntime = 'docker';
  }
  return result;
}

function qosOf(parent: string, podSegment: string): QosClass {
  const text = `${parent} ${podSegment}`;
  if (/(^|[-/ ])burstable([-.]|$| )/.test(text)) return 'Burstable';
  if (/(^|[-/ ])besteffort([-.]|$| )/.test(text)) return 'BestEffort';
  return 'Guaranteed';
}

export type CgroupVersion = 'v1' | 'v2';

/**
 * A path as /proc/<pid>/cgroup shows it (relative to the reader's cgroup
 * namespace root), as a path from the mounted hierarchy's root; undefined when
 * it cannot be placed (see cgroup-namespace.ts).
 */
export type CgroupPathResolver = (version: CgroupVersion, path: string) => string | undefined;

/**
 * For a reader in the host's cgroup namespace: paths are real, and one that
 * climbs out of the reader's namespace (`/../...`) cannot be placed.
 */
export const hostNamespacePaths: CgroupPathResolver = (_version, path) => (path === '/..' || path.startsWith('/../') ? undefined : path);

/** The directory holding a cgroup's pids.* files, for the hierarchy the process reports. */
export interface PidsCgroupDir {
  version: CgroupVersion;
  /** Path from the hierarchy's root. */
  path: string;
  /** Absolute directory under the cgroup mount root. */
  dir: string;
}

/**
 * Where the pids files of `path` live. cgroup v1 mounts each controller under
 * <root>/pids; on v2 the unified hierarchy is <root> itself. A process with a
 * v1 pids line is governed by v1 (hybrid nodes), otherwise by v2.
 */
export function pidsDirFor(cgroupRoot: string, version: CgroupVersion, path: string): PidsCgroupDir {
  return { version, path, dir: version === 'v1' ? join(cgroupRoot, 'pids', path) : join(cgroupRoot, path) };
}

/**
 * The pod cgroup a process lives in, with the hierarchy whose pids controller
 * governs it. `pids` is absent when the path cannot be placed in the mounted
 * hierarchy (the pod is still named: its segment survives a `/../` prefix).
 */
export function podCgroupOfProcess(
  cgroupRoot: string,
  cgroups: ProcessCgroups,
  resolve: CgroupPathResolver = hostNamespacePaths,
): { pod: PodCgroupPath; pids?: PidsCgroupDir } | undefined {
  const version = cgroups.v1Pids !== undefined ? 'v1' : 'v2';
  const shown = cgroups.v1Pids ?? cgroups.unified;
  if (shown === undefined) return undefined;
  const path = resolve(version, shown);
  const pod = parsePodCgroupPath(path ?? shown);
  if (!pod) return undefined;
  return path === undefined ? { pod } : { pod, pids: pidsDirFor(cgroupRoot, version, pod.podPath) };
}

/**
 * The pod-level cgroup paths the kubelet would create for a pod at the top of
 * the hierarchy, both drivers, every QoS class. Used to find a pod whose
 * processes were not seen (e.g. between container restarts).
 */
export function standardPodCgroupPaths(podUid: string): string[] {
  const underscored = podUid.replace(/-/g, '_');
  return [
    `/kubepods/pod${podUid}`,
    `/kubepods/burstable/pod${podUid}`,
    `/kubepods/besteffort/pod${podUid}`,
    `/kubepods.slice/kubepods-pod${underscored}.slice`,
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${underscored}.slice`,
    `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${underscored}.slice`,
  ];
}
