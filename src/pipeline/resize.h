// Resizing as PIL does it, so that the upstream-compatible path (resize to the model size, inpaint,
// resize back) matches `Image.resize(size, Image.Resampling.LANCZOS / NEAREST)` pixel for pixel.
// A replica of Pillow's libImaging/Resample.c (precompute_coeffs, normalize_coeffs_8bpc,
// ImagingResample{Horizontal,Vertical}_{8bpc,32bpc}, ImagingResampleInner) and of the NEAREST path
// of _imaging.c `_resize` -> Geometry.c `ImagingScaleAffine`.
#pragma once
#include <vector>

#include "io/image.h"

namespace moebius {

// PIL `Image.resize((width, height), LANCZOS)` for L and RGB images (8-bit fixed-point path).
// Channels are resampled independently; note that PIL premultiplies LA/RGBA by alpha first, this
// does not (the pipeline resizes only RGB and L). Same size -> a copy, as PIL.
Image resize_lanczos(const Image& img, int width, int height);

// PIL `Image.resize((width, height), NEAREST)`.
Image resize_nearest(const Image& img, int width, int height);

// PIL mode "F" (float32 plane) LANCZOS resize: double accumulation, float32 between the passes.
std::vector<float> resize_lanczos_plane(const std::vector<float>& src, int w, int h, int width, int height);

}  // namespace moebius
