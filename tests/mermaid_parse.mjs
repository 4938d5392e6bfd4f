// Parse Mermaid diagrams with Mermaid's own parser (the one GitHub renders with).
// usage: node tests/mermaid_parse.mjs NODE_MODULES_PARENT < diagrams.json
// stdin: a JSON array of diagram texts; stdout: a JSON array, null or the error per diagram.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const folder = resolve(process.argv[2]);
const require = createRequire(join(folder, "package.json"));
const { JSDOM } = require("jsdom");
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;

const mermaidPackage = join(folder, "node_modules", "mermaid");
const manifest = JSON.parse(readFileSync(join(mermaidPackage, "package.json"), "utf8"));
const entry = manifest.module;
const { default: mermaid } = await import(pathToFileURL(join(mermaidPackage, entry)).href);

const diagrams = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const text of diagrams) {
  try {
    await mermaid.parse(text);
    results.push(null);
  } catch (error) {
    results.push(String(error && error.message ? error.message : error));
  }
}
process.stdout.write(JSON.stringify({ version: manifest.version, results }));
