#!/usr/bin/env bash
# Builds the OCI image of kompliance without a container engine (issue 13): a root filesystem of
# the stripped release binary (no demo, so no testkube), the C runtime it links (as ldd names it,
# with the dynamic loader), the system CA bundle where rustls' native roots look
# (/etc/ssl/certs/ca-certificates.crt: Azure Resource Manager is reached over TLS) and a non-root
# user 65532; assembled rootless with umoci and exported by skopeo as an oci-archive.
# Reproducible: every timestamp is SOURCE_DATE_EPOCH (default: the commit's time).
#
# Environment: KOMPLIANCE_BIN   use this binary instead of building one (it is stripped here)
#              IMAGE_OUT        the archive (default target/kompliance-image.tar)
#              SOURCE_DATE_EPOCH, KOMPLIANCE_GIT_COMMIT (default: git rev-parse HEAD)
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in umoci skopeo strip ldd; do
  command -v "$tool" >/dev/null || { echo "image/build.sh: $tool is missing (apt-get install umoci skopeo binutils)" >&2; exit 2; }
done
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
[ -s "$CA_BUNDLE" ] || { echo "image/build.sh: $CA_BUNDLE is missing (apt-get install ca-certificates)" >&2; exit 2; }

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
REVISION=${KOMPLIANCE_GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
OUT=${IMAGE_OUT:-target/kompliance-image.tar}
TAG=$VERSION

BIN=${KOMPLIANCE_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release --locked --no-default-features --bin kompliance
  BIN="${CARGO_TARGET_DIR:-target}/release/kompliance"
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"
mkdir -p "$ROOTFS/usr/local/bin" "$ROOTFS/etc/ssl/certs" "$ROOTFS/tmp"
chmod 1777 "$ROOTFS/tmp"
strip -o "$ROOTFS/usr/local/bin/kompliance" "$BIN"
chmod 0755 "$ROOTFS/usr/local/bin/kompliance"

# The shared libraries and the loader, at the paths ldd names (symlinks resolved to files).
ldd "$BIN" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u | while read -r lib; do
  mkdir -p "$ROOTFS$(dirname "$lib")"
  cp -L "$lib" "$ROOTFS$lib"
  chmod 0755 "$ROOTFS$lib"
done

cp -L "$CA_BUNDLE" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$ROOTFS/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$ROOTFS/etc/group"
mkdir -p "$ROOTFS/home/nonroot"
chmod 0644 "$ROOTFS/etc/passwd" "$ROOTFS/etc/group"

# One time for every file and folder, so the layer's bytes depend on the contents only.
find "$ROOTFS" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

LAYOUT="$WORK/oci"
umoci init --layout "$LAYOUT"
umoci new --image "$LAYOUT:$TAG"
umoci unpack --rootless --image "$LAYOUT:$TAG" "$WORK/bundle" >/dev/null
rm -rf "$WORK/bundle/rootfs"
cp -a "$ROOTFS" "$WORK/bundle/rootfs"
touch -h -d "@$SOURCE_DATE_EPOCH" "$WORK/bundle/rootfs"
umoci repack --image "$LAYOUT:$TAG" --history.created "$CREATED" --history.created_by "image/build.sh" \
  --history.comment "kompliance $VERSION ($REVISION)" "$WORK/bundle"
umoci config --image "$LAYOUT:$TAG" --no-history --created "$CREATED" --author "kompliance" \
  --os linux --architecture amd64 \
  --config.user 65532:65532 \
  --config.entrypoint /usr/local/bin/kompliance \
  --config.workingdir / \
  --config.env PATH=/usr/local/bin \
  --config.label "org.opencontainers.image.title=kompliance" \
  --config.label "org.opencontainers.image.version=$VERSION" \
  --config.label "org.opencontainers.image.revision=$REVISION" \
  --config.label "org.opencontainers.image.source=https://github.com/kompliance/kompliance" \
  --config.label "org.opencontainers.image.licenses=Apache-2.0" \
  --config.label "org.opencontainers.image.created=$CREATED"
umoci gc --layout "$LAYOUT"

mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"
skopeo copy --quiet "oci:$LAYOUT:$TAG" "oci-archive:$OUT:$TAG"
echo "image: $OUT (kompliance $VERSION, $REVISION, created $CREATED)"
