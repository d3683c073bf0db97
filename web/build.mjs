// Build the console into generator/service/console/: index.html, app.js (one minified bundle), app.css,
// and api-routes.json (the API calls the pages make, read by the Python tests).
import { build } from "esbuild";
import { copyFile, mkdir, writeFile, rm } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { ROUTES } from "./src/api.js";

// OUT_DIR=... builds elsewhere (the tests compare such a build with the committed files).
const out = process.env.OUT_DIR
  ? pathToFileURL(`${process.env.OUT_DIR}/`)
  : new URL("../generator/service/console/", import.meta.url);
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const result = await build({
  entryPoints: { app: "src/app.js" },
  bundle: true,
  minify: process.env.MINIFY !== "0", // MINIFY=0 npm run build: readable stack traces while debugging
  format: "esm",
  target: "es2022",
  legalComments: "linked",
  outdir: out.pathname,
  metafile: true,
});
await build({ entryPoints: ["src/style.css"], bundle: true, minify: true, outfile: new URL("app.css", out).pathname });
await copyFile("src/index.html", new URL("index.html", out));
const routes = Object.entries(ROUTES).map(([name, [method, path]]) => ({ name, method, path }));
await writeFile(new URL("api-routes.json", out), JSON.stringify(routes, null, 1) + "\n");
const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
console.log(`console built into ${out.pathname} (${(bytes / 1024).toFixed(0)} KiB of JavaScript)`);
