// ctest-labels: parity;slow
// The full-size UNet (upstream moebius.yaml, synthetic weights) against upstream's float64 run: one
// UNet call at t=900 (batch 2), the output and the debug taps (the fixtures keep batch row 1 and the
// first 8 channels of each). Prints the wall time of the call.
#include "unet_parity.h"

using namespace moebius::test;

TEST(UNetFull, MatchesUpstreamFull) { run_unet_parity("full", 9.1e-6); }
