// Container image references, split as the distribution reference grammar
// does (github.com/distribution/reference: splitDockerDomain): the first
// component is a registry domain only if it contains '.' or ':', is
// 'localhost', or has an upper-case letter; then the repository path, an
// optional tag after the last ':' of the last component, and an optional
// digest after '@'. One pass over the string, whatever it holds: the API
// server does not bound image strings, so nothing here may backtrack.

export interface ImageReference {
  /** Registry host[:port], or undefined when the reference names none (Docker Hub). */
  domain?: string;
  /** Repository path components, e.g. ['dotnet', 'aspnet']. Never empty for a non-empty reference. */
  path: string[];
  tag?: string;
  digest?: string;
}

/** Splits an image reference; a malformed one is still split as far as it goes (detection must not fail on it). */
export function parseImageReference(image: string): ImageReference {
  const at = image.indexOf('@');
  const name = at === -1 ? image : image.slice(0, at);
  const digest = at === -1 ? undefined : image.slice(at + 1);
  const lastSlash = name.lastIndexOf('/');
  const colon = name.indexOf(':', lastSlash + 1);
  const repository = colon === -1 ? name : name.slice(0, colon);
  const tag = colon === -1 ? undefined : name.slice(colon + 1);
  const components = repository.split('/');
  const reference: ImageReference = { path: components };
  if (components.length > 1 && isDomain(components[0]!)) {
    reference.domain = components[0]!;
    reference.path = components.slice(1);
  }
  if (tag !== undefined) reference.tag = tag;
  if (digest !== undefined) reference.digest = digest;
  return reference;
}

/** The grammar's test for a first component that names a registry rather than a repository. */
export function isDomain(component: string): boolean {
  if (component === 'localhost') return true;
  for (let index = 0; index < component.length; index += 1) {
    const code = component.charCodeAt(index);
    if (code === 46 || code === 58 || (code >= 65 && code <= 90)) return true; // '.', ':', A-Z
  }
  return false;
}
