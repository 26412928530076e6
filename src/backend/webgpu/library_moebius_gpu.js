// library_moebius_gpu.js: the emscripten --js-library behind the C++ WebGPU backend
// (webgpu_backend.cpp). Each mgpu_* function forwards one Backend call to the GpuBridge and the
// op launchers (bridge.js, ops.js) that the JS driver put on the module before making the backend:
//   Module.moebiusGpu = {g: await GpuBridge.create(gpu, {preferF16}), ops}
// Nothing here waits for the GPU: ops only record dispatches; the driver awaits g.sync() / reads
// between wasm calls.
//
// Return convention (the C side turns failures into moebius::Error): > 0 an id or 1 = ok;
// -2 out of memory or beyond a device limit, -3 device lost, -1 anything else. The JS error is
// kept in Module.moebiusGpu.lastError (the driver classifies it) and its message is what
// mgpu_error_message copies out. JS exceptions never cross into C++.

var LibraryMoebiusGpu = {
    $MGPU: {
        lastError: null,
        // Runs f(g, ops) on the bridge; maps a thrown error to the return code above.
        run: function(f) {
            var m = Module['moebiusGpu'];
            try {
                if (!m || !m['g'] || !m['ops']) {
                    throw new Error('Module.moebiusGpu = {g, ops} is not set: create the GpuBridge first');
                }
                var r = f(m['g'], m['ops']);
                return r === undefined ? 1 : r;
            } catch (e) {
                MGPU.lastError = e;
                if (m) m['lastError'] = e;
                var kind = e && e['kind'];
                if (kind === 'out-of-memory' || kind === 'limit') return -2;
                if (kind === 'device-lost') return -3;
                return -1;
            }
        },
        // Optional input id: 0 = absent.
        opt: function(id) { return id ? id : null; },
    },

    mgpu_init__deps: ['$MGPU'],
    mgpu_init: function(f16) {
        return MGPU.run(function(g) {
            var want = f16 ? 'f16' : 'f32';
            if (g['dtype'] !== want) {
                throw new Error('the bridge stores ' + g['dtype'] + ' tensors but the backend was asked for ' + want +
                                (f16 ? ' (no shader-f16 on this adapter, or preferF16 off)' : ''));
            }
        });
    },

    mgpu_tensor__deps: ['$MGPU'],
    mgpu_tensor: function(count, zero, space) {
        return MGPU.run(function(g) { return g['createTensor'](count, zero !== 0, space); });
    },

    // Copies `count` floats at `ptr` of the wasm heap into the buffer (converted to f16 for f16 buffers).
    mgpu_write__deps: ['$MGPU'],
    mgpu_write: function(id, ptr, count) {
        return MGPU.run(function(g) {
            var src = HEAPF32.subarray(ptr >> 2, (ptr >> 2) + count);
            // A threaded build's heap is a SharedArrayBuffer, which writeBuffer may refuse: copy it out.
            if (typeof SharedArrayBuffer !== 'undefined' && src.buffer instanceof SharedArrayBuffer) src = src.slice();
            g['writeF32'](id, src);
        });
    },

    // From a C++ destructor: never fails (a lost device has no buffers to free anyway).
    mgpu_destroy__deps: ['$MGPU'],
    mgpu_destroy: function(id) {
        var m = Module['moebiusGpu'];
        try {
            if (m && m['g']) m['g']['destroyBuffer'](id);
        } catch (e) {
            MGPU.lastError = e;
        }
    },

    mgpu_flush__deps: ['$MGPU'],
    mgpu_flush: function() {
        return MGPU.run(function(g) { g['flush'](); });
    },

    // Between stages: frees the ops' scratch buffers, then submits (so the frees take effect).
    mgpu_trim__deps: ['$MGPU'],
    mgpu_trim: function() {
        return MGPU.run(function(g) { g['releaseScratch'](); g['flush'](); });
    },

    // Copies the last error's message, UTF-8 and NUL-terminated, into buf[0 .. cap); returns its length.
    mgpu_error_message__deps: ['$MGPU'],
    mgpu_error_message: function(buf, cap) {
        if (cap <= 0) return 0;
        var e = MGPU.lastError;
        var msg = e ? String(e && e.message !== undefined ? e.message : e) : 'unknown error';
        var bytes = new TextEncoder().encode(msg);
        var n = Math.min(bytes.length, cap - 1);
        HEAPU8.set(bytes.subarray(0, n), buf);
        HEAPU8[buf + n] = 0;
        return n;
    },

    // --- ops: ids and shape numbers as ops.js takes them (see bridge.js's table) ---

    mgpu_conv2d__deps: ['$MGPU'],
    // H, W: the conv's input (x is H/2 x W/2 with upsample); gamma 0: no norm.
    mgpu_conv2d: function(x, w, b, y, B, Cin, H, W, Cout, kh, kw, stride, pt, pl, pb, pr, groups, act, r,
                          gamma, beta, normGroups, eps, normAct, upsample) {
        return MGPU.run(function(g, ops) {
            var norm = gamma ? {gamma: gamma, beta: beta, groups: normGroups, eps: eps, act: normAct} : undefined;
            ops['conv2d'](g, {x: x, w: w, b: MGPU.opt(b), y: y, B: B, Cin: Cin, H: H, W: W, Cout: Cout, kh: kh, kw: kw,
                              stride: stride, pad: [pt, pl, pb, pr], groups: groups, act: act, res: MGPU.opt(r),
                              norm: norm, upsample: upsample !== 0});
        });
    },

    // 2 where mgpu_conv2d makes a norm or upsample input in the conv itself, 1 where it would make it first.
    mgpu_conv2d_makes_input__deps: ['$MGPU'],
    mgpu_conv2d_makes_input: function(B, Cin, H, W, Cout, kh, kw, stride, pt, pl, pb, pr, groups) {
        return MGPU.run(function(g, ops) {
            return ops['conv2dMakesInput'](g, {B: B, Cin: Cin, H: H, W: W, Cout: Cout, kh: kh, kw: kw, stride: stride,
                                               pad: [pt, pl, pb, pr], groups: groups}) ? 2 : 1;
        });
    },

    // The MixFFN's depthwise 3x3 conv (C channels) and the GLU of its halves -> y (B, C/2, H, W).
    mgpu_depthwise_glu_silu__deps: ['$MGPU'],
    mgpu_depthwise_glu_silu: function(x, w, b, y, B, C, H, W, act) {
        return MGPU.run(function(g, ops) {
            ops['depthwise_glu_silu'](g, {x: x, w: w, b: MGPU.opt(b), y: y, B: B, C: C, H: H, W: W, act: act});
        });
    },

    mgpu_linear__deps: ['$MGPU'],
    mgpu_linear: function(x, w, b, y, rows, K, N, act) {
        return MGPU.run(function(g, ops) {
            ops['linear'](g, {x: x, w: w, b: MGPU.opt(b), y: y, rows: rows, K: K, N: N, act: act});
        });
    },

    mgpu_matmul__deps: ['$MGPU'],
    mgpu_matmul: function(a, b, y, Ba, Bb, M, K, N, ta, tb, alpha, r) {
        return MGPU.run(function(g, ops) {
            ops['matmul'](g, {a: a, b: b, y: y, Ba: Ba, Bb: Bb, M: M, K: K, N: N, ta: !!ta, tb: !!tb, alpha: alpha,
                              res: MGPU.opt(r)});
        });
    },

    mgpu_group_norm__deps: ['$MGPU'],
    mgpu_group_norm: function(x, gamma, beta, y, B, C, S, groups, eps, act) {
        return MGPU.run(function(g, ops) {
            ops['group_norm'](g, {x: x, gamma: gamma, beta: beta, y: y, B: B, C: C, S: S, groups: groups, eps: eps,
                                  act: act});
        });
    },

    mgpu_layer_norm_channels__deps: ['$MGPU'],
    mgpu_layer_norm_channels: function(x, gamma, beta, y, B, C, S, eps) {
        return MGPU.run(function(g, ops) {
            ops['layer_norm_channels'](g, {x: x, gamma: gamma, beta: beta, y: y, B: B, C: C, S: S, eps: eps});
        });
    },

    mgpu_softmax__deps: ['$MGPU'],
    mgpu_softmax: function(x, y, rows, L) {
        return MGPU.run(function(g, ops) { ops['softmax'](g, {x: x, y: y, rows: rows, L: L}); });
    },

    mgpu_act__deps: ['$MGPU'],
    mgpu_act: function(x, y, n, act) {
        return MGPU.run(function(g, ops) { ops['act'](g, {x: x, y: y, n: n, act: act}); });
    },

    mgpu_add__deps: ['$MGPU'],
    mgpu_add: function(a, b, y, B, C, S, bCount) {
        return MGPU.run(function(g, ops) { ops['add'](g, {a: a, b: b, y: y, B: B, C: C, S: S, bCount: bCount}); });
    },

    mgpu_axpby__deps: ['$MGPU'],
    mgpu_axpby: function(alpha, a, beta, b, y, n) {
        return MGPU.run(function(g, ops) { ops['axpby'](g, {alpha: alpha, a: a, beta: beta, b: b, y: y, n: n}); });
    },

    mgpu_glu_silu__deps: ['$MGPU'],
    mgpu_glu_silu: function(x, y, B, C, S) {
        return MGPU.run(function(g, ops) { ops['glu_silu'](g, {x: x, y: y, B: B, C: C, S: S}); });
    },

    mgpu_cfg_combine__deps: ['$MGPU'],
    mgpu_cfg_combine: function(x, y, n, guidance) {
        return MGPU.run(function(g, ops) { ops['cfg_combine'](g, {x: x, y: y, n: n, guidance: guidance}); });
    },

    mgpu_concat_channels__deps: ['$MGPU'],
    mgpu_concat_channels: function(a, b, y, B, Ca, Cb, S) {
        return MGPU.run(function(g, ops) { ops['concat_channels'](g, {a: a, b: b, y: y, B: B, Ca: Ca, Cb: Cb, S: S}); });
    },

    mgpu_concat_batch__deps: ['$MGPU'],
    mgpu_concat_batch: function(a, b, y, na, nb) {
        return MGPU.run(function(g, ops) { ops['concat_batch'](g, {a: a, b: b, y: y, na: na, nb: nb}); });
    },

    mgpu_slice_batch__deps: ['$MGPU'],
    mgpu_slice_batch: function(x, y, start, count, per) {
        return MGPU.run(function(g, ops) { ops['slice_batch'](g, {x: x, y: y, start: start, count: count, per: per}); });
    },

    mgpu_transpose12__deps: ['$MGPU'],
    mgpu_transpose12: function(x, y, B, M, N) {
        return MGPU.run(function(g, ops) { ops['transpose12'](g, {x: x, y: y, B: B, M: M, N: N}); });
    },

    mgpu_upsample_nearest2x__deps: ['$MGPU'],
    mgpu_upsample_nearest2x: function(x, y, BC, H, W) {
        return MGPU.run(function(g, ops) { ops['upsample_nearest2x'](g, {x: x, y: y, BC: BC, H: H, W: W}); });
    },

    mgpu_resize_nearest__deps: ['$MGPU'],
    mgpu_resize_nearest: function(x, y, BC, H, W, OH, OW) {
        return MGPU.run(function(g, ops) {
            ops['resize_nearest'](g, {x: x, y: y, BC: BC, H: H, W: W, OH: OH, OW: OW});
        });
    },

    mgpu_lambda_local_position__deps: ['$MGPU'],
    mgpu_lambda_local_position: function(q, v, w, bias, y, B, heads, kdim, vdim, H, W, r, res) {
        return MGPU.run(function(g, ops) {
            ops['lambda_local_position'](g, {q: q, v: v, w: w, bias: bias, y: y, B: B, heads: heads, kdim: kdim,
                                             vdim: vdim, H: H, W: W, r: r, res: MGPU.opt(res)});
        });
    },

    mgpu_lambda_global_position__deps: ['$MGPU'],
    mgpu_lambda_global_position: function(q, v, e, y, B, heads, kdim, vdim, N, L, r) {
        return MGPU.run(function(g, ops) {
            ops['lambda_global_position'](g, {q: q, v: v, e: e, y: y, B: B, heads: heads, kdim: kdim, vdim: vdim,
                                              N: N, L: L, res: MGPU.opt(r)});
        });
    },
};

mergeInto(LibraryManager.library, LibraryMoebiusGpu);
