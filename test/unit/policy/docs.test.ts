// The documented default config (the ConfigMap's config.yaml and the README's
// configuration block) is rendered from the rules' option sections, so what
// people copy from it behaves like no file at all. `npm run render-config`
// rewrites both after a section changes.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { CONFIG_SECTIONS, DEFAULT_CONFIG_DOCUMENT, defaultConfig, parseConfig, renderConfigDocument } from '../../../src/policy/config.js';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const configMap = parse(readFileSync(new URL('../../../manifests/base/config.yaml', import.meta.url), 'utf8')) as { data: Record<string, string> };

describe('the documented default config', () => {
  it.each(CONFIG_SECTIONS.map((section) => [section.key, section] as const))('section %s documents exactly its defaults', (key, section) => {
    expect(parse(section.documentation)).toEqual({ [key]: section.defaults });
  });

  it('is the built-in defaults document, and valid', () => {
    expect(parse(renderConfigDocument())).toEqual(DEFAULT_CONFIG_DOCUMENT);
    expect(parseConfig(parse(renderConfigDocument()))).toEqual(defaultConfig());
  });

  it('is the ConfigMap\'s config.yaml, byte for byte (npm run render-config)', () => {
    expect(configMap.data['config.yaml']).toBe(renderConfigDocument());
  });

  it('is the README\'s configuration block, byte for byte (npm run render-config)', () => {
    const block = /## Configuration[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBe(renderConfigDocument());
  });

  it('the README documents the pattern syntax and the ceiling label', () => {
    expect(readme).toContain('### Detection patterns');
    expect(readme).toContain('`pidguard.io/pids-limit-ceiling`');
  });
});
