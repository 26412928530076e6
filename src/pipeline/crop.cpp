#include "pipeline/crop.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace moebius {

namespace {

struct Box {
    int x0, y0, x1, y1;  // [x0, x1) × [y0, y1)
};

Box unite(const Box& a, const Box& b) {
    return {std::min(a.x0, b.x0), std::min(a.y0, b.y0), std::max(a.x1, b.x1), std::max(a.y1, b.y1)};
}

bool overlap(const CropWindow& a, const CropWindow& b) {
    return a.x < b.x + b.size_w && b.x < a.x + a.size_w && a.y < b.y + b.size_h && b.y < a.y + a.size_h;
}

// Start of a window of `size` (>= b1 - b0, <= limit) centred on [b0, b1), moved inside [0, limit).
// Moving it inwards keeps [b0, b1) covered because the span lies inside [0, limit).
int place(int b0, int b1, int size, int limit) {
    const int start = b0 - (size - (b1 - b0)) / 2;
    return std::clamp(start, 0, limit - size);
}

CropWindow window_for(const Box& b, int W, int H, const CropOptions& o) {
    const int bw = b.x1 - b.x0, bh = b.y1 - b.y0;
    const int need = (int)std::ceil(std::max(bw, bh) * o.context) + 2 * o.margin;
    const int side = std::max(need, o.model_size);
    // The largest square the image allows.
    const int s = std::min({side, W, H});
    CropWindow w;
    if (bw <= s && bh <= s) {
        w.size_w = w.size_h = s;
    } else {
        // A square that fits cannot hold the region (a long region in a narrow image): take the
        // whole short side and just enough of the long side; the model input gets stretched.
        w.size_w = std::min(W, std::max(s, bw + 2 * o.margin));
        w.size_h = std::min(H, std::max(s, bh + 2 * o.margin));
    }
    w.x = place(b.x0, b.x1, w.size_w, W);
    w.y = place(b.y0, b.y1, w.size_h, H);
    return w;
}

// Union-find over row runs.
int find_root(std::vector<int>& parent, int i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
}

}  // namespace

std::vector<MaskRegion> mask_regions(const Image& mask) {
    MOEBIUS_CHECK(mask.channels == 1 && mask.pixels.size() == (size_t)mask.width * mask.height, ErrorKind::Invalid,
                  "mask_regions: the mask must be a 1-channel image");
    struct Run {
        int y, a, b;  // pixels [a, b) of row y
    };
    std::vector<Run> runs;
    std::vector<int> parent;
    size_t prev_begin = 0, prev_end = 0;  // runs of the previous row
    for (int y = 0; y < mask.height; ++y) {
        const uint8_t* row = &mask.pixels[(size_t)y * mask.width];
        const size_t cur_begin = runs.size();
        for (int x = 0; x < mask.width;) {
            if (row[x] < 128) {
                ++x;
                continue;
            }
            const int a = x;
            while (x < mask.width && row[x] >= 128) ++x;
            runs.push_back({y, a, x});
            parent.push_back((int)parent.size());
        }
        // 8-connectivity: runs [pa, pb) and [ca, cb) of adjacent rows touch iff ca <= pb && pa <= cb.
        size_t j = prev_begin;
        for (size_t i = cur_begin; i < runs.size(); ++i) {
            while (j < prev_end && runs[j].b < runs[i].a) ++j;
            for (size_t k = j; k < prev_end && runs[k].a <= runs[i].b; ++k) {
                const int ri = find_root(parent, (int)i), rk = find_root(parent, (int)k);
                if (ri != rk) parent[std::max(ri, rk)] = std::min(ri, rk);
            }
        }
        prev_begin = cur_begin;
        prev_end = runs.size();
    }
    std::vector<int> slot(runs.size(), -1);
    std::vector<MaskRegion> regions;
    for (size_t i = 0; i < runs.size(); ++i) {
        const int r = find_root(parent, (int)i);
        if (slot[r] < 0) {
            slot[r] = (int)regions.size();
            regions.push_back({runs[i].a, runs[i].y, runs[i].b, runs[i].y + 1, 0});
        }
        MaskRegion& g = regions[slot[r]];
        g.x0 = std::min(g.x0, runs[i].a);
        g.x1 = std::max(g.x1, runs[i].b);
        g.y0 = std::min(g.y0, runs[i].y);
        g.y1 = std::max(g.y1, runs[i].y + 1);
        g.pixels += runs[i].b - runs[i].a;
    }
    return regions;
}

std::vector<CropWindow> plan_crops(const Image& mask, const CropOptions& o) {
    MOEBIUS_CHECK(o.model_size > 0 && o.context >= 1 && o.margin >= 0, ErrorKind::Invalid,
                  "plan_crops: needs model_size > 0, context >= 1, margin >= 0");
    const int W = mask.width, H = mask.height;
    std::vector<Box> groups;
    for (const MaskRegion& r : mask_regions(mask)) groups.push_back({r.x0, r.y0, r.x1, r.y1});
    if (groups.empty()) return {};

    // Many specks (a noisy mask): first pool them per model_size cell, whose windows would merge
    // anyway, so that the pairwise merging below stays cheap.
    constexpr size_t kPoolAbove = 1024;
    if (groups.size() > kPoolAbove) {
        const int cell = o.model_size, cols = (W + cell - 1) / cell;
        std::vector<int> slot((size_t)cols * ((H + cell - 1) / cell), -1);
        std::vector<Box> pooled;
        for (const Box& b : groups) {
            const int k = ((b.y0 + b.y1) / 2 / cell) * cols + (b.x0 + b.x1) / 2 / cell;
            if (slot[k] < 0) {
                slot[k] = (int)pooled.size();
                pooled.push_back(b);
            } else {
                pooled[slot[k]] = unite(pooled[slot[k]], b);
            }
        }
        groups = std::move(pooled);
    }

    // Merge groups whose windows overlap until none do.
    std::vector<CropWindow> win;
    for (const Box& b : groups) win.push_back(window_for(b, W, H, o));
    for (bool merged = true; merged;) {
        merged = false;
        for (size_t i = 0; i < groups.size(); ++i)
            for (size_t j = i + 1; j < groups.size(); ++j) {
                if (!overlap(win[i], win[j])) continue;
                groups[i] = unite(groups[i], groups[j]);
                win[i] = window_for(groups[i], W, H, o);
                groups.erase(groups.begin() + (long)j);
                win.erase(win.begin() + (long)j);
                merged = true;
                j = i;  // window i grew: check it against all the others again
            }
    }
    std::sort(win.begin(), win.end(),
              [](const CropWindow& a, const CropWindow& b) { return a.y != b.y ? a.y < b.y : a.x < b.x; });
    return win;
}

Image crop_image(const Image& img, const CropWindow& w) {
    MOEBIUS_CHECK(w.x >= 0 && w.y >= 0 && w.size_w > 0 && w.size_h > 0 && w.x + w.size_w <= img.width &&
                      w.y + w.size_h <= img.height,
                  ErrorKind::Internal, "crop_image: window outside the image");
    Image out(w.size_w, w.size_h, img.channels);
    const size_t row = (size_t)w.size_w * img.channels;
    for (int y = 0; y < w.size_h; ++y)
        std::copy_n(&img.pixels[img.index(w.x, w.y + y)], row, &out.pixels[out.index(0, y)]);
    return out;
}

void place_image(Image& dst, const Image& patch, const CropWindow& w) {
    MOEBIUS_CHECK(patch.width == w.size_w && patch.height == w.size_h && patch.channels == dst.channels && w.x >= 0 &&
                      w.y >= 0 && w.x + w.size_w <= dst.width && w.y + w.size_h <= dst.height,
                  ErrorKind::Internal, "place_image: patch does not match the window");
    const size_t row = (size_t)w.size_w * dst.channels;
    for (int y = 0; y < w.size_h; ++y)
        std::copy_n(&patch.pixels[patch.index(0, y)], row, &dst.pixels[dst.index(w.x, w.y + y)]);
}

}  // namespace moebius
