// engine.js: where the engine lives, relative to the app. In the repository the app is web/app/ and
// the engine web/js/moebius.js + build/wasm/; scripts/build-web.sh writes its own engine.js into
// web/dist/ for the assembled site's layout. Everything else imports the engine through this file.
export * from '../js/moebius.js';
/** The emscripten glue (ES module) of the WebAssembly build; moebius.wasm sits next to it. */
export const GLUE_URL = new URL('../../build/wasm/moebius.js', import.meta.url);
/** The pthreads build (CPU engine on all cores; needs a cross-origin-isolated page). */
export const GLUE_MT_URL = new URL('../../build/wasm/moebius-mt.js', import.meta.url);
