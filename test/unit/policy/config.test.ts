import { ConfigError, defaultConfig, parseConfig } from '../../../src/policy/config.js';
import { imageMatches } from '../../../src/policy/glob.js';

function errorOf(document: unknown): ConfigError {
  try {
    parseConfig(document);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('has safe built-in defaults', () => {
    const config = defaultConfig();
    expect(config.defaultMode).toBe('enforce');
    expect(config.requireResources.level).toBe('not-besteffort');
    expect(config.dotnet.maxWorkerThreads).toBe(256);
    expect(config.dotnet.pidsLimit).toBe(1024);
    expect(config.pids.ceiling).toBe(4096);
    expect(config.dotnet.requests).toEqual({ cpu: '100m', memory: '256Mi' });
    expect(config.dotnet.limits).toEqual({ cpu: '1', memory: '1Gi' });
    expect(config.namespaceGuard.groups).toEqual(['system:masters']);
  });

  it('treats an empty file (null document) as defaults', () => {
    expect(parseConfig(null)).toEqual(defaultConfig());
  });

  it('merges a partial document over the defaults', () => {
    const config = parseConfig({ defaultMode: 'audit', dotnet: { requests: { cpu: '250m' }, pidsLimit: 4096 }, pids: { ceiling: 8192 } });
    expect(config.defaultMode).toBe('audit');
    expect(config.dotnet.requests).toEqual({ cpu: '250m', memory: '256Mi' });
    expect(config.dotnet.pidsLimit).toBe(4096);
    expect(config.dotnet.maxWorkerThreads).toBe(256);
  });

  it('compiles detection patterns', () => {
    const config = parseConfig({ dotnet: { imagePatterns: ['corp/dotnet-*'] } });
    expect(config.dotnet.imagePatterns).toHaveLength(1);
    expect(imageMatches(config.dotnet.imagePatterns, 'corp/dotnet-orders:1')).toBe(true);
    expect(imageMatches(config.dotnet.imagePatterns, 'other/corp/dotnet-orders:1')).toBe(false);
  });

  it.each([
    [{ defaultMode: 'warn' }, 'defaultMode', 'must be one of enforce, audit, off'],
    [{ defaultmode: 'audit' }, 'defaultmode', 'unknown field'],
    [{ dotnet: { pidslimit: 10 } }, 'dotnet.pidslimit', 'unknown field'],
    [{ dotnet: { pidsLimit: '1024' } }, 'dotnet.pidsLimit', 'whole number'],
    [{ dotnet: { pidsLimit: 1.5 } }, 'dotnet.pidsLimit', 'whole number'],
    [{ pids: { ceiling: 8 } }, 'pids.ceiling', 'from 16 to 4194304'],
    [{ pids: { ceiling: 'high' } }, 'pids.ceiling', 'whole number'],
    [{ pids: { max: 10 } }, 'pids.max', 'unknown field'],
    [{ dotnet: { pidsLimit: 8192 } }, 'dotnet.pidsLimit', '8192 is above pids.ceiling (4096)'],
    [{ dotnet: { pidsLimit: 600 }, pids: { ceiling: 512 } }, 'dotnet.pidsLimit', 'above pids.ceiling (512)'],
    [{ dotnet: { maxWorkerThreads: 0 } }, 'dotnet.maxWorkerThreads', 'from 1 to 32767'],
    [{ dotnet: { requests: { memory: '1 Gi' } } }, 'dotnet.requests.memory', 'positive Kubernetes quantity'],
    [{ dotnet: { requests: { gpu: '1' } } }, 'dotnet.requests.gpu', 'unknown field'],
    [{ dotnet: { limits: { memory: '128Mi' } } }, 'dotnet.limits.memory', 'below dotnet.requests.memory'],
    [{ dotnet: { imagePatterns: ['ok/*', '(a+)+$'] } }, 'dotnet.imagePatterns[1]', 'is not a glob'],
    [{ dotnet: { imagePatterns: ['^mcr\\.microsoft\\.com/dotnet/'] } }, 'dotnet.imagePatterns[0]', 'regular expressions are not supported'],
    [{ dotnet: { imagePatterns: ['corp//app'] } }, 'dotnet.imagePatterns[0]', 'empty path component'],
    [{ dotnet: { imagePatterns: ['corp/***'] } }, 'dotnet.imagePatterns[0]', "'**' must be a whole path component"],
    [{ dotnet: { imagePatterns: ['corp/app:8.0'] } }, 'dotnet.imagePatterns[0]', "':' is allowed only in a registry domain"],
    [{ dotnet: { imagePatterns: ['**/*'] } }, 'dotnet.imagePatterns[0]', 'would match every image'],
    [{ dotnet: { imagePatterns: ['a'.repeat(257)] } }, 'dotnet.imagePatterns[0]', 'longer than 256 characters'],
    [{ dotnet: { commandPatterns: ['dotnet', '\\.dll(\\s|$)'] } }, 'dotnet.commandPatterns[1]', 'regular expressions are not supported'],
    [{ dotnet: { commandPatterns: ['**'] } }, 'dotnet.commandPatterns[0]', 'would match every word'],
    [{ dotnet: { envPrefixes: 'DOTNET_' } }, 'dotnet.envPrefixes', 'list of strings'],
    [{ dotnet: { enabled: 'yes' } }, 'dotnet.enabled', 'true or false'],
    [{ requireResources: { level: 'strict' } }, 'requireResources.level', 'not-besteffort, requests, requests-and-limits'],
    [{ namespaceGuard: { groups: [1] } }, 'namespaceGuard.groups[0]', 'string'],
    [['enforce'], '(root)', 'must be a mapping'],
  ])('rejects %j naming %s', (document, field, problem) => {
    const error = errorOf(document);
    expect(error.field).toBe(field);
    expect(error.message).toContain(problem);
    expect(error.message.startsWith(`config: ${field}: `)).toBe(true);
  });
});
