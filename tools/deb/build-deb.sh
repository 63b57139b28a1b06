#!/usr/bin/env bash
# Build iomt-agent_<version>_<arch>.deb for the machine it runs on: what `./build.sh deb`
# runs. The tree is staged by tools/install.sh (the production install) with
# PREFIX=/usr/lib/iomt-agent, then laid out as Debian wants it:
#
#   /usr/lib/iomt-agent/.venv     the agent and its runtime dependencies, engine compiled
#   /usr/bin/iomt-agent           -> the venv's script
#   /lib/systemd/system/iomt-agent.service
#   /etc/iomt-agent/agent.toml    conffile (an upgrade keeps local edits); agent.d/ for drop-ins
#   /usr/share/doc/iomt-agent/    copyright, changelog, the worked example config
#
# The user, the spool, the key and the unit's enablement are made by postinst
# (tools/deb/postinst). Output: dist/iomt-agent_<version>_<arch>.deb; lintian runs on it
# and any error fails the build.
#
# Environment: WHEELHOUSE=DIR as for tools/install.sh (offline builds); DEBFULLNAME and
# DEBEMAIL name the maintainer, as for Debian's own tools.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=$PWD
HERE=$SRC/tools/deb

say() { printf '==> deb: %s\n' "$*"; }
die() { printf 'deb: error: %s\n' "$*" >&2; exit 2; }

PREFIX=/usr/lib/iomt-agent
PYTHON=/usr/bin/python3  # the system Python: the venv's interpreter is a link to it
VERSION=$("$PYTHON" -c 'import re,sys; print(re.search(r"__version__ = \"(.+)\"", open("agent/__init__.py").read())[1])')
ARCH=$(dpkg --print-architecture)
PY_MINOR=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
PY_NEXT=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1] + 1}")')
OUT=dist
MAINTAINER="${DEBFULLNAME:-iomt-agent maintainers} <${DEBEMAIL:-iomt-agent@example.org}>"
STAGE=build/deb/root
DEB="$OUT/iomt-agent_${VERSION}_${ARCH}.deb"

for tool in dpkg-deb gcc pkg-config; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done
[ -e /usr/include/pcap.h ] || die "libpcap-dev is missing (the engine is compiled here)"

say "staging with tools/install.sh (DESTDIR=$STAGE PREFIX=$PREFIX)"
rm -rf "$STAGE"
mkdir -p "$STAGE" "$OUT"
PYTHON=$PYTHON DESTDIR="$SRC/$STAGE" PREFIX=$PREFIX tools/install.sh >/dev/null
# The staged venv must name only where the package puts it (tools/install.sh relocates it;
# pyvenv.cfg's "command =" line, which only records how the venv was made, is fixed here).
sed -i "s#$SRC/$STAGE##g" "$STAGE$PREFIX/.venv/pyvenv.cfg"
if grep -rlI "$SRC/$STAGE" "$STAGE$PREFIX" >&2; then
    die "these staged files name the staging directory $SRC/$STAGE"
fi
# Byte code is compiled on the box by postinst and removed by prerm (it is not in the
# package, so it never goes stale against another Python patch release).
find "$STAGE$PREFIX" -name __pycache__ -type d -prune -exec rm -rf {} +
# Only what runs the agent: no pip or setuptools (an upgrade replaces the whole venv), no
# activate scripts, no console scripts of the dependencies.
VENV_STAGE=$STAGE$PREFIX/.venv
find "$VENV_STAGE/bin" -mindepth 1 ! -name iomt-agent ! -name 'python*' -delete
SITE=$(echo "$VENV_STAGE"/lib/python3*/site-packages)
rm -rf "$SITE"/pip "$SITE"/pip-* "$SITE"/setuptools "$SITE"/setuptools-* \
    "$SITE"/pkg_resources "$SITE"/_distutils_hack "$SITE"/distutils-precedence.pth
# Debian ships stripped objects (debug symbols would be a -dbgsym package).
find "$VENV_STAGE" -name '*.so' -type f -exec strip --strip-unneeded {} +

# Debian's places: the packaged unit under /lib/systemd/system (enabled by postinst, not by
# a symlink in the package), no spool directory (postinst makes it, owned by the user).
install -d "$STAGE/lib/systemd/system" "$STAGE/usr/bin" "$STAGE/usr/share/doc/iomt-agent/examples"
mv "$STAGE/etc/systemd/system/iomt-agent.service" "$STAGE/lib/systemd/system/"
rm -rf "$STAGE/etc/systemd" "$STAGE/var"
chmod 0644 "$STAGE/lib/systemd/system/iomt-agent.service"
ln -s "../lib/iomt-agent/.venv/bin/iomt-agent" "$STAGE/usr/bin/iomt-agent"
mv "$STAGE$PREFIX/config/example-wing.toml" "$STAGE/usr/share/doc/iomt-agent/examples/"
rm -rf "$STAGE$PREFIX/config"
# The unit documents the reference config; the package keeps it in /etc.
sed -i "s#file://$PREFIX/config/agent.toml#file:///etc/iomt-agent/agent.toml#" \
    "$STAGE/lib/systemd/system/iomt-agent.service"
chmod 0755 "$STAGE/etc/iomt-agent" "$STAGE/etc/iomt-agent/agent.d"  # postinst narrows them
chmod 0644 "$STAGE/etc/iomt-agent/agent.toml"

install -m 0644 "$HERE/copyright" "$STAGE/usr/share/doc/iomt-agent/copyright"
sed "s/@VERSION@/$VERSION/; s/@DATE@/$(date -R)/; s/@MAINTAINER@/$MAINTAINER/" "$HERE/changelog.in" |
    gzip -9n >"$STAGE/usr/share/doc/iomt-agent/changelog.gz"

mkdir -p "$STAGE/DEBIAN"
(cd "$STAGE" && find etc -type f | sed 's#^#/#') >"$STAGE/DEBIAN/conffiles"
install -m 0755 "$HERE/postinst" "$HERE/prerm" "$HERE/postrm" "$STAGE/DEBIAN/"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@MAINTAINER@/$MAINTAINER/" \
    -e "s/@SIZE@/$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)/" \
    -e "s/@PYTHON_DEP@/python3 (>= $PY_MINOR), python3 (<< $PY_NEXT)/" \
    "$HERE/control.in" >"$STAGE/DEBIAN/control"

dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >/dev/null
say "built $DEB ($(du -h "$DEB" | cut -f1))"

if command -v lintian >/dev/null; then
    say "lintian $DEB"
    lintian --fail-on error "$DEB" ||
        die "lintian reports errors"
else
    say "lintian is not installed: not checked"
fi
