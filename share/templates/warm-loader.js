// The platform loader of a warm sandbox (oys-warm, share/templates/warm-loader.capnp).
//
// A warm sandbox is a workerd process started before any request, with this worker and no
// function. It serves at most three requests in its life, in this order, then oys kills it:
//
//   1. the readiness probe (oys-warm): any request with "X-Oys-Loader: ready" -> 204. Nothing
//      of a function is loaded for it.
//   2. the load (the request's oys): a POST with "X-Oys-Loader: load N"; its body is N bytes of
//      JSON, then the bytes of each module in the order the JSON lists them:
//        {"token": "<32 hex>", "kind": "module" | "service-worker" | "wasm", "main": NAME,
//         "compatibility_date": "YYYY-MM-DD", "compatibility_flags": [...],
//         "env": {"NAME": "text", ...}, "modules": [{"name", "type", "size"}, ...]}
//      with type js, cjs, text, data, json or wasm. -> 204, or 400 for a load this loader
//      cannot read (then the sandbox is spent all the same).
//   3. the function's request, exactly as the function is to see it (method, URL, headers,
//      body): the function is started in a fresh isolate through workerd's worker loader, the
//      request passed to it unchanged, its response returned unchanged. If the function does
//      not start (a syntax error, a module that cannot be instantiated, a refused date or
//      flag), the answer is 500 with "X-Oys-Loader: <token>" and a JSON body
//      {"error": "compile_error", "message": "Uncaught SyntaxError: ...\n  at worker.js:2:32"}:
//      the token came with the load and the function never sees it, so it cannot forge this.
//      If the function throws, the answer is what workerd answers on the cold path for a
//      worker that throws (500 "Internal Server Error"), and workerd logs the exception.
//
// What the function gets: its modules, its compatibility date and flags (never experimental or
// unsafe ones: refused here as in oys), its env bindings as text, and as global outbound this
// sandbox's network (the OUTBOUND binding; absent for policy none, and then null: no network at
// all). Nothing of the loader: not LOADER, none of the loader's bindings (but the Wasm memory
// cap OYS_WASM_MEMORY, which the Wasm glue reads, as on the cold path).
import wasmGlue from "oys:wasm-glue";
import swShim from "oys:sw-shim";

const MAX_JSON = 1 << 20;
const TYPES = new Set(["js", "cjs", "text", "data", "json", "wasm"]);
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.\/-]{0,127}$/;

// The service-worker syntax (see share/templates/warm-sw.js): the script becomes the CommonJS
// module worker.js, evaluated after the shim that catches its addEventListener("fetch", ...).
const SW_MAIN = `import { dispatch } from "./oys-sw-shim.js";
import "./worker.js";
export default { fetch: (request, env, ctx) => dispatch(request, ctx) };
`;

let state = "idle"; // idle -> loaded -> used, never back
let fn = null;      // what the load brought: { token, refused, code }

function refuse(status, message) {
  return new Response(message + "\n", { status, headers: { "content-type": "text/plain" } });
}

function startFailure(token, err) {
  let message = String(err?.message ?? err);
  if (message.startsWith("Failed to start Worker:")) message = message.slice(23).trim();
  return new Response(JSON.stringify({ error: "compile_error", message }), {
    status: 500,
    headers: { "content-type": "application/json", "x-oys-loader": token },
  });
}

function badFlag(flags) {
  return flags.find((f) => typeof f !== "string" || f === "experimental" || f.startsWith("unsafe"));
}

async function load(request, env, jsonLength) {
  state = "used"; // one load, whatever becomes of it
  const all = new Uint8Array(await request.arrayBuffer());
  if (!(jsonLength > 0 && jsonLength <= all.length && jsonLength <= MAX_JSON))
    return refuse(400, "load: bad JSON length");
  let meta;
  try {
    meta = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(all.subarray(0, jsonLength)));
  } catch (err) {
    return refuse(400, `load: bad JSON: ${err.message}`);
  }
  const { token, kind, main, modules: list } = meta ?? {};
  const flags = meta?.compatibility_flags ?? [];
  const vars = meta?.env ?? {};
  if (typeof token !== "string" || !/^[0-9a-f]{32}$/.test(token)) return refuse(400, "load: bad token");
  if (!["module", "service-worker", "wasm"].includes(kind)) return refuse(400, "load: bad kind");
  if (!Array.isArray(list) || list.length === 0 || !Array.isArray(flags) || typeof vars !== "object" ||
      vars === null || !Object.values(vars).every((v) => typeof v === "string"))
    return refuse(400, "load: bad modules, flags or env");

  const modules = {};
  const text = new TextDecoder();
  let off = jsonLength;
  for (const m of list) {
    if (!NAME.test(m?.name ?? "") || m.name.startsWith("oys-") || !TYPES.has(m.type) ||
        !Number.isSafeInteger(m.size) || m.size < 0 || off + m.size > all.length || m.name in modules)
      return refuse(400, `load: bad module ${JSON.stringify(m?.name)}`);
    const bytes = all.slice(off, off + m.size);
    off += m.size;
    if (m.type === "data" || m.type === "wasm") {
      modules[m.name] = { [m.type]: bytes };
    } else if (m.type !== "json") {
      modules[m.name] = { [m.type]: text.decode(bytes) };
    } else {
      try {
        modules[m.name] = { json: JSON.parse(text.decode(bytes)) };
      } catch (err) {
        return refuse(400, `load: module ${m.name}: ${err.message}`);
      }
    }
  }
  if (off !== all.length) return refuse(400, "load: module sizes do not add up");
  if (typeof main !== "string" || !(main in modules)) return refuse(400, "load: no main module");

  let mainModule = main, fnEnv = { ...vars };
  if (kind === "wasm") {
    // The function is the Wasm module; the worker is the glue, as on the cold path.
    if (main !== "function.wasm" || !modules[main].wasm || "glue.js" in modules)
      return refuse(400, "load: a Wasm function is function.wasm, run by the platform's glue.js");
    modules["glue.js"] = { js: wasmGlue };
    mainModule = "glue.js";
    fnEnv.OYS_WASM_MEMORY = env.OYS_WASM_MEMORY;
  } else if (kind === "service-worker") {
    const script = modules[main].js ?? modules[main].cjs;
    if (main !== "worker.js" || script === undefined)
      return refuse(400, "load: a service worker is the script worker.js");
    modules[main] = { cjs: script };
    modules["oys-sw-shim.js"] = { js: swShim };
    modules["oys-sw-env.json"] = { json: fnEnv };
    modules["oys-sw.js"] = { js: SW_MAIN };
    mainModule = "oys-sw.js";
    fnEnv = {}; // a service worker's bindings are globals: the shim sets them
  }

  // The worker itself is made when the function's request comes: what the worker loader
  // returns belongs to the request it was made in.
  fn = {
    token,
    refused: badFlag(flags),
    code: {
      compatibilityDate: meta.compatibility_date,
      compatibilityFlags: flags,
      mainModule,
      modules,
      env: fnEnv,
      globalOutbound: env.OUTBOUND ?? null,
    },
  };
  state = "loaded";
  return new Response(null, { status: 204 });
}

async function run(request, env) {
  const { token, refused, code } = fn;
  fn = null;
  if (refused !== undefined) return startFailure(token, `compatibility flag '${refused}' is not allowed for functions`);
  let worker;
  try {
    worker = env.LOADER.load(code);
  } catch (err) {
    return startFailure(token, err); // a bad date or flag
  }
  try {
    return await worker.getEntrypoint().fetch(request);
  } catch (err) {
    if (String(err?.message).startsWith("Failed to start Worker:")) return startFailure(token, err);
    // The function threw, and workerd has logged it: answer as workerd answers on the cold
    // path for a worker that throws, byte for byte.
    return new Response(new TextEncoder().encode("Internal Server Error"), { status: 500 });
  }
}

export default {
  async fetch(request, env) {
    if (state === "loaded") {
      state = "used";
      return run(request, env);
    }
    const what = request.headers.get("x-oys-loader") ?? "";
    if (state === "idle" && what === "ready") return new Response(null, { status: 204 });
    if (state === "idle" && request.method === "POST" && /^load [0-9]{1,8}$/.test(what))
      return load(request, env, Number(what.slice(5)));
    return refuse(503, "this sandbox serves one function, once");
  },
};
