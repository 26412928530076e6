// history.js: undo/redo over editor snapshots (DOM-free). Each entry is a whole state (the editor
// stores {image version, RLE mask}), so undo/redo is "show that state", never "reverse an edit".
// Old entries are dropped when the entries together pass a byte budget (the current one stays).

/** @template T */
export class History {
    /**
     * @param {{maxEntries?: number, maxBytes?: number, sizeOf?: (s: T) => number}} [o]
     *   sizeOf: bytes an entry holds (default 0: only maxEntries limits)
     */
    constructor(o = {}) {
        this.maxEntries = o.maxEntries ?? 200;
        this.maxBytes = o.maxBytes ?? Infinity;
        this.sizeOf = o.sizeOf ?? (() => 0);
        /** @type {T[]} */
        this.entries = [];
        this.index = -1;
        this.bytes = 0;
    }

    /** Starts over with one state (nothing to undo). @param {T} state */
    reset(state) {
        this.entries = [state];
        this.index = 0;
        this.bytes = this.sizeOf(state);
    }

    /** The state shown now, or undefined before reset(). */
    get current() { return this.entries[this.index]; }
    get canUndo() { return this.index > 0; }
    get canRedo() { return this.index >= 0 && this.index < this.entries.length - 1; }
    /** Undo steps available. */
    get depth() { return Math.max(0, this.index); }

    /** Records a new state after the current one; the redo branch is discarded. @param {T} state */
    push(state) {
        if (this.index < 0) { this.reset(state); return; }
        for (const s of this.entries.splice(this.index + 1)) this.bytes -= this.sizeOf(s);
        this.entries.push(state);
        this.bytes += this.sizeOf(state);
        this.index = this.entries.length - 1;
        while (this.entries.length > 1 && (this.entries.length > this.maxEntries || this.bytes > this.maxBytes)) {
            const s = /** @type {T} */ (this.entries.shift());
            this.bytes -= this.sizeOf(s);
            this.index--;
        }
    }

    /** Steps back; returns the state to show, or null when there is nothing to undo. */
    undo() {
        if (!this.canUndo) return null;
        this.index--;
        return this.entries[this.index];
    }

    /** Steps forward again; returns the state to show, or null. */
    redo() {
        if (!this.canRedo) return null;
        this.index++;
        return this.entries[this.index];
    }
}
