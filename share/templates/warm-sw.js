// Service-worker syntax on the warm path (share/templates/warm-loader.js).
//
// workerd's worker loader starts ES-module workers only, and a script cannot be evaluated from
// a string (no eval). So the function's script becomes a CommonJS module, worker.js, which
// workerd compiles as a function body: sloppy mode as in a script (unless it says
// "use strict"), `this` at the top is globalThis. The main module imports this shim first,
// then worker.js, so the shim catches the script's addEventListener("fetch", ...) calls; each
// request is then dispatched to those listeners as a FetchEvent, as workerd does for a
// service worker.
//
// Differences from a real script, which a function could notice: its top-level `var` and
// function declarations are local to worker.js instead of properties of globalThis, and the
// names module, exports and require are defined.
import bindings from "./oys-sw-env.json";

// A service worker's bindings are globals.
Object.assign(globalThis, bindings);

const listeners = new EventTarget();
const nativeAdd = globalThis.addEventListener;
const nativeRemove = globalThis.removeEventListener;

globalThis.addEventListener = function addEventListener(type, listener, options) {
  if (type === "fetch") return listeners.addEventListener(type, listener, options);
  return nativeAdd.call(globalThis, type, listener, options);
};
globalThis.removeEventListener = function removeEventListener(type, listener, options) {
  if (type === "fetch") return listeners.removeEventListener(type, listener, options);
  return nativeRemove.call(globalThis, type, listener, options);
};

class FetchEvent extends Event {
  #response = null;
  #ctx;
  constructor(request, ctx) {
    super("fetch", { cancelable: true });
    this.#ctx = ctx;
    Object.defineProperty(this, "request", { value: request, enumerable: true });
  }
  respondWith(response) {
    if (this.#response) throw new DOMException("respondWith() was already called", "InvalidStateError");
    this.#response = Promise.resolve(response);
  }
  waitUntil(promise) {
    this.#ctx.waitUntil(promise);
  }
  passThroughOnException() {} // there is no origin to pass through to
  get oysResponse() {
    return this.#response;
  }
}

export async function dispatch(request, ctx) {
  const event = new FetchEvent(request, ctx);
  listeners.dispatchEvent(event);
  const response = event.oysResponse;
  if (response === null) throw new Error("No event handler called respondWith() for this request.");
  return response;
}
