// The README's configuration block is the built-in defaults, so what people
// copy from it behaves like no file at all.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { DEFAULT_CONFIG_DOCUMENT, parseConfig } from '../../../src/policy/config.js';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

describe('README configuration block', () => {
  const block = /## Configuration[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];

  it('is the built-in defaults document, and valid', () => {
    expect(block).toBeDefined();
    expect(parse(block!)).toEqual(DEFAULT_CONFIG_DOCUMENT);
    expect(parseConfig(parse(block!))).toEqual(parseConfig({}));
  });

  it('documents the pattern syntax and the ceiling label', () => {
    expect(readme).toContain('### Detection patterns');
    expect(readme).toContain('`pidguard.io/pids-limit-ceiling`');
  });
});
