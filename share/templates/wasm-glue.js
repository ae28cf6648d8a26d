// JS glue for WebAssembly functions: the worker that runs function.wasm, with a WASI preview1
// shim. Embedded by share/templates/worker-wasm.capnp (oys-capnp --wasm).
//
// A function is a WASI command module (it exports _start, as clang --target=wasm32-wasi builds
// it). Each request gets a fresh instance:
//   request body        -> stdin (fd 0)
//   stdout (fd 1)       -> response body, 200; content type: application/json if the output
//                          is JSON, text/plain; charset=utf-8 if it is UTF-8 text, otherwise
//                          application/octet-stream
//   stderr (fd 2)       -> workerd's stderr, line by line (console.error)
//   argv                -> "function.wasm", then each ?arg=... query parameter, then the
//                          strings of "args" if the body is a JSON object with "args": [...]
//   environ             -> REQUEST_METHOD, PATH_INFO, QUERY_STRING, CONTENT_TYPE,
//                          CONTENT_LENGTH, then each ?env=NAME=VALUE, then the "env" object
//                          of a JSON body, then the function's own env (its bundle's
//                          settings, text bindings here; later ones win, so a request cannot
//                          change the function's own)
//   exit status != 0    -> 500 {"error": {"code": "exit_status", "exit_status": N, "stderr": tail}}
//   trap                -> 502 {"error": {"code": "wasm_trap", ...}}
//   memory at the cap   -> 502 {"error": {"code": "memory_limit", ...}}
//   imports oys lacks   -> 400 {"error": {"code": "unsupported_import", "imports": [...]}}
// Every WASI preview1 function exists; those that would reach the host (files, sockets,
// directories) answer EBADF/ENOTDIR/ENOTSOCK/ESPIPE/ENOSYS. There are no preopened directories.
import wasm from "./function.wasm";

const NAME = "function.wasm";
const PAGE = 65536;
const STDERR_LOG_MAX = 256 * 1024;   // bytes of stderr logged per request
const STDERR_TAIL = 4096;            // characters of stderr kept for an error response
const ARGS_ENV_MAX = 256 * 1024;     // bytes of argv + environ

// WASI preview1 errno values (wasi/api.h).
const E = {
  SUCCESS: 0, BADF: 8, FAULT: 21, INVAL: 28, NOSYS: 52, NOTDIR: 54, NOTSOCK: 57,
  NOTSUP: 58, SPIPE: 70,
};
const FILETYPE_UNKNOWN = 0;
const RIGHTS_FD_READ = 1n << 1n, RIGHTS_FD_WRITE = 1n << 6n, RIGHTS_POLL = 1n << 27n;
const EVENTTYPE_CLOCK = 0, EVENTTYPE_FD_READ = 1, EVENTTYPE_FD_WRITE = 2;

const WASI = "wasi_snapshot_preview1";

// proc_exit unwinds the module with this; a bad pointer with Fault (-> EFAULT).
class Exit { constructor(code) { this.code = code; } }
class Fault {}

// ---- the module, looked at once per process ----

const exportsByName = new Map(WebAssembly.Module.exports(wasm).map((x) => [x.name, x.kind]));

// The WASI shim for one run. ctx: { args, env: arrays of Uint8Array (NUL-terminated),
// stdin: Uint8Array, memory: () => WebAssembly.Memory }.
function makeWasi(ctx) {
  const open = [true, true, true];
  let stdinPos = 0;
  let lastMono = 0n;
  const out = [];
  let outLen = 0;
  const errDecoder = new TextDecoder();
  let errLine = "", errLogged = 0, errTruncated = 0, errTail = "";

  // Checked access to linear memory: every pointer from the module is bounds-checked.
  const buf = () => ctx.memory().buffer;
  function span(ptr, len) {
    ptr >>>= 0; len >>>= 0;
    const b = buf();
    if (ptr + len > b.byteLength) throw new Fault();
    return new Uint8Array(b, ptr, len);
  }
  const dv = (ptr, len) => { span(ptr, len); return new DataView(buf(), ptr >>> 0, len); };
  const getU32 = (ptr) => dv(ptr, 4).getUint32(0, true);
  const setU8 = (ptr, v) => dv(ptr, 1).setUint8(0, v);
  const setU16 = (ptr, v) => dv(ptr, 2).setUint16(0, v, true);
  const setU32 = (ptr, v) => dv(ptr, 4).setUint32(0, v >>> 0, true);
  const setU64 = (ptr, v) => dv(ptr, 8).setBigUint64(0, BigInt(v), true);
  // iovecs: [{buf u32, len u32}] at ptr, n of them.
  function iovecs(ptr, n) {
    const list = [];
    for (let i = 0; i < (n >>> 0); i++) {
      const base = (ptr >>> 0) + i * 8;
      list.push(span(getU32(base), getU32(base + 4)));
    }
    return list;
  }
  const isOpen = (fd) => fd >= 0 && fd < 3 && open[fd];
  // For calls on an fd: EBADF unless it is an open stdio fd, else `onStdio`.
  const onFd = (fd, onStdio) => (isOpen(fd) ? onStdio : E.BADF);

  function writeStderr(bytes) {
    let text = errDecoder.decode(bytes.slice(), { stream: true });   // a copy: memory may be shared
    errTail = (errTail + text).slice(-2 * STDERR_TAIL);
    if (errLogged >= STDERR_LOG_MAX) {
      errTruncated += bytes.length;
      return;
    }
    errLogged += bytes.length;
    text = errLine + text;
    const lines = text.split("\n");
    errLine = lines.pop();
    for (const line of lines) console.error(line);
    if (errLine.length > 8192) {   // a very long line is logged in pieces
      console.error(errLine);
      errLine = "";
    }
  }

  const stdioStat = (fd, ptr) => {
    span(ptr, 24).fill(0);
    setU8(ptr, FILETYPE_UNKNOWN);   // a pipe: not a tty, so stdout is fully buffered
    setU64(ptr + 8, (fd === 0 ? RIGHTS_FD_READ : RIGHTS_FD_WRITE) | RIGHTS_POLL);
    return E.SUCCESS;
  };

  function strings(list, ptrsPtr, bufPtr) {
    let p = bufPtr >>> 0;
    list.forEach((s, i) => {
      setU32((ptrsPtr >>> 0) + i * 4, p);
      span(p, s.length).set(s);
      p += s.length;
    });
    return E.SUCCESS;
  }
  const sizes = (list, countPtr, sizePtr) => {
    setU32(countPtr, list.length);
    setU32(sizePtr, list.reduce((n, s) => n + s.length, 0));
    return E.SUCCESS;
  };

  // Nanoseconds on clock `id`, or null for an unknown clock. workerd's clocks advance in whole
  // milliseconds; the CPU-time clocks are the monotonic one, which never goes backwards.
  function now(id) {
    if (id === 0) return BigInt(Date.now()) * 1000000n;
    if (id >= 1 && id <= 3) {
      const t = BigInt(Math.round(performance.now() * 1e6));
      if (t > lastMono) lastMono = t;
      return lastMono;
    }
    return null;
  }

  const fns = {
    args_get: (argv, argvBuf) => strings(ctx.args, argv, argvBuf),
    args_sizes_get: (countPtr, sizePtr) => sizes(ctx.args, countPtr, sizePtr),
    environ_get: (environ, environBuf) => strings(ctx.env, environ, environBuf),
    environ_sizes_get: (countPtr, sizePtr) => sizes(ctx.env, countPtr, sizePtr),

    clock_res_get(id, resPtr) {
      if (now(id) === null) return E.INVAL;
      setU64(resPtr, 1000000n);
      return E.SUCCESS;
    },
    clock_time_get(id, _precision, timePtr) {
      const t = now(id);
      if (t === null) return E.INVAL;
      setU64(timePtr, t);
      return E.SUCCESS;
    },

    fd_read(fd, iovs, iovsLen, nreadPtr) {
      if (fd !== 0 || !open[0]) return E.BADF;
      let n = 0;
      for (const v of iovecs(iovs, iovsLen)) {
        const chunk = ctx.stdin.subarray(stdinPos, stdinPos + v.length);
        v.set(chunk);
        stdinPos += chunk.length;
        n += chunk.length;
        if (chunk.length < v.length) break;
      }
      setU32(nreadPtr, n);
      return E.SUCCESS;
    },
    fd_write(fd, iovs, iovsLen, nwrittenPtr) {
      if ((fd !== 1 && fd !== 2) || !open[fd]) return E.BADF;
      let n = 0;
      for (const v of iovecs(iovs, iovsLen)) {
        if (v.length === 0) continue;
        if (fd === 1) {
          out.push(v.slice());
          outLen += v.length;
        } else {
          writeStderr(v);
        }
        n += v.length;
      }
      setU32(nwrittenPtr, n);
      return E.SUCCESS;
    },
    fd_close(fd) {
      if (!isOpen(fd)) return E.BADF;
      open[fd] = false;
      return E.SUCCESS;
    },
    fd_fdstat_get: (fd, ptr) => (isOpen(fd) ? stdioStat(fd, ptr) : E.BADF),
    fd_filestat_get(fd, ptr) {
      if (!isOpen(fd)) return E.BADF;
      span(ptr, 64).fill(0);          // dev, ino, filetype (unknown), nlink, size, times
      return E.SUCCESS;
    },
    fd_seek: (fd, _offset, _whence, _newOffsetPtr) => onFd(fd, E.SPIPE),
    fd_tell: (fd, _offsetPtr) => onFd(fd, E.SPIPE),
    fd_pread: (fd) => onFd(fd, E.SPIPE),
    fd_pwrite: (fd) => onFd(fd, E.SPIPE),
    fd_advise: (fd) => onFd(fd, E.SPIPE),
    fd_allocate: (fd) => onFd(fd, E.SPIPE),
    fd_datasync: (fd) => onFd(fd, E.INVAL),
    fd_sync: (fd) => onFd(fd, E.INVAL),
    fd_fdstat_set_flags: (fd) => onFd(fd, E.NOTSUP),
    fd_fdstat_set_rights: (fd) => onFd(fd, E.NOTSUP),
    fd_filestat_set_size: (fd) => onFd(fd, E.INVAL),
    fd_filestat_set_times: (fd) => onFd(fd, E.NOTSUP),
    fd_readdir: (fd) => onFd(fd, E.NOTDIR),
    fd_renumber: (fd, to) => (isOpen(fd) && isOpen(to) ? E.NOTSUP : E.BADF),
    // No preopened directories: wasi-libc stops looking at the first EBADF, and every path
    // call then has no directory to start from.
    fd_prestat_get: (_fd, _ptr) => E.BADF,
    fd_prestat_dir_name: (_fd, _path, _len) => E.BADF,
    path_create_directory: (fd) => onFd(fd, E.NOTDIR),
    path_filestat_get: (fd) => onFd(fd, E.NOTDIR),
    path_filestat_set_times: (fd) => onFd(fd, E.NOTDIR),
    path_link: (fd) => onFd(fd, E.NOTDIR),
    path_open: (fd) => onFd(fd, E.NOTDIR),
    path_readlink: (fd) => onFd(fd, E.NOTDIR),
    path_remove_directory: (fd) => onFd(fd, E.NOTDIR),
    path_rename: (fd) => onFd(fd, E.NOTDIR),
    path_symlink: (_old, _oldLen, fd) => onFd(fd, E.NOTDIR),
    path_unlink_file: (fd) => onFd(fd, E.NOTDIR),

    // Clock subscriptions fire at once (the glue cannot block without burning CPU, so
    // sleep() returns at once); stdin is always readable, stdout and stderr always writable.
    poll_oneoff(inPtr, outPtr, nsubs, neventsPtr) {
      nsubs >>>= 0;
      if (nsubs === 0) return E.INVAL;
      for (let i = 0; i < nsubs; i++) {
        const s = (inPtr >>> 0) + i * 48, ev = (outPtr >>> 0) + i * 32;
        const sub = dv(s, 48), tag = sub.getUint8(8);
        span(ev, 32).fill(0);
        dv(ev, 8).setBigUint64(0, sub.getBigUint64(0, true), true);   // userdata
        setU8(ev + 10, tag);
        if (tag === EVENTTYPE_CLOCK) {
          if (now(sub.getUint32(16, true)) === null) setU16(ev + 8, E.INVAL);
        } else if (tag === EVENTTYPE_FD_READ || tag === EVENTTYPE_FD_WRITE) {
          const fd = sub.getUint32(16, true);
          if (tag === EVENTTYPE_FD_READ ? fd === 0 && open[0] : (fd === 1 || fd === 2) && open[fd])
            setU64(ev + 16, tag === EVENTTYPE_FD_READ ? ctx.stdin.length - stdinPos : 0);
          else
            setU16(ev + 8, E.BADF);
        } else {
          setU16(ev + 8, E.INVAL);
        }
      }
      setU32(neventsPtr, nsubs);
      return E.SUCCESS;
    },
    proc_exit(code) { throw new Exit(code >>> 0); },
    proc_raise: (_sig) => E.NOSYS,
    sched_yield: () => E.SUCCESS,
    random_get(ptr, len) {
      const dst = span(ptr, len);
      for (let i = 0; i < dst.length; i += 65536)   // getRandomValues takes 64 KiB at most
        crypto.getRandomValues(dst.subarray(i, i + 65536));
      return E.SUCCESS;
    },

    sock_accept: (fd) => onFd(fd, E.NOTSOCK),
    sock_recv: (fd) => onFd(fd, E.NOTSOCK),
    sock_send: (fd) => onFd(fd, E.NOTSOCK),
    sock_shutdown: (fd) => onFd(fd, E.NOTSOCK),
  };

  // A bad pointer is EFAULT for the module, never a crash of the glue.
  const imports = {};
  for (const [name, fn] of Object.entries(fns)) {
    imports[name] = (...a) => {
      try {
        return fn(...a);
      } catch (err) {
        if (err instanceof Fault) return E.FAULT;
        throw err;
      }
    };
  }
  return {
    imports,
    stdout() {
      const all = new Uint8Array(outLen);
      let p = 0;
      for (const c of out) { all.set(c, p); p += c.length; }
      return all;
    },
    // Logs what is left of stderr; returns its tail for an error response.
    finish() {
      const rest = errLine + errDecoder.decode();
      if (rest && errLogged < STDERR_LOG_MAX) console.error(rest);
      if (errTruncated) console.error(`[${NAME}: ${errTruncated} more bytes of stderr not logged]`);
      return (errTail + errDecoder.decode()).slice(-STDERR_TAIL);
    },
  };
}

// ---- what the module needs, checked once ----

// Every WASI preview1 function (the shim has them all).
const provided = new Set(Object.keys(makeWasi({ args: [], env: [], stdin: new Uint8Array(0),
  memory: () => null }).imports));
const unsupported = WebAssembly.Module.imports(wasm)
  .filter((i) => !(i.module === WASI && i.kind === "function" && provided.has(i.name)))
  .map((i) => `${i.module}.${i.name}` + (i.kind === "function" ? "" : ` (${i.kind})`));
const usesWasi = WebAssembly.Module.imports(wasm).length > 0;

// ---- a request ----

function failure(status, code, message, extra = {}) {
  return Response.json({ error: { code, message, stage: "function", ...extra } }, { status });
}

const utf8 = new TextEncoder();
const cstr = (s) => {
  const b = utf8.encode(s + "\0");
  return b.indexOf(0) === b.length - 1 ? b : null;
};

// argv and environ from the request (see the top of this file); a string (or null) on error.
function argsAndEnv(request, body, ctx, bindings) {
  const url = new URL(request.url);
  const args = [NAME, ...url.searchParams.getAll("arg")];
  const env = new Map([
    ["REQUEST_METHOD", request.method],
    ["PATH_INFO", url.pathname],
    ["QUERY_STRING", url.search.slice(1)],
    ["CONTENT_TYPE", request.headers.get("content-type") ?? ""],
    ["CONTENT_LENGTH", String(body.length)],
  ]);
  for (const kv of url.searchParams.getAll("env")) {
    const eq = kv.indexOf("=");
    if (eq < 1) return `query parameter env=${JSON.stringify(kv)} is not NAME=VALUE`;
    env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  // A JSON object body may carry "args" (strings) and "env" (string values): the input of
  // POST /api/serverless. Anything else in those fields is left alone.
  let j = body.length > 0 && body.length <= 1 << 20 && body[0] === 0x7b ? body : null;
  if (j) {
    try { j = JSON.parse(new TextDecoder().decode(j)); } catch { j = null; }
  }
  if (j && Array.isArray(j.args) && j.args.every((a) => typeof a === "string"))
    args.push(...j.args);
  if (j && j.env && typeof j.env === "object" && !Array.isArray(j.env) &&
      Object.values(j.env).every((v) => typeof v === "string")) {
    for (const [k, v] of Object.entries(j.env)) {
      if (k === "" || k.includes("=")) return `env name ${JSON.stringify(k)} is empty or has '='`;
      env.set(k, v);
    }
  }
  for (const [k, v] of Object.entries(bindings ?? {}))
    if (k !== "OYS_WASM_MEMORY" && typeof v === "string") env.set(k, v);
  ctx.args = args.map(cstr);
  ctx.env = [...env].map(([k, v]) => cstr(`${k}=${v}`));
  if (ctx.args.includes(null) || ctx.env.includes(null)) return "an argument or environment value contains NUL";
  if ([...ctx.args, ...ctx.env].reduce((n, s) => n + s.length, 0) > ARGS_ENV_MAX)
    return `arguments and environment exceed ${ARGS_ENV_MAX} bytes`;
  return null;
}

function contentType(bytes) {
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return "application/octet-stream";
  }
  const t = text.trim();
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      JSON.parse(t);
      return "application/json";
    } catch { /* text */ }
  }
  return "text/plain; charset=utf-8";
}

// The memory cap in bytes, from the same V8 flag that enforces it (binding OYS_WASM_MEMORY,
// see worker-wasm.capnp); 0 when unknown.
function memoryCap(env) {
  const m = /--wasm-max-mem-pages=(\d+)/.exec(env?.OYS_WASM_MEMORY ?? "");
  return m ? Number(m[1]) * PAGE : 0;
}

let unfreed = 0;   // bytes of linear memory of finished runs, not yet collected
const mib = (n) => `${Math.round((n / 1048576) * 10) / 10} MiB`;

export default {
  async fetch(request, env) {
    if (unsupported.length > 0)
      return failure(400, "unsupported_import",
        `${NAME} imports ${unsupported.join(", ")}, which oys does not provide ` +
        `(it gives WASI preview1 functions, ${WASI}.*, and nothing else)`,
        { imports: unsupported });
    if (exportsByName.get("_start") !== "function")
      return failure(400, "not_a_command",
        `${NAME} exports no _start function: oys runs WASI command modules ` +
        `(build with clang --target=wasm32-wasi, without -mexec-model=reactor)`);
    if (usesWasi && exportsByName.get("memory") !== "memory")
      return failure(400, "not_a_command", `${NAME} imports WASI functions but exports no memory`);

    const body = new Uint8Array(await request.arrayBuffer());
    const ctx = { stdin: body, memory: () => instance.exports.memory };
    const bad = argsAndEnv(request, body, ctx, env);
    if (bad) return failure(400, "bad_request", bad);

    // V8 frees the linear memory of a finished run only at a full GC, which memory pressure
    // outside its heap does not trigger: a process that serves more requests (oys never
    // does; bare workerd may) collects once finished runs hold more than 32 MiB.
    if (unfreed > 32 * 1048576 && globalThis.gc) {
      globalThis.gc();
      unfreed = 0;
    }
    const cap = memoryCap(env);
    const wasi = makeWasi(ctx);
    let instance;
    try {
      instance = new WebAssembly.Instance(wasm, { [WASI]: wasi.imports });
    } catch (err) {
      if (err instanceof RangeError)
        return failure(502, "memory_limit",
          `${NAME} cannot get its initial memory` + (cap ? ` (the cap is ${mib(cap)})` : "") +
          `: ${err.message}`,
          { memory_limit_bytes: cap || undefined });
      return failure(400, "bad_module", `${NAME} cannot be instantiated: ${err.message}`);
    }

    let status = 0, trap = null;
    try {
      instance.exports._start();
    } catch (err) {
      if (err instanceof Exit) status = err.code;
      else trap = err;
    }
    const stderr = wasi.finish();
    const memory = instance.exports.memory?.buffer.byteLength ?? 0;
    unfreed += memory;
    if (status === 0 && trap === null) {
      const out = wasi.stdout();
      return new Response(out, { status: 200, headers: { "content-type": contentType(out) } });
    }

    const what = trap === null ? `exited with status ${status}` : `trapped: ${trap.message || trap}`;
    const extra = {
      ...(trap === null ? { exit_status: status } : {}),
      stderr,
      memory_bytes: memory,
      ...(cap ? { memory_limit_bytes: cap } : {}),
    };
    if (trap !== null && !(trap instanceof WebAssembly.RuntimeError || trap instanceof RangeError)) {
      console.error(`${NAME}: glue error: ${trap.stack || trap}`);
      return failure(500, "internal_error", `${NAME}: the WASI shim failed: ${trap.message || trap}`, extra);
    }
    // The glue cannot see a failed memory.grow: a run that fails with its linear memory
    // within 10% of the cap is reported as having hit the cap.
    if (cap && memory >= cap * 0.9)
      return failure(502, "memory_limit",
        `${NAME} ${what} with its linear memory at ${mib(memory)} of the ${mib(cap)} cap`, extra);
    if (trap !== null) return failure(502, "wasm_trap", `${NAME} ${what}`, extra);
    return failure(500, "exit_status", `${NAME} ${what}`, extra);
  },
};
