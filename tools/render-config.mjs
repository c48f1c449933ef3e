// Rewrites the documented default config from the rules' option sections
// (src/policy/config.ts renderConfigDocument()): the ConfigMap's config.yaml in
// manifests/base/config.yaml and the README's configuration block.
// `npm run render-config`; test/unit/policy/config-document.test.ts fails until they match.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigDocument } from '../dist/policy/config.js';

const root = new URL('../', import.meta.url);
const rendered = renderConfigDocument();

const configMapFile = new URL('manifests/base/config.yaml', root);
const configMap = readFileSync(configMapFile, 'utf8');
const marker = '  config.yaml: |\n';
const at = configMap.indexOf(marker);
if (at < 0) throw new Error(`${configMapFile.pathname}: no "${marker.trim()}" line`);
const indented = rendered.split('\n').map((line) => (line === '' ? '' : `    ${line}`)).join('\n');
writeFileSync(configMapFile, configMap.slice(0, at + marker.length) + indented);

const readmeFile = new URL('README.md', root);
const readme = readFileSync(readmeFile, 'utf8');
const block = /(## Configuration[\s\S]*?```yaml\n)[\s\S]*?(```)/;
if (!block.test(readme)) throw new Error(`${readmeFile.pathname}: no yaml block under "## Configuration"`);
writeFileSync(readmeFile, readme.replace(block, (_match, before, after) => `${before}${rendered}${after}`));
