// Reads the rendered e2e overlay (`kubectl kustomize manifests/overlays/e2e`)
// on stdin and writes it to stdout with the test CA as every webhook's
// clientConfig.caBundle: the one thing the overlay cannot know in advance.
// Refuses anything that would make the API server call off this machine.
//   node inject-ca.mjs <ca.crt> < rendered.yaml > applied.yaml
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

const [caFile] = process.argv.slice(2);
if (!caFile) {
  console.error('usage: node inject-ca.mjs <ca.crt> < rendered.yaml');
  process.exit(2);
}
const caBundle = readFileSync(caFile).toString('base64');
const documents = parseAllDocuments(readFileSync(0, 'utf8')).map((doc) => {
  if (doc.errors.length > 0) throw new Error(`rendered overlay is not valid YAML: ${doc.errors[0].message}`);
  return doc.toJS();
}).filter((object) => object != null);

let webhooks = 0;
for (const object of documents) {
  if (object.kind !== 'MutatingWebhookConfiguration' && object.kind !== 'ValidatingWebhookConfiguration') continue;
  for (const webhook of object.webhooks ?? []) {
    const url = webhook.clientConfig?.url;
    if (typeof url !== 'string' || !url.startsWith('https://127.0.0.1:18443/')) {
      throw new Error(`${object.kind}/${object.metadata?.name} webhook ${webhook.name}: clientConfig.url must be https://127.0.0.1:18443/..., got ${JSON.stringify(webhook.clientConfig)}`);
    }
    webhook.clientConfig.caBundle = caBundle;
    webhooks += 1;
  }
}
if (webhooks === 0) throw new Error('the rendered overlay has no webhook configurations');
// JSON documents: a YAML 1.2 writer would leave `off` unquoted, which kubectl's
// YAML 1.1 reader turns into a boolean.
process.stdout.write(documents.map((object) => JSON.stringify(object, null, 2)).join('\n---\n'));
console.error(`inject-ca: caBundle set on ${webhooks} webhooks`);
