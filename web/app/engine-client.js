// engine-client.js: the page side of worker.js. Each request gets an id; progress messages go to
// its onProgress; the promise settles with the result or rejects with an Error carrying `code`.

export class EngineClient {
    constructor() {
        this.worker = new Worker(new URL('./worker.js', import.meta.url), {type: 'module'});
        this.nextId = 1;
        /** @type {Map<number, {resolve: (v: any) => void, reject: (e: any) => void, onProgress?: (p: any) => void}>} */
        this.pending = new Map();
        this.worker.onmessage = (ev) => {
            const m = ev.data;
            const p = this.pending.get(m.id);
            if (!p) return;
            if (m.type === 'progress') {
                p.onProgress?.(m);
            } else {
                this.pending.delete(m.id);
                if (m.type === 'done') p.resolve(m.result);
                else p.reject(Object.assign(new Error(m.error.message), {code: m.error.code, status: m.error.status, model: m.model}));
            }
        };
        this.worker.onerror = (ev) => {
            // A worker that fails to start (module missing, syntax error) fails every request.
            const err = Object.assign(new Error(`the engine worker failed: ${ev.message || 'could not start'}`), {code: 'io'});
            for (const p of this.pending.values()) p.reject(err);
            this.pending.clear();
            this.broken = err;
        };
        /** @type {Error | null} */
        this.broken = null;
    }

    /**
     * @param {string} type @param {object} [payload]
     * @param {{onProgress?: (p: any) => void, transfer?: Transferable[]}} [o]
     * @returns {{id: number, promise: Promise<any>}}
     */
    request(type, payload = {}, o = {}) {
        const id = this.nextId++;
        const promise = new Promise((resolve, reject) => {
            if (this.broken) { reject(this.broken); return; }
            this.pending.set(id, {resolve, reject, onProgress: o.onProgress});
        });
        if (!this.broken) this.worker.postMessage({id, type, ...payload}, o.transfer ?? []);
        return {id, promise};
    }

    /** Shorthand: the promise of a request. @param {string} type @param {object} [payload] @param {any} [o] */
    call(type, payload, o) {
        return this.request(type, payload, o).promise;
    }

    /** @param {number} id */
    cancel(id) {
        this.worker.postMessage({type: 'cancel', target: id});
    }
}
