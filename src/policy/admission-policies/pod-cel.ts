// CEL variables shared by the validating and the mutating policy: the pod an
// object describes (a Pod, or a workload's pod template), and which of its
// containers dotnet-guard treats as .NET (dotnet-detection.ts, glob.ts).

import type { PolicyConfig } from '../config.js';
import { RUNTIME_KEY } from '../keys.js';
import { celString, commandPatternsRegex, imagePatternRegex } from './cel.js';

export interface Variable {
  name: string;
  expression: string;
}

/** A container's repository: the image up to '@', its last component up to ':' (image-reference.ts). */
export const REPOSITORY = '^(?:[^@]*/)?[^@/:]*';
/** A repository whose first component names a registry: has '.', ':' or an upper-case letter, or is localhost. */
export const WITH_DOMAIN = '^(?:localhost|[^/]*[.:A-Z][^/]*)/';

/** `object` (a Pod) or where each workload kind keeps its pod template (workloads.ts). */
export const TEMPLATE = "object.kind == 'Pod' ? object : object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template : object.spec.template";

/** The same for oldObject, to see whether an UPDATE changed the pod template. */
export const OLD_TEMPLATE = TEMPLATE.replaceAll('object', 'oldObject');

/** The variables every pod policy starts with: template, spec, labels, annotations, the container lists, .NET flags. */
export function podVariables(config: PolicyConfig): Variable[] {
  const meta = 'variables.template.metadata';
  return [
    { name: 'template', expression: TEMPLATE },
    { name: 'spec', expression: 'variables.template.spec' },
    { name: 'labels', expression: `has(variables.template.metadata) && has(${meta}.labels) ? ${meta}.labels : {}` },
    { name: 'annotations', expression: `has(variables.template.metadata) && has(${meta}.annotations) ? ${meta}.annotations : {}` },
    { name: 'initContainers', expression: 'has(variables.spec.initContainers) ? variables.spec.initContainers : []' },
    { name: 'podLevelResources', expression: 'has(variables.spec.resources)' },
    {
      name: 'optedIn',
      expression: [
        `(${celString(RUNTIME_KEY)} in variables.labels && variables.labels[${celString(RUNTIME_KEY)}] == 'dotnet')`,
        `(${celString(RUNTIME_KEY)} in variables.annotations && variables.annotations[${celString(RUNTIME_KEY)}] == 'dotnet')`,
      ].join(' || '),
    },
    { name: 'dotnet', expression: `variables.spec.containers.map(c, ${detection(config, false)})` },
    { name: 'dotnetInit', expression: `variables.initContainers.map(c, ${detection(config, true)})` },
  ];
}

/** Whether container `c` counts as .NET (dotnet-detection.ts): opted in (not init containers), image, env or command. */
function detection(config: PolicyConfig, isInit: boolean): string {
  if (!config.dotnet.enabled) return 'false';
  const { imagePatterns, envPrefixes, commandPatterns } = config.dotnet;
  const tests: string[] = isInit ? [] : ['variables.optedIn'];
  const repository = `(has(c.image) ? c.image : '').find(${celString(REPOSITORY)})`;
  const pathOnly = imagePatterns.filter((p) => !p.withDomain);
  const withDomain = imagePatterns.filter((p) => p.withDomain);
  // The path (without a registry) and domain/path (docker.io when the image names none), each after a '/'.
  if (pathOnly.length > 0) {
    const regex = `^(?:${pathOnly.map(imagePatternRegex).join('|')})$`;
    tests.push(`('/' + (${repository}.matches(${celString(WITH_DOMAIN)}) ? ${repository}.substring(${repository}.indexOf('/') + 1) : ${repository})).matches(${celString(regex)})`);
  }
  if (withDomain.length > 0) {
    const regex = `^(?:${withDomain.map(imagePatternRegex).join('|')})$`;
    tests.push(`('/' + (${repository}.matches(${celString(WITH_DOMAIN)}) ? '' : 'docker.io/') + ${repository}).matches(${celString(regex)})`);
  }
  if (envPrefixes.length > 0) {
    tests.push(`(has(c.env) && c.env.exists(e, ${envPrefixes.map((p) => `e.name.startsWith(${celString(p)})`).join(' || ')}))`);
  }
  if (commandPatterns.length > 0) {
    const regex = celString(commandPatternsRegex(commandPatterns));
    tests.push(`(has(c.command) && c.command.exists(w, w.matches(${regex})))`, `(has(c.args) && c.args.exists(w, w.matches(${regex})))`);
  }
  return tests.length === 0 ? 'false' : `(${tests.join(' || ')})`;
}

/** `pod "name"`, or `Deployment "name" (its pod template)`, as engine.ts's denialMessage names the subject. */
export const SUBJECT =
  "(object.kind == 'Pod' ? 'pod' : object.kind) + ' \"' + " +
  "(has(object.metadata.name) && object.metadata.name != '' ? object.metadata.name : has(object.metadata.generateName) && object.metadata.generateName != '' ? object.metadata.generateName + '*' : '(unnamed)')" +
  " + '\"' + (object.kind == 'Pod' ? '' : ' (its pod template)')";
