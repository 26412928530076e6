// idle.js: run a release once a while passes without work (the worker gives the engine's kept GPU
// memory back after an idle minute). Pure timers, so it is tested without a worker.

/**
 * A timer that `idle()` arms (again) and `busy()` disarms; `release` runs once `ms` pass after the last
 * idle() with no busy() since. @param {number} ms @param {() => void} release
 * @param {{setTimeout: typeof setTimeout, clearTimeout: typeof clearTimeout}} [timers]
 */
export function idleRelease(ms, release, timers = globalThis) {
    /** @type {any} */
    let t = null;
    const busy = () => {
        if (t !== null) timers.clearTimeout(t);
        t = null;
    };
    return {
        busy,
        idle() {
            busy();
            t = timers.setTimeout(() => { t = null; release(); }, ms);
        },
    };
}
