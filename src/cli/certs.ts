// `pidguard certs`: a development CA and a serving certificate it signs, for
// local runs, the e2e tests and the self-signed install overlay.

import { X509Certificate } from 'node:crypto';
import { DEFAULT_DEV_DNS_NAMES, DEFAULT_DEV_IP_ADDRESSES, devCertificatePaths, generateDevCertificates, writeDevCertificates } from '../webhook/dev-certificates.js';
import { integerFlag } from './args.js';
import { EXIT } from './exit-codes.js';
import { commandHelp, parseCommandFlags, type FlagSpecs } from './flags.js';
import { CliError, type Command } from './io.js';

const FLAGS = {
  out: { type: 'string', value: 'DIR', help: 'output directory (created if missing); required' },
  dns: { type: 'string', multiple: true, value: 'NAME', help: 'DNS subject alternative name; repeatable (in a cluster: <service>.<namespace>.svc)' },
  ip: { type: 'string', multiple: true, value: 'ADDRESS', help: 'IP subject alternative name; repeatable' },
  days: { type: 'string', value: 'N', help: 'validity in days', default: '365' },
} as const satisfies FlagSpecs;

const HELP = commandHelp({
  name: 'certs',
  usage: 'Usage: pidguard certs --out DIR [--dns NAME ...] [--ip ADDRESS ...] [--days N]',
  about: `pidguard certs: generate a development CA and a serving certificate.

Writes DIR/ca.crt, DIR/ca.key, DIR/tls.crt and DIR/tls.key (keys mode 0600), replacing
existing files. tls.crt is signed by ca.crt and valid for the given names and addresses
(default: localhost, 127.0.0.1, ::1). Give the webhook configuration's caBundle the
base64 of ca.crt.`,
  flags: FLAGS,
});

export const certsCommand: Command = {
  name: 'certs',
  summary: 'Generate a development CA and serving certificate',
  flags: FLAGS,
  help: HELP,
  async run(argv, io) {
    const values = parseCommandFlags(argv, FLAGS, io.env);
    if (values.out === undefined) throw new CliError('--out DIR is required (see --help)', EXIT.usage);
    const days = integerFlag(values.days, '--days', 1, 3650);
    const named = values.dns !== undefined || values.ip !== undefined;
    const dnsNames = named ? (values.dns ?? []) : DEFAULT_DEV_DNS_NAMES;
    const ipAddresses = named ? (values.ip ?? []) : DEFAULT_DEV_IP_ADDRESSES;
    let certificates;
    try {
      certificates = generateDevCertificates({ dnsNames, ipAddresses, days });
    } catch (error) {
      throw new CliError((error as Error).message, EXIT.usage);
    }
    const paths = devCertificatePaths(values.out);
    try {
      await writeDevCertificates(certificates, paths);
    } catch (error) {
      throw new CliError(`cannot write to ${values.out}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, EXIT.cannotStart);
    }
    const leaf = new X509Certificate(certificates.cert);
    io.stdout.write(
      [
        `wrote ${paths.caCert}, ${paths.caKey}, ${paths.cert}, ${paths.key}`,
        `serving certificate for ${leaf.subjectAltName}, valid until ${new Date(leaf.validTo).toISOString()}`,
        '',
      ].join('\n'),
    );
    return EXIT.ok;
  },
};
