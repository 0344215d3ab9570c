#!/usr/bin/env bash
# Builds local stand-ins for the two base images the project pulls from Docker Hub, for machines
# that cannot reach it: python:3.12-slim-bookworm (Dockerfile) and redis:7-alpine (compose files).
# Both are made from Debian bookworm packages only; README.md says how they differ.
#
#   sudo deploy/standins/build.sh                # build the stand-ins that are missing or stale
#   sudo deploy/standins/build.sh --if-missing   # same, but never replace a pulled image
#   sudo deploy/standins/build.sh --force        # rebuild even the up-to-date stand-ins
#   sudo deploy/standins/build.sh redis          # only one of them: python or redis
#
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), DEBIAN_SECURITY_MIRROR
# (default http://deb.debian.org/debian-security), STANDIN_PYTHON_PREFIX (a CPython 3.12 built
# for bookworm, with a shared libpython; default the newest /root/.pyenv/versions/3.12.*).
#
# The script never pulls: on a machine that can, pull and do not run it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

readonly PYTHON_TAG=python:3.12-slim-bookworm
readonly REDIS_TAG=redis:7-alpine
readonly LABEL=org.wxhook.standin
readonly SUITE=bookworm
readonly MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
readonly SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

# What CPython 3.12's extension modules link against (ldd of its lib-dynload), and what the
# official slim image adds: CA certificates, time zones, /etc/services and /etc/protocols.
# libnsl2 is for the (deprecated) nis module, which the official image also keeps working.
readonly PYTHON_PACKAGES=libssl3,libffi8,zlib1g,libbz2-1.0,liblzma5,libsqlite3-0,libreadline8,libncursesw6,libuuid1,libgdbm6,libexpat1,libnsl2,ca-certificates,tzdata,netbase
readonly REDIS_PACKAGES=redis-server,redis-tools

say() { printf 'build.sh: %s\n' "$*"; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

force=false
if_missing=false
targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --force) force=true ;;
    --if-missing) if_missing=true ;;
    python | redis) targets+=("$1") ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done
[ ${#targets[@]} -gt 0 ] || targets=(python redis)

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker daemon does not answer (is dockerd running? are you allowed to use it?)"

# The label value: a digest of the files that make up the stand-ins (not README.md, which does not
# change an image). A stand-in whose label matches was built from these very files: skip it.
# The build host's local CAs go into the Python stand-in (see add_local_cas): they count too.
readonly LOCAL_CAS=/usr/local/share/ca-certificates
files_digest() {
  {
    (cd "$here" && find . -type f ! -name README.md -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    if [ -d "$LOCAL_CAS" ]; then
      (cd "$LOCAL_CAS" && find . -type f -name '*.crt' -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
    fi
  } | sha256sum | cut -d' ' -f1
}
digest=$(files_digest)

# The CPython to copy: STANDIN_PYTHON_PREFIX, else the newest pyenv 3.12. Sets python_prefix and
# python_version, or returns 1 with the reason in python_problem.
python_prefix=
python_version=
python_problem=
find_python() {
  local candidate=${STANDIN_PYTHON_PREFIX:-}
  if [ -z "$candidate" ]; then
    candidate=$(find /root/.pyenv/versions -mindepth 1 -maxdepth 1 -name '3.12.*' 2>/dev/null | sort -V | tail -n 1)
  fi
  if [ -z "$candidate" ]; then
    python_problem="no CPython 3.12 found: set STANDIN_PYTHON_PREFIX to the prefix of one built for Debian bookworm (it has bin/python3.12 and lib/libpython3.12.so.1.0), e.g. pyenv's /root/.pyenv/versions/3.12.x"
    return 1
  fi
  local problem=
  if [ ! -x "$candidate/bin/python3.12" ]; then
    problem="$candidate/bin/python3.12 is missing"
  elif [ ! -e "$candidate/lib/libpython3.12.so.1.0" ]; then
    problem="$candidate/lib/libpython3.12.so.1.0 is missing (a build with --enable-shared is needed)"
  elif ! compgen -G "$candidate/lib/python3.12/ensurepip/_bundled/pip-*.whl" >/dev/null; then
    problem="$candidate/lib/python3.12/ensurepip has no bundled pip wheel"
  elif ! python_version=$("$candidate/bin/python3.12" -c 'import platform; print(platform.python_version())' 2>/dev/null); then
    problem="$candidate/bin/python3.12 does not run on this machine"
  fi
  if [ -n "$problem" ]; then
    python_problem="not a usable CPython 3.12: $problem (set STANDIN_PYTHON_PREFIX)"
    return 1
  fi
  python_prefix=$candidate
}

tag_of() { case $1 in python) echo "$PYTHON_TAG" ;; redis) echo "$REDIS_TAG" ;; esac; }

# Decide, before any slow work, which images to build. A real image (one without our label) is
# left alone with --if-missing; without it, it is replaced and stays on the machine untagged.
to_build=()
declare -A replaced=()
for name in "${targets[@]}"; do
  tag=$(tag_of "$name")
  if ! docker image inspect "$tag" >/dev/null 2>&1; then
    say "$tag: not on this machine, will build a stand-in"
    to_build+=("$name")
    continue
  fi
  id=$(docker image inspect --format '{{.Id}}' "$tag")
  label=$(docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$tag")
  if [ -z "$label" ]; then
    if $if_missing; then
      say "$tag: a real image (${id:7:12}, not a stand-in), left alone"
      continue
    fi
    say "warning: $tag is a real image (${id:7:12}), replacing it with a stand-in; it stays as an untagged image: 'docker tag ${id:7:12} $tag' restores it"
    replaced[$name]=$id
    to_build+=("$name")
    continue
  fi
  stale=
  [ "$label" = "$digest" ] || stale="built from other files"
  if [ -z "$stale" ] && [ "$name" = python ] && find_python; then
    built=$(docker image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$tag" | sed -n 's/^PYTHON_VERSION=//p')
    [ "$built" = "$python_version" ] || stale="it has Python $built, $python_prefix is $python_version"
  fi
  if $force; then
    say "$tag: stand-in ${id:7:12}, rebuilding (--force)"
    to_build+=("$name")
  elif [ -n "$stale" ]; then
    say "$tag: stand-in ${id:7:12} is out of date ($stale), rebuilding"
    to_build+=("$name")
  else
    say "$tag: stand-in ${id:7:12} is up to date, skipped"
  fi
done

if [ ${#to_build[@]} -eq 0 ]; then
  say "nothing to build (${SECONDS}s)"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "building needs root (debootstrap, chroot): run it with sudo"
for tool in debootstrap chroot tar findmnt; do
  command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install debootstrap)"
done
for name in "${to_build[@]}"; do
  if [ "$name" = python ] && [ -z "$python_prefix" ]; then
    find_python || die "$python_problem"
  fi
done

# Everything temporary: the root filesystems and the .deb cache under /var/tmp (they hold device
# nodes and root-owned files, so never in the repository), and the intermediate image tags.
work=$(mktemp -d /var/tmp/wxhook-standins.XXXXXX)
temp_tags=()
cleanup() {
  local rc=$?
  # A failed debootstrap can leave proc or sys mounted inside its target: unmount them first,
  # and keep rm on this file system, so that it never descends into the host's /proc or /sys.
  findmnt -rn -o TARGET | awk -v dir="$work/" 'index($0, dir) == 1' | sort -r \
    | while read -r mountpoint; do umount -l "$mountpoint" || true; done
  rm -rf --one-file-system "$work"
  for t in "${temp_tags[@]}"; do docker rmi "$t" >/dev/null 2>&1 || true; done
  [ $rc -eq 0 ] || printf 'build.sh: failed; nothing was tagged for the image that failed\n' >&2
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs a command inside a root filesystem with a clean environment (no host locale or paths).
in_root() {
  local root=$1
  shift
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}

# debootstrap --variant=minbase (apt, dpkg, bash, coreutils, passwd for useradd, util-linux for
# setpriv) plus the packages named; then the bookworm-updates and security updates, which
# debootstrap does not take. One root filesystem per image, so neither carries the other's
# packages; the shared --cache-dir means the second one downloads only what the first lacked.
make_rootfs() {
  local root=$1 packages=$2 log=$work/$3.log
  say "debootstrap $SUITE minbase + $packages (log: $log)"
  mkdir -p "$work/debs"
  if ! debootstrap --variant=minbase --include="$packages" --cache-dir="$work/debs" \
      "$SUITE" "$root" "$MIRROR" >"$log" 2>&1; then
    tail -n 25 "$log" >&2
    die "debootstrap failed for $3 (mirror $MIRROR)"
  fi

  cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
  # No service is started by a package script in a root filesystem that is being built.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  say "apt-get upgrade from $SUITE-updates and $SUITE-security"
  if ! { in_root "$root" apt-get -q update && in_root "$root" apt-get -q -y upgrade; } >>"$log" 2>&1; then
    tail -n 25 "$log" >&2
    die "apt-get upgrade failed for $3"
  fi
  grep -E '^[0-9]+ upgraded' "$log" | tail -n 1 | sed 's/^/build.sh:   /' || true
  rm -f "$root/usr/sbin/policy-rc.d"
}

# Sizes close to a slim image: no package lists or .debs (apt-get update fetches them again), no
# documentation except copyright files, no logs; and the build host's name and DNS settings that
# debootstrap copied in are emptied (Docker provides its own at run time).
trim_rootfs() {
  local root=$1
  in_root "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
    "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/groff/* \
    "$root"/usr/share/lintian/* "$root"/usr/share/locale/* "$root"/tmp/* "$root"/var/tmp/*
  find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  find "$root/var/log" -type f -delete
  : >"$root/etc/hostname"
  : >"$root/etc/resolv.conf"
  install -m 0644 "$here/dpkg-slim.cfg" "$root/etc/dpkg/dpkg.cfg.d/wxhook-standin-slim"
}

# CPython into /usr/local, as in the official image: the interpreter, the shared libpython and the
# standard library without its tests, IDLE, Tk (no Tk libraries here) and bytecode; no headers,
# no static library. site-packages starts empty: pip comes from ensurepip in python.Dockerfile,
# so nothing installed locally into the source build (or its .pth files) is carried over.
add_python() {
  local root=$1 lib=$python_prefix/lib
  say "copying CPython $python_version from $python_prefix into /usr/local"
  install -d "$root/usr/local/bin" "$root/usr/local/lib"
  cp -a "$python_prefix/bin/python3.12" "$root/usr/local/bin/"
  ln -sf python3.12 "$root/usr/local/bin/python3"
  ln -sf python3 "$root/usr/local/bin/python"
  cp -a "$lib"/libpython3*.so* "$root/usr/local/lib/"
  tar -C "$lib" -c \
    --exclude=python3.12/test --exclude=python3.12/idlelib --exclude=python3.12/tkinter \
    --exclude=python3.12/turtledemo --exclude=python3.12/lib2to3/tests --exclude=__pycache__ \
    --exclude='python3.12/lib-dynload/_tkinter.*' --exclude='python3.12/config-3.12-*/*.a' \
    --exclude='python3.12/site-packages/*' \
    python3.12 | tar -C "$root/usr/local/lib" -x
  # sysconfig's recorded build prefix (read by pip when it builds C extensions, and by
  # python3-config) becomes the installed one; sys.prefix is computed at run time anyway.
  local built_prefix
  built_prefix=$("$python_prefix/bin/python3.12" -c 'import sysconfig; print(sysconfig.get_config_var("prefix"))')
  if [ -n "$built_prefix" ] && [ "$built_prefix" != /usr/local ]; then
    find "$root/usr/local/lib/python3.12" -maxdepth 2 \( -name '_sysconfigdata_*.py' -o -name Makefile \) \
      -exec sed -i "s|$built_prefix|/usr/local|g" '{}' +
  fi
  # The official image links with --strip-all; a source build keeps its debug information
  # (libpython alone: 30 MB instead of 5). Strip the copies if binutils is on this machine.
  if command -v strip >/dev/null; then
    find "$root/usr/local/bin/python3.12" "$root/usr/local/lib" -type f \( -name 'python3.12' -o -name '*.so*' \) \
      -exec strip --strip-unneeded '{}' +
  else
    say "  strip (binutils) is not installed: the Python binaries keep their debug information"
  fi
}

# The certificate authorities this machine added to Debian's list (update-ca-certificates reads
# them from /usr/local/share/ca-certificates), e.g. the one of an egress proxy that re-signs
# HTTPS: without them, `pip install` in a build on this machine cannot reach PyPI. The official
# image trusts Debian's list only; python.Dockerfile points pip at the system bundle.
add_local_cas() {
  local root=$1 found=0
  [ -d "$LOCAL_CAS" ] || return 0
  for cert in "$LOCAL_CAS"/*.crt; do
    [ -e "$cert" ] || continue
    install -D -m 0644 "$cert" "$root$LOCAL_CAS/$(basename "$cert")"
    found=$((found + 1))
  done
  if [ "$found" -gt 0 ]; then
    say "adding this machine's $found local CA certificate(s) from $LOCAL_CAS"
    in_root "$root" update-ca-certificates >/dev/null 2>&1
  fi
}

# Imports a root filesystem, builds the image settings on it from <name>.Dockerfile under a
# temporary tag, checks that it works, and only then gives it the real tag: a failed build never
# replaces a working image.
build_image() {
  local name=$1 root=$2 tag check
  tag=$(tag_of "$name")
  local rootfs_tag=wxhook-standin-rootfs:$name-$$ candidate=wxhook-standin-candidate:$name-$$
  temp_tags+=("$candidate" "$rootfs_tag")
  say "docker import $rootfs_tag ($(du -sh --one-file-system "$root" | cut -f1))"
  tar --numeric-owner -C "$root" -c . | docker import - "$rootfs_tag" >/dev/null

  local args=(--label "$LABEL=$digest" --build-arg "ROOTFS=$rootfs_tag")
  [ "$name" = python ] && args+=(--build-arg "PYTHON_VERSION=$python_version")
  say "docker build $tag from $name.Dockerfile"
  if ! docker build "${args[@]}" -f "$here/$name.Dockerfile" -t "$candidate" "$here" \
      >"$work/$name-build.log" 2>&1; then
    tail -n 25 "$work/$name-build.log" >&2
    die "docker build failed for $tag"
  fi

  say "checking $tag"
  if [ "$name" = python ]; then
    # What the project's Dockerfile relies on: the extension modules, pip, groupadd/useradd.
    check='python -c "import ssl, sqlite3, ctypes, lzma, bz2, zlib, uuid, readline, curses, decimal, hashlib, zoneinfo; zoneinfo.ZoneInfo(\"Asia/Shanghai\")"
      pip --version
      groupadd --system --gid 10001 probe && useradd --system --uid 10001 --gid probe --no-create-home probe'
  else
    check='redis-server --version && redis-cli --version && id redis'
  fi
  local out
  out=$(docker run --rm --network none "$candidate" sh -ec "$check" 2>&1) \
    || { printf '%s\n' "$out" >&2; die "the new $tag does not work (output above)"; }

  local old_id=
  old_id=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  docker tag "$candidate" "$tag"
  local new_id
  new_id=$(docker image inspect --format '{{.Id}}' "$tag")
  say "$tag: built stand-in ${new_id:7:12} ($(docker image inspect --format '{{.Size}}' "$tag" | numfmt --to=si))"
  # The previous stand-in, now untagged: remove it unless something still uses it. A replaced
  # real image is kept (see the warning above).
  if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ] && [ -z "${replaced[$name]:-}" ]; then
    docker rmi "$old_id" >/dev/null 2>&1 \
      || say "  the previous stand-in ${old_id:7:12} is still in use (containers or images built on it), kept"
  fi
}

for name in "${to_build[@]}"; do
  root=$work/$name
  case $name in
    python)
      make_rootfs "$root" "$PYTHON_PACKAGES" python
      add_python "$root"
      add_local_cas "$root"
      ;;
    redis)
      make_rootfs "$root" "$REDIS_PACKAGES" redis
      ;;
  esac
  trim_rootfs "$root"
  build_image "$name" "$root"
  rm -rf --one-file-system "$root"
done

say "done in ${SECONDS}s"
