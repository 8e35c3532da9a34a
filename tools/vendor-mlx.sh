#!/usr/bin/env bash
# Rebuilds vendor/frost-beta-mlx-0.0.7.tgz from the registry tarball (needs the
# npm registry once). The only change is install.js: the published script
# downloads a binary from GitHub on every platform, which fails offline, although
# the Linux x64 binary already ships inside the tarball. The replacement keeps
# that binary on Linux x64 and downloads elsewhere (macOS arm64 gets its Metal
# binary and metallib exactly as before). The type declarations get one fix too.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack @frost-beta/mlx@0.0.7 >/dev/null
tar xzf frost-beta-mlx-0.0.7.tgz
cp "$here/tools/mlx-install.cjs" package/install.js
# Its index.d.ts re-exports nn/optimizers/utils from TypeScript sources that do not
# compile under `strict`; mlxk uses only `core`, so those three are typed as unknown.
sed -i "s#^export \* as \(nn\|optimizers\|utils\) from '\./\(nn\|optimizers\|utils\)';#export declare const \1: unknown;#" package/lib/index.d.ts
grep -q "export declare const nn: unknown;" package/lib/index.d.ts
# Fixed mtimes and ordering so the tarball (and package-lock's integrity) is reproducible.
find package -exec touch -d '1985-10-26 08:15:00Z' {} +
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='1985-10-26 08:15:00Z' \
  -cf - package | gzip -n -9 > "$here/vendor/frost-beta-mlx-0.0.7.tgz"
echo "wrote vendor/frost-beta-mlx-0.0.7.tgz"
