#!/usr/bin/env node
// install.js for the vendored @frost-beta/mlx 0.0.7 (see tools/vendor-mlx.sh).
// Linux x64: the binary inside the tarball is used as is, nothing is downloaded.
// Other platforms: the upstream release binary is downloaded as upstream does.
// npm 11 skips dependency install scripts unless approved, so mlxk's own
// postinstall runs this too; it is idempotent (a binary of the right format,
// plus the metallib on macOS arm64, means there is nothing to do).
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const { pipeline } = require('node:stream/promises');

const version = require('./package.json').version;
const dir = path.join(__dirname, 'build', 'Release');
const binary = path.join(dir, 'mlx.node');

const os = { darwin: 'mac', win32: 'win' }[process.platform] ?? process.platform;
const metallib = path.join(dir, 'mlx.metallib');

function binaryFitsPlatform() {
  if (!fs.existsSync(binary)) return false;
  const magic = Buffer.alloc(4);
  const fd = fs.openSync(binary, 'r');
  fs.readSync(fd, magic, 0, 4, 0);
  fs.closeSync(fd);
  const elf = magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  const machO = magic.readUInt32LE(0) === 0xfeedfacf;
  if (process.platform === 'linux') return elf && process.arch === 'x64';
  if (process.platform === 'darwin') return machO && (process.arch !== 'arm64' || fs.existsSync(metallib));
  return false;
}

if (binaryFitsPlatform()) process.exit(0);

const prefix = `https://github.com/frost-beta/node-mlx/releases/download/v${version}/mlx-${os}-${process.arch}`;

async function download(url, filename) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`failed to download ${url}: HTTP ${response.status}`);
  await pipeline(response.body, zlib.createGunzip(), fs.createWriteStream(filename));
}

async function main() {
  fs.mkdirSync(dir, { recursive: true });
  const tasks = [download(`${prefix}.node.gz`, binary)];
  if (os === 'mac' && process.arch === 'arm64') {
    tasks.push(download(`${prefix}.metallib.gz`, metallib));
  }
  await Promise.all(tasks);
}

main().catch((error) => {
  console.error(`@frost-beta/mlx: ${error.message}`);
  console.error('This platform needs the MLX binary from GitHub; only Linux x64 installs offline.');
  process.exit(1);
});
