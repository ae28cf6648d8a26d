// JS glue for WebAssembly functions (the worker that runs function.wasm).
// This is the slot for the WASI shim; until it lands, a Wasm function is refused clearly.
import wasm from "./function.wasm";

export default {
  async fetch() {
    return Response.json(
      { error: { code: "not_supported", message: "WebAssembly functions are not supported yet" } },
      { status: 501 });
  },
};
