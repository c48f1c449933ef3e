// Recognises .NET containers from what a pod spec shows. Custom images built
// FROM a .NET base carry their DOTNET_* variables in the image config, which an
// admission webhook never sees: the opt-in label or annotation covers them.

import type { PolicyConfig } from './config.js';
import { commandMatches, imageMatches } from './glob.js';
import { RUNTIME_KEY } from './keys.js';
import type { Container, ObjectMeta } from './types.js';

/** Whether a container counts as .NET: opted in (not for init containers), or its image, env or command says so. */
export function isDotnetContainer(
  container: Container,
  pod: ObjectMeta | undefined,
  isInitContainer: boolean,
  detection: PolicyConfig['dotnet'],
): boolean {
  if (!isInitContainer && optedIn(pod)) return true;
  if (imageMatches(detection.imagePatterns, container.image ?? '')) return true;
  if ((container.env ?? []).some((env) => detection.envPrefixes.some((prefix) => env.name?.startsWith(prefix)))) return true;
  return [container.command, container.args].some((entries) => commandMatches(detection.commandPatterns, entries ?? []));
}

function optedIn(pod: ObjectMeta | undefined): boolean {
  return pod?.labels?.[RUNTIME_KEY] === 'dotnet' || pod?.annotations?.[RUNTIME_KEY] === 'dotnet';
}
