// Which language runtime a process runs, from its status Name and argv only
// (the agent reads no other per-process file). A guess that helps the
// on-call engineer, never used for a decision.

export type Runtime = '.NET' | 'JVM' | 'Node.js' | 'Go' | 'Python' | 'Ruby' | 'Erlang/BEAM' | 'PHP' | 'unknown';

function basename(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? path : path.slice(slash + 1);
}

// Go binaries carry no marker in argv; these are the Go-built node components
// an engineer meets on a Kubernetes node.
const GO_COMPONENTS = new Set([
  'go', 'kubelet', 'kube-proxy', 'containerd', 'containerd-shim', 'containerd-shim-runc-v2', 'dockerd', 'runc', 'crio',
  'conmon-rs', 'etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'coredns', 'calico-node',
  'cilium-agent', 'flanneld', 'node_exporter', 'prometheus', 'kube-state-metrics', 'pidguard-go',
]);

/** Name is the kernel's comm (15 characters at most); argv may be empty (kernel threads). */
export function detectRuntime(name: string, argv: readonly string[]): Runtime {
  const program = basename(argv[0] ?? name);
  const lowerProgram = program.toLowerCase();
  const args = argv.slice(1);
  if (lowerProgram === 'dotnet' || name === 'dotnet' || args.some((arg) => /\.dll$/i.test(arg)) || /^\.NET /.test(name)) return '.NET';
  if (lowerProgram === 'java' || name === 'java' || args.some((arg) => arg === '-jar' || /^-Xm[sx]/.test(arg))) return 'JVM';
  if (lowerProgram === 'node' || lowerProgram === 'nodejs' || name === 'node' || name === 'MainThread') return 'Node.js';
  if (/^python[\d.]*$/.test(lowerProgram) || /^python[\d.]*$/.test(name) || lowerProgram === 'gunicorn' || lowerProgram === 'uwsgi') return 'Python';
  if (/^ruby[\d.]*$/.test(lowerProgram) || lowerProgram === 'puma' || lowerProgram === 'unicorn') return 'Ruby';
  if (name === 'beam.smp' || lowerProgram === 'beam.smp' || lowerProgram === 'erl') return 'Erlang/BEAM';
  if (/^php(-fpm)?[\d.]*$/.test(lowerProgram) || /^php-fpm/.test(name)) return 'PHP';
  if (GO_COMPONENTS.has(lowerProgram) || GO_COMPONENTS.has(name)) return 'Go';
  return 'unknown';
}
