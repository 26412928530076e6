// The inpainting pipeline: upstream's RemovalSDXLPipeline_BatchMode at the model's native size
// (`generate`), plus whole-image and crop-around-mask handling of any image size (`inpaint`).
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "io/image.h"
#include "io/model_file.h"
#include "model/unet.h"
#include "model/vae.h"
#include "moebius.h"
#include "pipeline/crop.h"
#include "pipeline/ddim.h"

namespace moebius {

struct InpaintOptions {
    int steps = 20;             // upstream num_steps
    float strength = 0.99f;     // upstream default: 19 of 20 steps, starting from the noised image latent
    float guidance = 2.5f;      // upstream CLI --cfg default
    uint64_t seed = 0;
    float noise_offset = 0.0357f;
    bool paste = true;          // upstream CLI --pst default
    bool compensate = false;    // upstream --cps (factor 1.1)
    moebius_mode mode = MOEBIUS_MODE_AUTO;
    bool sample_latents = false;  // upstream samples the VAE posterior; the mean is the default here
    std::vector<float> noise;     // (1,4,S,S) initial noise incl. offset; empty = from seed
    // Called at each stage/step; return false to cancel (throws Error{Cancelled}).
    std::function<bool(const moebius_progress&)> progress;
    // Latents after each DDIM step (tests).
    std::function<void(int step, const Tensor& latents)> on_step;
    // Keep each step's predicted clean latents for InpaintJob::preview() (one small op per step).
    bool preview = false;
};

class Inpainter;

// One inpaint of one image, stage by stage, so a caller that must await the GPU between stages (the
// WebAssembly build: readbacks are asynchronous in JS) drives the same code as the native loop:
//   for k in crops(): begin_crop(k); for i in steps: step(i); finish_crop(download(decode()));
//   result()
// Whole mode is one window covering the image; crop mode has one window per group of mask regions.
class InpaintJob {
public:
    InpaintJob(Inpainter& inpainter, const Image& image, const Image& mask, const InpaintOptions& o);

    int crops() const { return (int)windows_.size(); }  // 0: empty mask, result() is the input
    // Prepares window k at the model size and enqueues the VAE encode; returns the number of steps.
    int begin_crop(int k);
    // Enqueues denoising step i (one batched UNet CFG call + DDIM update).
    void step(int i);
    // With InpaintOptions::preview, after step(i): DDIM's predicted clean latents of that step
    // (pred_original_sample, (1, C, S, S), scaled as the UNet sees them) — the current estimate of
    // the crop, for previews. Empty otherwise, before the first step of a crop and after decode().
    const Tensor& preview() const { return preview_; }
    // Enqueues the VAE decode of the current crop: (1, 3, S, S) raw.
    Tensor decode();
    // CPU: decoded floats -> uint8, back to the window size, into the canvas.
    void finish_crop(const std::vector<float>& decoded);
    // Paste / compensate / alpha, at the input's full resolution.
    Image result() const;

    const std::vector<CropWindow>& windows() const { return windows_; }

private:
    Inpainter& inp_;
    InpaintOptions o_;
    Image input_, rgb_, mask_, generated_;
    std::vector<CropWindow> windows_;
    bool alpha_is_mask_ = false;
    // The crop in flight.
    int k_ = -1;
    Image crop_rgb_, crop_mask_;
    std::vector<int> timesteps_;
    Tensor latents_, mask_latent_, masked_latents_, preview_;
};

class Inpainter {
public:
    Inpainter(const ModelWeights& weights, Backend& backend);

    // Any size: validates, binarises the mask, picks whole/crop mode, pastes. Pixels outside the
    // blurred mask are returned bit-identical. An empty mask returns the image without running the model.
    Image inpaint(const Image& image, const Image& mask, const InpaintOptions& o);

    // The model at its native size S×S (S = 8 × sample_size = 512): `rgb` S×S×3, `mask` S×S×1 binary
    // (0/255). Returns the decoded image as uint8 RGB (upstream `_post_process` before resize/paste).
    Image generate(const Image& rgb, const Image& mask, const InpaintOptions& o);

    int native_size() const { return 8 * cfg_.unet.sample_size; }
    const ModelConfig& config() const { return cfg_; }
    Backend& backend() const { return be_; }

private:
    friend class InpaintJob;
    Tensor initial_noise(const InpaintOptions& o) const;

    ModelConfig cfg_;
    Backend& be_;
    std::unique_ptr<UNet> unet_;
    std::unique_ptr<Vae> vae_;
    Ddim ddim_;
};

}  // namespace moebius
