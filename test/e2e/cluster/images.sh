#!/usr/bin/env bash
# Builds the node's images without a registry or a Docker engine and writes them
# as one OCI archive (layout tar: index.json, blobs/sha256/...):
#   images.sh <out dir>   -> <out dir>/images.oci.tar; prints its path
# Images (each index entry carries io.containerd.image.name, which
# `ctr -n k8s.io images import` uses as the image's name):
#   pidguard.test/pause:e2e             the sandbox image (node/pause.c, static)
#   pidguard.test/tools:e2e             busybox (Debian's busybox-static) + /bomb (node/bomb.c, static)
#   mcr.microsoft.com/dotnet/aspnet:8.0 the same tools under a .NET image name: the
#                                       name is all pidguard sees of an image
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"
out="${1:?usage: images.sh <out dir>}"
busybox="$(command -v busybox || true)"
[[ -n "$busybox" ]] && file -L "$busybox" | grep -q 'statically linked' \
  || e2e_die "a static busybox is needed (apt-get install -y busybox-static)"
command -v gcc >/dev/null || e2e_die "gcc not found (apt-get install -y gcc libc6-dev)"

build="$out/image-build"
rm -rf "$build"
mkdir -p "$build/blobs/sha256" "$build/pause/rootfs" "$build/tools/rootfs/bin"
gcc -static -O2 -Wall -o "$build/pause/rootfs/pause" "$here/node/pause.c" \
  || e2e_die "gcc -static failed (apt-get install -y libc6-dev)"
gcc -static -O2 -Wall -pthread -o "$build/tools/rootfs/bomb" "$here/node/bomb.c"
cp "$busybox" "$build/tools/rootfs/bin/busybox"
for applet in sh cat echo sleep ls ps true env grep wc head tail kill; do
  ln -s busybox "$build/tools/rootfs/bin/$applet"
done
mkdir -p "$build/tools/rootfs/tmp" "$build/pause/rootfs/tmp"

# blob <file>: moves <file> into blobs/ under its digest, prints "<digest> <size>"
blob() {
  local digest size
  digest="$(sha256sum "$1" | cut -d' ' -f1)"
  size="$(stat -c %s "$1")"
  mv "$1" "$build/blobs/sha256/$digest"
  echo "$digest $size"
}

# image <dir> <entrypoint json>: layer + config + manifest; prints the manifest's "<digest> <size>"
image() {
  local dir="$1" entrypoint="$2" layer diff_id config manifest
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir/rootfs" -cf "$dir/layer.tar" .
  diff_id="$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)"
  read -r layer layer_size < <(blob "$dir/layer.tar")
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":%s,"Env":["PATH=/bin"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$entrypoint" "$diff_id" >"$dir/config.json"
  read -r config config_size < <(blob "$dir/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config" "$config_size" "$layer" "$layer_size" >"$dir/manifest.json"
  blob "$dir/manifest.json"
}

entry() { # <manifest digest> <size> <name>
  printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}' \
    "$1" "$2" "$3" "${3##*:}"
}
read -r pause pause_size < <(image "$build/pause" '["/pause"]')
read -r tools tools_size < <(image "$build/tools" '["/bin/sh"]')
printf '{"schemaVersion":2,"manifests":[%s,%s,%s]}' \
  "$(entry "$pause" "$pause_size" pidguard.test/pause:e2e)" \
  "$(entry "$tools" "$tools_size" pidguard.test/tools:e2e)" \
  "$(entry "$tools" "$tools_size" mcr.microsoft.com/dotnet/aspnet:8.0)" >"$build/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$build/oci-layout"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$build" -cf "$out/images.oci.tar" oci-layout index.json blobs
rm -rf "$build"
echo "$out/images.oci.tar"
