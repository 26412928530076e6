// Upstream's post-processing, bit for bit: removal/v1_2/pipeline.py `_post_process` (uint8
// conversion, paste with a blurred mask) and removal/v1_2/compensation_utils.py (`paste_compensate`:
// colour compensation from the ring around the mask). PIL and NumPy semantics are mirrored exactly:
// PIL's GaussianBlur integer arithmetic, NumPy's float64 expression order and uint8 truncation.
#pragma once
#include <array>
#include <vector>

#include "io/image.h"

namespace moebius {

// Raw VAE decode (3, H, W) float32 in ~[-1, 1] -> RGB uint8, as upstream in float32:
// images = (x + 1) / 2; uint8(images.float().clamp(0, 1) * 255) (truncation). NaN -> 0.
Image decoded_to_image(const std::vector<float>& chw, int width, int height);

// `_preprocess`: mask.point(lambda x: 0 if x < 255 / 2 else 255, 'L'), i.e. x >= 128 -> 255.
// Takes a 1-channel image.
Image binarize_mask(const Image& gray);

// PIL `img.filter(ImageFilter.GaussianBlur(radius))`: Pillow's libImaging/BoxBlur.c
// ImagingGaussianBlur with 3 passes of an extended (fractional-radius) box blur, horizontal then
// vertical, in 8.24 fixed point. Any channel count; channels are independent.
Image gaussian_blur_pil(const Image& img, float radius);

// PIL `im.box_blur((radius, radius), passes)` (ImageFilter.BoxBlur for passes = 1): BoxBlur.c
// ImagingBoxBlur, the building block of gaussian_blur_pil.
Image box_blur_pil(const Image& img, float radius, int passes);

// The paste weight upstream blends with: binarize_mask(mask) blurred by GaussianBlur(radius).
// Zero exactly where the blend leaves the original pixel untouched.
Image feather_mask(const Image& mask, float radius = 3.f);

// `_post_process(paste=True, compensate=False)`: m = GaussianBlur(3)(mask as RGB) / 255.0;
// out = uint8((result / 255.0 * m + (1 - m) * image / 255.0) * 255). `mask` is the binary 1-channel
// mask, `image` and `result` RGB of the same size. Where m == 0 the output equals `image` exactly.
Image paste_blurred(const Image& mask, const Image& image, const Image& result);

// compensation_utils.paste_compensate(mask, image, result, fac): shifts the result's colours by
// fac × (mean of image − mean of result) over the ring `bbox_unmask` around the mask, then pastes
// as above with the blurred mask (clipped to [0, 1] before the uint8 truncation).
Image paste_compensate(const Image& mask, const Image& image, const Image& result, double fac = 1.1);

// After `paste_compensate` (or any paste), restore every pixel of `result` whose feather weight is 0
// from `image` (a no-op for upstream's blends; a guarantee for composited crops).
void keep_outside_mask(Image& result, const Image& image, const Image& mask);

// --- pieces of compensation_utils.py, exposed for tests ---

// get_bbox_unmask(mask, off): the mask's bounding box grown by `off` around its centre, clipped to
// the image, minus the mask itself. `mask`: W*H booleans (0/1). An empty mask gives the whole image,
// as np.argmax of an all-False row does.
std::vector<uint8_t> bbox_unmask(const std::vector<uint8_t>& mask, int width, int height, int off = 10);

// get_unmasked_stat(img, mask)['nbr_unmasked_mean']: per-channel mean of `img` (RGB) over `region`.
std::array<double, 3> region_mean(const Image& img, const std::vector<uint8_t>& region);

}  // namespace moebius
