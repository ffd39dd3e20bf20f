#!/usr/bin/env bash
# Checks that a package can depend on InstanceSparsity by version: SwiftPM rejects a versioned
# dependency whose targets use unsafeFlags, which a build of this checkout on its own never shows.
# The files git tracks, as they are in the working tree (uncommitted edits included), go into a
# fresh repository with one commit tagged $version; Examples/Classify is built against it through
# a file:// URL (resolved by git, no network) and run on the shipped model. In debug: what this
# checks (resolution by version, a build, a run) does not depend on the configuration, and a
# release build compiled the C kernels a second time in `make test` (ConvTiles.c alone 277 s at -O3
# on AMD Zen 5, 6.6 s at -O0): this script took 37 s so on that machine (2026-12-07).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The release this tree declares (Sources/InstanceSparsity/Version.swift), as its git tag would be.
version=$(sed -n 's/^public let instanceSparsityVersion = "\(.*\)"$/\1/p' "$root/Sources/InstanceSparsity/Version.swift")
[ -n "$version" ] || { echo "check-dependent: no version in Sources/InstanceSparsity/Version.swift" >&2; exit 1; }
model=${1:-$root/models/vgg16-fd.safetensors}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

package=$work/InstanceSparsity
mkdir "$package"
(cd "$root" && git ls-files -z --cached --others --exclude-standard) |
    while IFS= read -r -d '' file; do
        [ -e "$root/$file" ] || continue  # deleted in the working tree
        mkdir -p "$package/$(dirname "$file")"
        cp -p "$root/$file" "$package/$file"
    done
git -C "$package" init -q
git -C "$package" add -A
git -C "$package" -c user.name=check-dependent -c user.email=check-dependent@localhost commit -q -m "snapshot for check-dependent.sh"
git -C "$package" tag "$version"

cp -R "$root/Examples/Classify" "$work/Classify"
rm -rf "$work/Classify/.build" "$work/Classify/Package.resolved"
sed -i "s|https://github.com/OWNER/InstanceSparsity.git|file://$package|" "$work/Classify/Package.swift"
grep -q "file://$package" "$work/Classify/Package.swift" || { echo "check-dependent: Examples/Classify/Package.swift no longer names the OWNER URL this script replaces" >&2; exit 1; }

cd "$work/Classify"
swift build --disable-dependency-cache
grep -q "\"version\" : \"$version\"" Package.resolved || { echo "check-dependent: InstanceSparsity was not resolved as version $version:" >&2; cat Package.resolved >&2; exit 1; }
python3 "$root/scripts/fashion_png.py" "$work/image.png" 0
.build/debug/classify "$model" "$work/image.png"
echo "check-dependent: a package depending on InstanceSparsity from: \"$version\" builds and runs"
