#!/usr/bin/env node
// Generates the dashboard's API client types from the API's OpenAPI document, and a static
// description of the mesh (topology.yaml's services, uses and talks_to) for the cluster page.
//
// The OpenAPI document comes from the Python app itself (create_app().openapi(), no server
// needed), or from --from FILE|URL (for a build without the Python environment).
// Outputs (build products, gitignored): src/api/openapi.json, src/api/schema.d.ts,
// src/api/topology.json.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";

const here = path.dirname(fileURLToPath(import.meta.url));
const app = path.resolve(here, "..");
const root = path.resolve(app, "..");
const out = path.join(app, "src", "api");

function usage(code) {
  console.log(`usage: node scripts/gen-api.mjs [--from FILE|URL]

Writes src/api/openapi.json, src/api/schema.d.ts and src/api/topology.json.
Without --from, the document is dumped from services.api.app.create_app() with the
project's Python (COBOL_PYTHON, else ../.venv/bin/python, else python3).`);
  process.exit(code);
}

const args = process.argv.slice(2);
let from = null;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--help" || args[i] === "-h") usage(0);
  else if (args[i] === "--from" && args[i + 1]) from = args[++i];
  else { console.error(`gen-api: unknown argument ${args[i]}`); usage(2); }
}

function python() {
  if (process.env.COBOL_PYTHON) return process.env.COBOL_PYTHON;
  const venv = path.join(root, ".venv", "bin", "python");
  return existsSync(venv) ? venv : "python3";
}

function runPython(code) {
  const env = {
    ...process.env,
    PYTHONPATH: [root, path.join(root, "libs", "mesh"), path.join(root, "libs", "codec"), process.env.PYTHONPATH]
      .filter(Boolean).join(path.delimiter),
    // importing the app must not need a secret or a database: nothing is started
    COBOL_LOG_LEVEL: process.env.COBOL_LOG_LEVEL || "WARNING",
  };
  return execFileSync(python(), ["-c", code], { cwd: root, env, encoding: "utf8", maxBuffer: 64 << 20,
                                                 stdio: ["ignore", "pipe", "inherit"] });
}

async function loadSpec() {
  if (!from) {
    return JSON.parse(runPython(
      "import json, sys\nfrom services.api.app import create_app\n"
      + "sys.stdout.write(json.dumps(create_app().openapi()))"));
  }
  if (/^https?:\/\//.test(from)) {
    const r = await fetch(from);
    if (!r.ok) throw new Error(`gen-api: ${from} answered ${r.status}`);
    return await r.json();
  }
  return JSON.parse(readFileSync(from, "utf8"));
}

function loadTopology() {
  const code = `import json, sys
from cobol_mesh.topology import load
t = load()
json.dump({"services": [{"name": s.name, "instances": s.instances, "uses": list(s.uses),
                         "talks_to": list(s.talks_to)} for s in t.services.values()],
           "infra": sorted(t.infra)}, sys.stdout)`;
  try {
    return JSON.parse(runPython(code));
  } catch (err) {
    console.warn(`gen-api: no topology description (${err.message.split("\n")[0]}); the cluster page shows none`);
    return { services: [], infra: [] };
  }
}

const spec = await loadSpec();
if (!spec || typeof spec !== "object" || !spec.paths) throw new Error("gen-api: not an OpenAPI document (no paths)");
mkdirSync(out, { recursive: true });
writeFileSync(path.join(out, "openapi.json"), JSON.stringify(spec, null, 1));
// What the app needs to know at first paint about what the server offers (paths, methods,
// query parameters, body fields and their enums), so that no request has to wait for the
// full document; the app still reads /api/openapi.json at run time and uses that when it comes.
function offered(doc) {
  const paths = {};
  for (const [p, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      const entry = {};
      const params = (op.parameters ?? []).filter((x) => x && x.name).map((x) => ({ name: x.name, in: x.in }));
      if (params.length) entry.parameters = params;
      const content = {};
      for (const [media, body] of Object.entries(op.requestBody?.content ?? {})) {
        let schema = body.schema ?? {};
        if (schema.$ref) schema = schema.$ref.split("/").slice(1).reduce((o, k) => o?.[k], doc) ?? {};
        const properties = {};
        for (const [name, prop] of Object.entries(schema.properties ?? {})) {
          properties[name] = Array.isArray(prop.enum) ? { enum: prop.enum } : {};
        }
        content[media] = { schema: { properties } };
      }
      if (Object.keys(content).length) entry.requestBody = { content };
      (paths[p] ??= {})[method] = entry;
    }
  }
  return { info: { title: doc.info?.title, version: doc.info?.version }, paths };
}
writeFileSync(path.join(out, "offered.json"), JSON.stringify(offered(spec)));
const ast = await openapiTS(spec);
writeFileSync(path.join(out, "schema.d.ts"),
  "// Generated by scripts/gen-api.mjs from the API's OpenAPI document. Do not edit.\n" + astToString(ast));
writeFileSync(path.join(out, "topology.json"), JSON.stringify(loadTopology(), null, 1));
console.log(`gen-api: ${Object.keys(spec.paths).length} paths (OpenAPI ${spec.openapi}, ${spec.info?.title} ${spec.info?.version}) -> src/api/schema.d.ts`);
