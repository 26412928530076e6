// session.js: keeps the photo being edited and its mask in IndexedDB, so that a reload, a crash of
// the tab or a closed window never loses them. One record per key; images are stored as ImageData
// (structured clone: exact pixels, no re-encoding). Failures are ignored: the app works without it.

const DB_NAME = 'moebius-session';
const STORE = 'session';

/** @type {Promise<IDBDatabase> | null} */
let dbPromise = null;

function db() {
    dbPromise ??= new Promise((resolve, reject) => {
        const r = indexedDB.open(DB_NAME, 1);
        r.onupgradeneeded = () => r.result.createObjectStore(STORE);
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
    });
    return dbPromise;
}

/** @param {IDBTransactionMode} mode @param {(s: IDBObjectStore) => IDBRequest} f */
async function tx(mode, f) {
    const d = await db();
    return new Promise((resolve, reject) => {
        const t = d.transaction(STORE, mode);
        const req = f(t.objectStore(STORE));
        t.oncomplete = () => resolve(req.result);
        t.onerror = t.onabort = () => reject(t.error);
    });
}

/** @param {string} key @param {any} value */
export async function save(key, value) {
    try {
        await tx('readwrite', (s) => s.put(value, key));
    } catch (e) {
        console.info('session not saved:', e);
    }
}

/** @param {string} key @returns {Promise<any>} */
export async function load(key) {
    try {
        return await tx('readonly', (s) => s.get(key));
    } catch {
        return undefined;
    }
}

export async function clear() {
    try {
        await tx('readwrite', (s) => s.clear());
    } catch { /* nothing kept */ }
}
