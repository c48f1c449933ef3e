// These checks read the Dockerfile: the properties the manifests rely on, and that every file it
// copies reaches the build. The e2e suite builds it (buildah) and runs the image (install.e2e.test.ts).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { find, render, workloads, REPO_ROOT } from './render.js';

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions grouped by stage, with line continuations joined and comments dropped. */
function stages(): Instruction[][] {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const result: Instruction[][] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [keyword, ...rest] = trimmed.split(/\s+/);
    const instruction = { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
    if (instruction.keyword === 'FROM') result.push([]);
    result.at(-1)!.push(instruction);
  }
  return result;
}

const args = (stage: Instruction[], keyword: string) => stage.filter((i) => i.keyword === keyword).map((i) => i.args);

describe('Dockerfile', () => {
  it('builds in one Node 24 stage and runs from another', () => {
    const [build, runtime, ...more] = stages();
    expect(more).toEqual([]);
    expect(args(build!, 'FROM')[0]).toMatch(/^node:24[-.\w]*(@sha256:[0-9a-f]{64})? AS build$/);
    expect(args(runtime!, 'FROM')[0]).toMatch(/^node:24[-.\w]*(@sha256:[0-9a-f]{64})?$/);
    expect(args(build!, 'RUN').join('\n')).toMatch(/npm ci\b/);
    expect(args(build!, 'RUN')).toContain('npm run build');
  });

  it('ships production dependencies, dist and bin only, and runs as uid 65532', () => {
    const runtime = stages()[1]!;
    expect(args(runtime, 'RUN').join('\n')).toContain('npm ci --omit=dev --ignore-scripts');
    expect(args(runtime, 'COPY')).toEqual(['package.json package-lock.json ./', '--from=build /src/dist ./dist', 'bin ./bin']);
    expect(args(runtime, 'WORKDIR')).toEqual(['/app']);
    expect(args(runtime, 'USER')).toEqual(['65532:65532']);
    expect(args(runtime, 'ENTRYPOINT')).toEqual(['["node", "/app/bin/pidguard.js"]']);
  });

  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    const sources = stages()
      .flatMap((stage) => args(stage, 'COPY'))
      .filter((copy) => !copy.startsWith('--from='))
      .flatMap((copy) => copy.split(' ').slice(0, -1));
    expect(sources.sort()).toEqual(['bin', 'package-lock.json', 'package-lock.json', 'package.json', 'package.json', 'src', 'tsconfig.build.json', 'tsconfig.json']);
    for (const source of sources) {
      expect(`${source}: ${existsSync(join(REPO_ROOT, source)) ? 'exists' : 'missing'}`).toBe(`${source}: exists`);
      expect(ignored).not.toContain(source);
    }
    for (const secret of ['certs', 'node_modules', '.git']) expect(ignored).toContain(secret);
  });

  it('is the image every workload runs, the agent as root through its securityContext only', () => {
    const images = new Set(workloads(render('.')).flatMap(({ template }) => template.spec.containers.map((c) => c.image)));
    expect(images.size).toBe(1);
    const agent = find(render('.'), 'DaemonSet', 'pidguard-agent');
    const container = (agent.spec as { template: { spec: { containers: Array<{ command?: unknown; securityContext: { runAsUser: number } }> } } }).template.spec.containers[0]!;
    expect(container.command).toBeUndefined(); // the ENTRYPOINT stays; args choose the command
    expect(container.securityContext.runAsUser).toBe(0);
  });
});
