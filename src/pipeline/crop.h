// Crop-around-mask planning for images larger than the model's square input: each group of nearby
// mask regions is inpainted in its own window (resized to the model size and back), so a small hole
// in a large photo is processed near full resolution and everything else stays untouched.
#pragma once
#include <vector>

#include "io/image.h"

namespace moebius {

struct CropOptions {
    int model_size = 512;  // the model's square input side (8 × UNet sample_size)
    // A window spans `context` × the larger side of its regions' bounding box plus `margin` pixels
    // on each side, and at least `model_size` (so small holes are processed at 1:1 scale).
    double context = 2.0;
    // >= the reach of the paste blur (GaussianBlur(3): 3 box passes of radius 2.42 -> 9 px) and
    // of compensation's ring (bbox + 10 px), so both stay inside the window.
    int margin = 32;
};

// x, y: top-left corner in the image; size_w × size_h: extent. Square unless the image is too
// narrow for a square that holds the region (then the short side is the whole image side).
struct CropWindow {
    int x = 0, y = 0, size_w = 0, size_h = 0;
};

// An 8-connected component of mask pixels >= 128, with its bounding box [x0, x1) × [y0, y1).
struct MaskRegion {
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    long long pixels = 0;
};
std::vector<MaskRegion> mask_regions(const Image& mask);

// Windows for a 1-channel mask (>= 128 = inpaint): one per group of regions, groups merged until no
// two windows overlap. Every window lies inside the image and contains its regions' bounding box.
// An empty mask gives no window. Windows are ordered top-to-bottom, left-to-right.
std::vector<CropWindow> plan_crops(const Image& mask, const CropOptions& opt = {});

// Copy of the window's pixels.
Image crop_image(const Image& img, const CropWindow& w);
// Writes `patch` (size_w × size_h, same channels) into `dst` at the window.
void place_image(Image& dst, const Image& patch, const CropWindow& w);

}  // namespace moebius
