// `make web` runs this before `npm ci`: Vite 8 needs Node.js 20.19+ or 22.12+.
const [major, minor] = process.versions.node.split(".").map(Number);
if (!((major === 20 && minor >= 19) || (major === 22 && minor >= 12) || major > 22)) {
  console.error(`error: the dashboard's build (Vite 8) needs Node.js 20.19+ or 22.12+; this is ${process.version}`);
  process.exit(1);
}
