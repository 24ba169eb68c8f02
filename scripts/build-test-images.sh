#!/usr/bin/env bash
# Builds the local container images the Docker runtime's tests (and a
# `runtime: docker` demo project) use, without any registry:
#
#   blissful-infra-sample  busybox-static + the project's own binary, running
#                          the hidden `sample-service` subcommand on $PORT
#                          (default 8080, all interfaces) as version $VERSION
#   blissful-infra-dep     busybox-static only: `httpd` on $PORT (default 5432),
#                          a stand-in for a database or a broker
#
# Both are imported with `docker import` from a root filesystem built here and
# tagged with the git short SHA and `latest`. The image records a hash of its
# content; when the current image already has it, nothing is rebuilt.
#
# Usage: scripts/build-test-images.sh [path/to/blissful-infra]
#   (default: $BLISSFUL_INFRA_BIN, else target/debug/blissful-infra)
set -euo pipefail
cd "$(dirname "$0")/.."

SAMPLE_IMAGE="${BLISSFUL_SAMPLE_IMAGE:-blissful-infra-sample}"
DEP_IMAGE="${BLISSFUL_DEP_IMAGE:-blissful-infra-dep}"
BIN="${1:-${BLISSFUL_INFRA_BIN:-target/debug/blissful-infra}}"
HASH_LABEL="dev.blissful-infra.content-hash"

die() { echo "build-test-images: $*" >&2; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker is not installed"
docker info >/dev/null 2>&1 || die "no Docker Engine is reachable (docker info failed)"
[ -x "$BIN" ] || die "$BIN does not exist or is not executable (run cargo build first)"

BUSYBOX=""
for b in /bin/busybox /usr/bin/busybox; do
  # ldd fails on a static executable; a dynamic busybox would need its libs.
  if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then
    BUSYBOX="$b"
    break
  fi
done
if [ -z "$BUSYBOX" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing busybox-static"
    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static ||
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static)) >/dev/null
    BUSYBOX=/bin/busybox
  else
    die "a static busybox is needed: apt-get install busybox-static"
  fi
fi

# One build at a time (tests running in parallel may all call this script).
LOCK="${TMPDIR:-/tmp}/blissful-infra-build-images.lock"
exec 9>"$LOCK"
flock 9

TAG="$(git rev-parse --short HEAD 2>/dev/null || echo dev)"

# The loader and the shared libraries the binary needs, as absolute paths.
libs() {
  ldd "$1" | awk '
    /=> \// { print $3; next }
    /^[[:space:]]*\/[^ ]+/ { print $1 }'
}

content_hash() {
  # $1: image kind; the rest: files that make up the image.
  local kind="$1"; shift
  { echo "$kind"; sha256sum "$0" "$@" | awk '{print $1}'; } | sha256sum | awk '{print $1}'
}

current_hash() {
  docker image inspect "$1:latest" \
    --format "{{ index .Config.Labels \"$HASH_LABEL\" }}" 2>/dev/null || true
}

# Fill $1 with busybox, its applet links and the files every image needs.
base_rootfs() {
  local root="$1"
  mkdir -p "$root"/{bin,etc,tmp,www,proc,sys,dev,app}
  chmod 1777 "$root/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  local applet
  for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  echo "blissful-infra dependency stand-in" >"$root/www/index.html"
}

# import <image> <hash> <rootfs> <docker import --change args...>
import() {
  local image="$1" hash="$2" root="$3"; shift 3
  local id old
  old="$(docker image inspect "$image:latest" --format '{{.Id}}' 2>/dev/null || true)"
  id="$(tar --numeric-owner -C "$root" -c . |
    docker import --change "LABEL $HASH_LABEL=$hash" "$@" - "$image:$TAG")"
  docker tag "$image:$TAG" "$image:latest"
  echo "built $image:$TAG and $image:latest (${id#sha256:})"
  # The previous build, now untagged, goes unless a container still uses it.
  if [ -n "$old" ] && [ "$old" != "$id" ] &&
    [ -z "$(docker image inspect "$old" --format '{{join .RepoTags ","}}' 2>/dev/null)" ]; then
    docker rmi "$old" >/dev/null 2>&1 || true
  fi
}

# Retag when the content is current, so the SHA tag always exists.
up_to_date() {
  local image="$1" hash="$2"
  if [ "$(current_hash "$image")" = "$hash" ]; then
    docker tag "$image:latest" "$image:$TAG"
    echo "$image:latest is current (tagged $TAG too)"
    return 0
  fi
  return 1
}

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# --- the sample service image ---------------------------------------------
mapfile -t LIBS < <(libs "$BIN")
SAMPLE_HASH="$(content_hash sample "$BIN" "$BUSYBOX" "${LIBS[@]}")"
if ! up_to_date "$SAMPLE_IMAGE" "$SAMPLE_HASH"; then
  root="$WORK/sample"
  base_rootfs "$root"
  cp "$BIN" "$root/app/blissful-infra"
  for lib in "${LIBS[@]}"; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  import "$SAMPLE_IMAGE" "$SAMPLE_HASH" "$root" \
    --change 'ENV PORT=8080 VERSION=v1 BLISSFUL_SAMPLE_BIND=0.0.0.0 LATENCY_MS=0 ERROR_RATE=0 MEMORY_GROWTH_MIB_PER_MIN=0' \
    --change 'EXPOSE 8080' \
    --change 'WORKDIR /app' \
    --change 'CMD ["/bin/sh", "-c", "exec /app/blissful-infra sample-service --port \"$PORT\" --version \"$VERSION\" --instance \"$(hostname)\" --latency-ms \"$LATENCY_MS\" --error-rate \"$ERROR_RATE\" --memory-growth-mib-per-min \"$MEMORY_GROWTH_MIB_PER_MIN\""]'
fi

# --- the dependency stand-in image ----------------------------------------
DEP_HASH="$(content_hash dep "$BUSYBOX")"
if ! up_to_date "$DEP_IMAGE" "$DEP_HASH"; then
  root="$WORK/dep"
  base_rootfs "$root"
  import "$DEP_IMAGE" "$DEP_HASH" "$root" \
    --change 'ENV PORT=5432' \
    --change 'EXPOSE 5432' \
    --change 'CMD ["/bin/sh", "-c", "exec httpd -f -v -p \"$PORT\" -h /www"]'
fi
