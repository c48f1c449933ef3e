// Image and command globs: what they match, and that matching is linear in the
// subject whatever the configuration. Adversarial and random subjects up to
// 1 MiB are checked against an independent oracle (a dynamic program over the
// pattern, not the greedy matcher); no test here measures time, but the old
// regular expressions took minutes on these inputs and would time out.
import fc from 'fast-check';
import { parseConfig } from '../../../src/policy/config.js';
import { commandMatches, compileCommandPattern, compileImagePattern, imageMatches } from '../../../src/policy/glob.js';
import { parseImageReference } from '../../../src/policy/image-reference.js';

const defaults = parseConfig({}).dotnet;
const isDotnetImage = (image: string) => imageMatches(defaults.imagePatterns, image);
const MiB = 1 << 20;

/** Does `glob` (only `*` special) match all of `subject`? An NFA run over the pattern, O(subject x pattern). */
function globOracle(glob: string, subject: string): boolean {
  let states = new Uint8Array(glob.length + 1);
  states[0] = 1;
  const close = (s: Uint8Array) => {
    for (let i = 0; i < glob.length; i += 1) if (s[i] && glob[i] === '*') s[i + 1] = 1;
  };
  close(states);
  for (let c = 0; c < subject.length; c += 1) {
    const next = new Uint8Array(glob.length + 1);
    for (let i = 0; i < glob.length; i += 1) {
      if (!states[i]) continue;
      if (glob[i] === '*') next[i] = 1;
      else if (glob[i] === subject[c]) next[i + 1] = 1;
    }
    close(next);
    states = next;
  }
  return states[glob.length] === 1;
}

/** Does the component list `pattern` (with `**`) match `subject`? Dynamic program, bottom up. */
function pathOracle(pattern: string[], subject: string[]): boolean {
  let below = new Uint8Array(subject.length + 1); // row for pattern index P
  below[subject.length] = 1;
  for (let i = pattern.length - 1; i >= 0; i -= 1) {
    const row = new Uint8Array(subject.length + 1);
    for (let j = subject.length; j >= 0; j -= 1) {
      if (pattern[i] === '**') row[j] = below[j] || (j < subject.length && row[j + 1]) ? 1 : 0;
      else row[j] = j < subject.length && below[j + 1] && globOracle(pattern[i]!, subject[j]!) ? 1 : 0;
    }
    below = row;
  }
  return below[0] === 1;
}

/** The reference grammar's split, written independently: domain/path, tag and digest dropped. */
function repositoryOracle(image: string): { domain: string | undefined; path: string[] } {
  const name = image.split('@')[0]!;
  const components = name.split('/');
  const last = components.pop()!;
  components.push(last.includes(':') ? last.slice(0, last.indexOf(':')) : last);
  const first = components[0]!;
  if (components.length > 1 && (/[.:]/.test(first) || first === 'localhost' || /[A-Z]/.test(first))) return { domain: first, path: components.slice(1) };
  return { domain: undefined, path: components };
}

function imageOracle(patterns: string[], image: string): boolean {
  const { domain, path } = repositoryOracle(image);
  return patterns.some((pattern) => {
    const parts = pattern.split('/');
    const named = parts.length > 1 && (/[.:]/.test(parts[0]!) || parts[0] === 'localhost' || /[A-Z]/.test(parts[0]!));
    return pathOracle(parts, named ? [domain ?? 'docker.io', ...path] : path);
  });
}

describe('image references', () => {
  it.each([
    ['nginx', { path: ['nginx'] }],
    ['nginx:1.27', { path: ['nginx'], tag: '1.27' }],
    ['dotnetreg:5000/nginx:1', { domain: 'dotnetreg:5000', path: ['nginx'], tag: '1' }],
    ['localhost/app', { domain: 'localhost', path: ['app'] }],
    ['Corp/app', { domain: 'Corp', path: ['app'] }],
    ['corp/team/app@sha256:abc', { path: ['corp', 'team', 'app'], digest: 'sha256:abc' }],
    ['mcr.microsoft.com/dotnet/aspnet:8.0@sha256:abc', { domain: 'mcr.microsoft.com', path: ['dotnet', 'aspnet'], tag: '8.0', digest: 'sha256:abc' }],
  ])('splits %s as the distribution grammar does', (image, parts) => {
    expect(parseImageReference(image)).toEqual(parts);
  });
});

describe('default image patterns', () => {
  it.each([
    'mcr.microsoft.com/dotnet/aspnet:8.0',
    'mcr.microsoft.com/dotnet/runtime-deps:9.0-noble-chiseled',
    'myreg.io/team/orders-dotnet:1',
    'aspnet-api',
    'bitnami/dotnet:8',
    'registry.local/team/aspnet-core-api@sha256:abc',
    'localhost:5000/dotnet-sdk',
  ])('%s is .NET', (image) => expect(isDotnetImage(image)).toBe(true));

  it.each([
    'dotnetreg:5000/nginx:1', // the registry host alone never makes a match
    'dotnet.example.com/app:1',
    'nginx:dotnet', // nor does a tag
    'nginx@sha256:aspnet',
    'corp/dotnet-team/app:1',
    'corp/netbox:4',
    '',
  ])('%s is not .NET', (image) => expect(isDotnetImage(image)).toBe(false));
});

describe('image pattern syntax', () => {
  const matches = (pattern: string, image: string) => imageMatches([compileImagePattern(pattern)], image);

  it('`*` stays within a component, `**` spans components, a domain pattern needs the domain', () => {
    expect(matches('corp/*', 'corp/app:1')).toBe(true);
    expect(matches('corp/*', 'corp/team/app:1')).toBe(false);
    expect(matches('corp/**', 'corp/team/app:1')).toBe(true);
    expect(matches('**/app', 'reg.io/corp/team/app')).toBe(true);
    expect(matches('reg.io/**', 'reg.io/corp/app')).toBe(true);
    expect(matches('reg.io/**', 'other.io/corp/app')).toBe(false);
    expect(matches('*.azurecr.io/**', 'team.azurecr.io/orders')).toBe(true);
    expect(matches('docker.io/library/*', 'docker.io/library/nginx')).toBe(true);
    expect(matches('docker.io/*', 'nginx')).toBe(true); // no domain: Docker Hub
    expect(matches('corp/app', 'reg.io/corp/app')).toBe(true); // path patterns ignore the registry
  });
});

describe('command patterns', () => {
  const dotnetCommand = (entries: string[]) => commandMatches(defaults.commandPatterns, entries);

  it.each([
    [['dotnet', 'App.dll']],
    [['/usr/share/dotnet/dotnet']],
    [['App.dll']],
    [['sh', '-c', 'exec dotnet App.dll --urls http://+:80']],
    [['sh', '-c', 'cd /app&&dotnet run']],
    [['--assembly=/app/Orders.dll']],
  ])('%j runs .NET', (entries) => expect(dotnetCommand(entries)).toBe(true));

  it.each([[['--dllpath=/x']], [['dotnetx']], [['nginx', '-g', 'daemon off;']], [['App.dll.bak']], [[]]])('%j does not', (entries) =>
    expect(dotnetCommand(entries)).toBe(false));

  it('a pattern with a slash matches the whole word', () => {
    expect(commandMatches([compileCommandPattern('/opt/*/dotnet')], ['/opt/x/dotnet'])).toBe(true);
    expect(commandMatches([compileCommandPattern('/opt/*/dotnet')], ['/usr/bin/dotnet'])).toBe(false);
  });
});

describe('linear time on hostile input', () => {
  it('the issue\'s image: "dotnet" x k + "/", up to 1 MiB', () => {
    for (const size of [1_000, 100_000, MiB]) {
      const image = `${'dotnet'.repeat(Math.ceil(size / 6))}/`;
      expect(isDotnetImage(image)).toBe(false);
      expect(isDotnetImage(image.slice(0, -1))).toBe(true);
    }
  });

  it('the old (a+)+$ pattern is a config error, and its input is a plain image', () => {
    expect(() => parseConfig({ dotnet: { imagePatterns: ['(a+)+$'] } })).toThrow('config: dotnet.imagePatterns[0]: "(a+)+$" is not a glob');
    expect(imageMatches([compileImagePattern('**/a*a*a*a*a*b')], `${'a'.repeat(MiB)}!`)).toBe(false);
  });

  it('a million path components and a million-character command', () => {
    expect(imageMatches([compileImagePattern('**/x/**/y/**/z')], `${'x/'.repeat(MiB / 2)}z`)).toBe(false);
    expect(commandMatches(defaults.commandPatterns, [`${'dotnetx '.repeat(MiB / 8)}`, `${'.dl'.repeat(MiB / 3)}`])).toBe(false);
    expect(commandMatches(defaults.commandPatterns, [`${'a/'.repeat(MiB / 2)}dotnet`])).toBe(true);
  });
});

describe('matches the oracle', () => {
  const component = fc.constantFrom('dotnet', 'aspnet', 'corp', 'a', 'a*', '*a', '*dotnet*', '*', '**', 'x*y*z', 'reg.io', 'localhost');
  const pattern = fc.array(component, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('/'))
    .filter((source) => { try { compileImagePattern(source); return true; } catch { return false; } });
  const chunk = fc.constantFrom('dotnet', 'aspnet', '/', ':', '@', '.', 'a', 'x', 'y', 'z', '-', 'corp', 'reg.io/', 'localhost/', 'A');
  const smallImage = fc.array(chunk, { maxLength: 20 }).map((chunks) => chunks.join(''));
  /** A random string repeated up to 1 MiB. */
  const bigImage = fc.tuple(fc.array(chunk, { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: MiB })).map(([chunks, size]) => {
    const unit = chunks.join('');
    return unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
  });

  it('on random patterns and small images', () => {
    fc.assert(fc.property(fc.array(pattern, { minLength: 1, maxLength: 3 }), smallImage, (sources, image) => {
      expect(imageMatches(sources.map(compileImagePattern), image)).toBe(imageOracle(sources, image));
    }), { numRuns: 3000 });
  });

  it('on images up to 1 MiB', () => {
    fc.assert(fc.property(pattern, bigImage, (source, image) => {
      expect(imageMatches([compileImagePattern(source)], image)).toBe(imageOracle([source], image));
    }), { numRuns: 25 });
  });

  it('on command words', () => {
    const word = fc.array(fc.constantFrom('dotnet', '.dll', 'a', '/', ' ', '"', ';', 'x'), { maxLength: 12 }).map((c) => c.join(''));
    const globs = fc.constantFrom('dotnet', '*.dll', 'a*x', '*a*', '/a/*', 'x');
    fc.assert(fc.property(fc.array(globs, { minLength: 1, maxLength: 2 }), fc.array(word, { maxLength: 3 }), (sources, entries) => {
      const expected = entries.some((entry) => entry.split(/[\s;"]+/).filter(Boolean).some((w) =>
        sources.some((glob) => globOracle(glob, glob.includes('/') ? w : w.slice(w.lastIndexOf('/') + 1)))));
      expect(commandMatches(sources.map(compileCommandPattern), entries)).toBe(expected);
    }), { numRuns: 3000 });
  });
});
