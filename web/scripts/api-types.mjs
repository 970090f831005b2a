// src/api-types.ts from the API's OpenAPI document (docs/openapi.json, which
// a drift test keeps equal to what GET /openapi.json serves), by
// openapi-typescript (pinned in package.json). `npm run types` writes it;
// `npm run check:types` (the first step of `npm run build`) fails when the
// committed file is not what the document generates.
import { readFileSync, writeFileSync } from "node:fs";
import openapiTS, { COMMENT_HEADER, astToString } from "openapi-typescript";

const DOCUMENT = new URL("../../docs/openapi.json", import.meta.url);
const OUTPUT = new URL("../src/api-types.ts", import.meta.url);
const REGENERATE = "`make generated` (or `npm run types` in web/)";

const HEADER = `${COMMENT_HEADER}// From docs/openapi.json: regenerate with ${REGENERATE}.\n\n`;

const ast = await openapiTS(DOCUMENT, {
  // A free-form JSON object (Metadata, an org's settings) is
  // Record<string, unknown>, not Record<string, never>.
  emptyObjectsUnknown: true,
  // Each enum's values as an array too (messageRoleValues...), so the
  // dashboard lists them in the API's order without a copy of its own.
  enumValues: true,
  silent: true,
});
const generated = HEADER + astToString(ast);

if (process.argv.includes("--check")) {
  let committed = "";
  try {
    committed = readFileSync(OUTPUT, "utf8");
  } catch {
    // Missing: as stale as can be.
  }
  if (committed !== generated) {
    console.error(`web/src/api-types.ts is not what docs/openapi.json generates: run ${REGENERATE} and commit it.`);
    process.exit(1);
  }
} else {
  writeFileSync(OUTPUT, generated);
}
