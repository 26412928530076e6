// editor.js: the image + mask editor (DOM). The image and the mask live at full resolution in two
// canvases stacked in a "stage" that is moved and scaled with one CSS transform (zoom/pan never
// resamples the pixels). The mask canvas is painted in one colour; its alpha is the mask (255 =
// inpaint). Pointer Events cover mouse, pen and touch: one pointer paints, two pointers pinch/pan.
//
// Events (CustomEvent on the editor): 'stroke' (a stroke ended; the mask changed), 'view' (zoom or
// pan changed), 'cancel-stroke' (a second finger turned a stroke into a pinch: restore the mask).

const MASK_RGB = [255, 48, 96];       // overlay colour (its alpha is the mask)
const MIN_SCALE = 1 / 64, MAX_SCALE = 32;

export class Editor extends EventTarget {
    /** @param {HTMLElement} viewport  the element that receives pointer input (contains #stage) */
    constructor(viewport) {
        super();
        this.viewport = viewport;
        this.stage = /** @type {HTMLElement} */ (viewport.querySelector('.stage'));
        this.imageCanvas = this.canvas('image-layer');
        this.beforeCanvas = this.canvas('before-layer');     // compare: the image before the last run
        this.originalCanvas = this.canvas('original-layer'); // hold-to-see-original
        this.growCanvas = this.canvas('grow-layer');         // dilation preview
        this.maskCanvas = this.canvas('mask-layer');
        this.previewCanvas = this.canvas('preview-layer');  // a run's per-step preview, over the hole
        this.previewCanvas.hidden = true;
        /** the engine's small preview picture, before it is upscaled */
        this.previewSmall = document.createElement('canvas');
        this.beforeCanvas.hidden = this.originalCanvas.hidden = true;
        this.divider = document.createElement('div');
        this.divider.className = 'compare-divider';
        this.divider.hidden = true;
        this.stage.appendChild(this.divider);
        this.maskCtx = /** @type {CanvasRenderingContext2D} */ (this.maskCanvas.getContext('2d', {willReadFrequently: true}));
        this.cursor = /** @type {HTMLElement} */ (viewport.querySelector('.brush-cursor'));
        this.width = 0;
        this.height = 0;
        /** @type {'brush' | 'eraser' | 'pan'} */
        this.tool = 'brush';
        this.brushSize = 40;
        this.scale = 1;
        this.tx = 0;
        this.ty = 0;
        this.enabled = true;
        this.spaceHeld = false;
        /** @type {Map<number, {x: number, y: number}>} */
        this.pointers = new Map();
        /** @type {{id: number, last: {x: number, y: number}, painted: boolean} | null} */
        this.stroke = null;
        /** @type {{startX: number, startY: number, tx: number, ty: number} | null} */
        this.panDrag = null;
        /** @type {{dist: number, cx: number, cy: number, scale: number, tx: number, ty: number} | null} */
        this.pinch = null;
        this.bindEvents();
        new ResizeObserver(() => { if (this.width && this.autoFit) this.fit(); }).observe(viewport);
        this.autoFit = true;
    }

    /** @param {string} cls */
    canvas(cls) {
        const c = document.createElement('canvas');
        c.className = `layer ${cls}`;
        c.width = c.height = 1;
        this.stage.appendChild(c);
        return c;
    }

    get hasImage() { return this.width > 0; }

    /**
     * Shows an image; resets the view when the size changes. The mask keeps its content when the
     * size is unchanged and `keepMask` is set, else it is cleared.
     * @param {ImageData} img @param {{keepMask?: boolean, original?: ImageData}} [o]
     */
    setImage(img, o = {}) {
        const sizeChanged = img.width !== this.width || img.height !== this.height;
        const mask = o.keepMask && !sizeChanged ? this.getMask() : null;
        if (sizeChanged) {
            for (const c of [this.imageCanvas, this.maskCanvas]) {
                c.width = img.width;
                c.height = img.height;
            }
            // the other layers take memory only while in use (a 24 MP layer is 96 MB)
            for (const c of [this.beforeCanvas, this.originalCanvas, this.growCanvas]) release(c);
            this.originalDrawn = false;
            this.width = img.width;
            this.height = img.height;
            this.stage.style.width = `${img.width}px`;
            this.stage.style.height = `${img.height}px`;
        }
        /** @type {CanvasRenderingContext2D} */ (this.imageCanvas.getContext('2d')).putImageData(img, 0, 0);
        if (o.original) this.setOriginal(o.original);
        if (mask) this.setMask(mask); else this.clearMask();
        if (sizeChanged) {
            this.autoFit = true;
            this.fit();
        }
        this.viewport.classList.add('has-image');
    }

    /** The original (shown while "hold to see original" is on). @param {ImageData} img */
    setOriginal(img) {
        /** @type {ImageData | null} */
        this.original = img;
        this.originalDrawn = false;  // drawn when first shown
        release(this.originalCanvas);
    }

    /** The mask: one byte per pixel, 255 = inpaint. */
    getMask() {
        const n = this.width * this.height;
        const out = new Uint8Array(n);
        if (!n) return out;
        const d = this.maskCtx.getImageData(0, 0, this.width, this.height).data;
        for (let i = 0; i < n; i++) out[i] = d[4 * i + 3];
        return out;
    }

    /** @param {Uint8Array} m */
    setMask(m) {
        if (m.length !== this.width * this.height) throw new RangeError(`mask of ${m.length} values for a ${this.width}x${this.height} image`);
        const img = new ImageData(this.width, this.height);
        const d = img.data;
        for (let i = 0; i < m.length; i++) {
            const j = 4 * i;
            d[j] = MASK_RGB[0]; d[j + 1] = MASK_RGB[1]; d[j + 2] = MASK_RGB[2]; d[j + 3] = m[i];
        }
        this.maskCtx.putImageData(img, 0, 0);
    }

    clearMask() {
        this.maskCtx.clearRect(0, 0, this.width, this.height);
    }

    /** Dilation preview: the grown area, drawn faintly under the mask (null hides it). @param {Uint8Array | null} m */
    setGrowPreview(m) {
        if (!m) { release(this.growCanvas); return; }
        const ctx = /** @type {CanvasRenderingContext2D} */ (allocate(this.growCanvas, this.width, this.height).getContext('2d'));
        ctx.clearRect(0, 0, this.width, this.height);
        const img = new ImageData(this.width, this.height);
        for (let i = 0; i < m.length; i++) {
            if (!m[i]) continue;
            const j = 4 * i;
            img.data[j] = MASK_RGB[0]; img.data[j + 1] = MASK_RGB[1]; img.data[j + 2] = MASK_RGB[2]; img.data[j + 3] = m[i];
        }
        ctx.putImageData(img, 0, 0);
    }

    /**
     * A run's preview (moebius.js Preview: a small picture of the step's estimate and the image
     * window it covers), smoothly upscaled onto that window and shown only where the mask is
     * painted, over the mask overlay. At most 512 px across, whatever the window (the picture is
     * 64 px). null hides it and frees its pixels.
     * @param {{width: number, height: number, data: Uint8ClampedArray, window: {x: number, y: number, width: number, height: number}} | null} p
     */
    setRunPreview(p) {
        const c = this.previewCanvas;
        if (!p) {
            c.hidden = true;
            release(c);
            release(this.previewSmall);
            return;
        }
        const w = p.window, k = Math.min(1, 512 / Math.max(w.width, w.height));
        const cw = Math.max(1, Math.round(w.width * k)), ch = Math.max(1, Math.round(w.height * k));
        /** @type {CanvasRenderingContext2D} */ (allocate(this.previewSmall, p.width, p.height).getContext('2d'))
            .putImageData(new ImageData(new Uint8ClampedArray(p.data), p.width, p.height), 0, 0);
        const ctx = /** @type {CanvasRenderingContext2D} */ (allocate(c, cw, ch).getContext('2d'));
        ctx.globalCompositeOperation = 'copy';
        ctx.imageSmoothingEnabled = true;
        ctx.imageSmoothingQuality = 'high';
        ctx.drawImage(this.previewSmall, 0, 0, cw, ch);
        ctx.globalCompositeOperation = 'destination-in';  // keep it where the mask's alpha is
        ctx.drawImage(this.maskCanvas, w.x, w.y, w.width, w.height, 0, 0, cw, ch);
        ctx.globalCompositeOperation = 'source-over';
        Object.assign(c.style, {left: `${w.x}px`, top: `${w.y}px`, width: `${w.width}px`, height: `${w.height}px`});
        c.hidden = false;
    }

    /** Before/after compare: the "before" image, or null to end comparing. @param {ImageData | null} img */
    setCompare(img) {
        if (img && img.width === this.width && img.height === this.height) {
            /** @type {CanvasRenderingContext2D} */ (allocate(this.beforeCanvas, this.width, this.height).getContext('2d')).putImageData(img, 0, 0);
            this.beforeCanvas.hidden = this.divider.hidden = false;
        } else {
            this.beforeCanvas.hidden = this.divider.hidden = true;
            release(this.beforeCanvas);
        }
    }

    /** Divider position of the compare view, 0..1 of the width (left of it: before). @param {number} f */
    setComparePosition(f) {
        const p = Math.max(0, Math.min(1, f)) * 100;
        this.beforeCanvas.style.clipPath = `inset(0 ${100 - p}% 0 0)`;
        this.divider.style.left = `${p}%`;
    }

    /** Hold-to-see-original. @param {boolean} on */
    showOriginal(on) {
        if (on && this.original && !this.originalDrawn) {
            /** @type {CanvasRenderingContext2D} */ (allocate(this.originalCanvas, this.width, this.height).getContext('2d')).putImageData(this.original, 0, 0);
            this.originalDrawn = true;
        }
        this.originalCanvas.hidden = !on;
        this.maskCanvas.hidden = this.growCanvas.hidden = on;
        this.viewport.classList.toggle('showing-original', on);
    }

    // ------------------------------------------------------------------ view

    applyTransform() {
        this.stage.style.transform = `translate(${this.tx}px, ${this.ty}px) scale(${this.scale})`;
        this.stage.style.setProperty('--scale', String(this.scale));
        this.stage.classList.toggle('pixelated', this.scale >= 2);
        this.updateCursorSize();
        this.dispatchEvent(new CustomEvent('view', {detail: {scale: this.scale}}));
    }

    /** Whole image in view, centred, aspect ratio kept. */
    fit() {
        if (!this.width) return;
        const r = this.viewport.getBoundingClientRect();
        const pad = 16;
        const s = Math.min((r.width - 2 * pad) / this.width, (r.height - 2 * pad) / this.height);
        this.scale = Math.max(MIN_SCALE, Math.min(MAX_SCALE, s > 0 ? s : 1));
        this.tx = (r.width - this.width * this.scale) / 2;
        this.ty = (r.height - this.height * this.scale) / 2;
        this.autoFit = true;
        this.applyTransform();
    }

    /** Zooms by `f` keeping the viewport point (vx, vy) fixed (default: the centre). */
    zoomBy(/** @type {number} */ f, /** @type {number} */ vx = NaN, /** @type {number} */ vy = NaN) {
        if (!this.width) return;
        const r = this.viewport.getBoundingClientRect();
        if (Number.isNaN(vx)) { vx = r.width / 2; vy = r.height / 2; }
        const s = Math.max(MIN_SCALE, Math.min(MAX_SCALE, this.scale * f));
        this.tx = vx - ((vx - this.tx) * s) / this.scale;
        this.ty = vy - ((vy - this.ty) * s) / this.scale;
        this.scale = s;
        this.autoFit = false;
        this.applyTransform();
    }

    /** 100 %: one image pixel per CSS pixel, centred on the view centre. */
    actualSize() { this.zoomBy(1 / this.scale); }

    /** @param {number} dx @param {number} dy */
    panBy(dx, dy) {
        this.tx += dx;
        this.ty += dy;
        this.autoFit = false;
        this.applyTransform();
    }

    /** Viewport coordinates of a pointer event. @param {PointerEvent | WheelEvent | MouseEvent} e */
    local(e) {
        const r = this.viewport.getBoundingClientRect();
        return {x: e.clientX - r.left, y: e.clientY - r.top};
    }

    /** Image coordinates of a viewport point. @param {{x: number, y: number}} p */
    toImage(p) {
        return {x: (p.x - this.tx) / this.scale, y: (p.y - this.ty) / this.scale};
    }

    // ------------------------------------------------------------------ brush

    /** @param {number} n */
    setBrushSize(n) {
        this.brushSize = Math.max(1, Math.min(2000, Math.round(n)));
        this.updateCursorSize();
    }

    updateCursorSize() {
        const d = this.brushSize * this.scale;
        this.cursor.style.width = this.cursor.style.height = `${d}px`;
    }

    /** @param {{x: number, y: number}} from @param {{x: number, y: number}} to image coordinates */
    paintSegment(from, to) {
        const ctx = this.maskCtx;
        ctx.save();
        ctx.globalCompositeOperation = this.tool === 'eraser' ? 'destination-out' : 'source-over';
        ctx.strokeStyle = ctx.fillStyle = `rgb(${MASK_RGB.join(',')})`;
        ctx.lineWidth = this.brushSize;
        ctx.lineCap = ctx.lineJoin = 'round';
        if (from.x === to.x && from.y === to.y) {
            ctx.beginPath();
            ctx.arc(to.x, to.y, this.brushSize / 2, 0, 2 * Math.PI);
            ctx.fill();
        } else {
            ctx.beginPath();
            ctx.moveTo(from.x, from.y);
            ctx.lineTo(to.x, to.y);
            ctx.stroke();
        }
        ctx.restore();
    }

    // ------------------------------------------------------------------ input

    bindEvents() {
        const vp = this.viewport;
        vp.addEventListener('pointerdown', (e) => this.onDown(e));
        vp.addEventListener('pointermove', (e) => this.onMove(e));
        vp.addEventListener('pointerup', (e) => this.onUp(e));
        vp.addEventListener('pointercancel', (e) => this.onUp(e, true));
        vp.addEventListener('pointerleave', () => { this.cursor.hidden = true; });
        vp.addEventListener('wheel', (e) => {
            if (!this.width) return;
            e.preventDefault();
            const p = this.local(e);
            const dy = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
            this.zoomBy(Math.exp(-dy * 0.0015), p.x, p.y);
        }, {passive: false});
        vp.addEventListener('contextmenu', (e) => { if (this.width) e.preventDefault(); });
    }

    /** @param {PointerEvent} e */
    onDown(e) {
        if (!this.width || !this.enabled) return;
        if (e.pointerType === 'mouse' && e.button !== 0 && e.button !== 1) return;
        vpFocus(this.viewport);
        this.viewport.setPointerCapture(e.pointerId);
        const p = this.local(e);
        this.pointers.set(e.pointerId, p);
        e.preventDefault();
        if (this.pointers.size === 2) {  // second finger: pinch/pan; a stroke in progress is undone
            if (this.stroke) {
                const painted = this.stroke.painted;
                this.stroke = null;
                if (painted) this.dispatchEvent(new CustomEvent('cancel-stroke'));
            }
            this.panDrag = null;
            const [a, b] = [...this.pointers.values()];
            this.pinch = {dist: Math.hypot(a.x - b.x, a.y - b.y), cx: (a.x + b.x) / 2, cy: (a.y + b.y) / 2,
                          scale: this.scale, tx: this.tx, ty: this.ty};
            return;
        }
        if (this.pointers.size > 2) return;
        if (this.tool === 'pan' || this.spaceHeld || e.button === 1) {
            this.panDrag = {startX: p.x, startY: p.y, tx: this.tx, ty: this.ty};
            this.viewport.classList.add('panning');
            return;
        }
        const ip = this.toImage(p);
        this.stroke = {id: e.pointerId, last: ip, painted: true};
        this.paintSegment(ip, ip);
    }

    /** @param {PointerEvent} e */
    onMove(e) {
        const p = this.local(e);
        this.moveCursor(p, e.pointerType);
        if (!this.pointers.has(e.pointerId)) return;
        this.pointers.set(e.pointerId, p);
        if (this.pinch && this.pointers.size >= 2) {
            const [a, b] = [...this.pointers.values()];
            const dist = Math.hypot(a.x - b.x, a.y - b.y), cx = (a.x + b.x) / 2, cy = (a.y + b.y) / 2;
            const pz = this.pinch;
            const s = Math.max(MIN_SCALE, Math.min(MAX_SCALE, pz.scale * (pz.dist > 0 ? dist / pz.dist : 1)));
            // keep the image point under the first centre under the current centre
            this.tx = cx - ((pz.cx - pz.tx) * s) / pz.scale;
            this.ty = cy - ((pz.cy - pz.ty) * s) / pz.scale;
            this.scale = s;
            this.autoFit = false;
            this.applyTransform();
            return;
        }
        if (this.panDrag) {
            this.tx = this.panDrag.tx + p.x - this.panDrag.startX;
            this.ty = this.panDrag.ty + p.y - this.panDrag.startY;
            this.autoFit = false;
            this.applyTransform();
            return;
        }
        if (this.stroke && this.stroke.id === e.pointerId) {
            const events = typeof e.getCoalescedEvents === 'function' ? e.getCoalescedEvents() : [];
            for (const ce of events.length ? events : [e]) {
                const ip = this.toImage(this.local(ce));
                this.paintSegment(this.stroke.last, ip);
                this.stroke.last = ip;
            }
        }
    }

    /** @param {PointerEvent} e @param {boolean} [cancelled] */
    onUp(e, cancelled = false) {
        if (!this.pointers.has(e.pointerId)) return;
        this.pointers.delete(e.pointerId);
        if (this.viewport.hasPointerCapture(e.pointerId)) this.viewport.releasePointerCapture(e.pointerId);
        if (this.pinch) {
            if (this.pointers.size < 2) this.pinch = null;
            return;
        }
        if (this.panDrag) {
            this.panDrag = null;
            this.viewport.classList.remove('panning');
            return;
        }
        if (this.stroke && this.stroke.id === e.pointerId) {
            this.stroke = null;
            this.dispatchEvent(new CustomEvent(cancelled ? 'cancel-stroke' : 'stroke'));
        }
    }

    /** @param {{x: number, y: number}} p @param {string} type */
    moveCursor(p, type) {
        const show = this.width > 0 && type !== 'touch' && (this.tool === 'brush' || this.tool === 'eraser') && !this.spaceHeld;
        this.cursor.hidden = !show;
        if (show) {
            this.cursor.style.transform = `translate(${p.x}px, ${p.y}px) translate(-50%, -50%)`;
            this.cursor.classList.toggle('eraser', this.tool === 'eraser');
        }
    }
}

/** Gives a canvas its size (clearing it). @param {HTMLCanvasElement} c @param {number} w @param {number} h */
function allocate(c, w, h) {
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
    return c;
}

/** Frees a canvas' pixels (1×1 keeps it in the layout). @param {HTMLCanvasElement} c */
function release(c) {
    if (c.width !== 1 || c.height !== 1) { c.width = 1; c.height = 1; }
}

/** Focus without scrolling the page. @param {HTMLElement} el */
function vpFocus(el) {
    if (document.activeElement !== el) el.focus({preventScroll: true});
}
