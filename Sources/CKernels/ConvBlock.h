// The body of the micro-kernel's block, included by ConvTiles.c once per instruction set with
// BLOCK (its name), BLOCK_TARGET (its target attribute) and TRANSPOSE_EPILOGUE (1: the AVX-512
// epilogue, which needs AVX-512 intrinsics for its masked stores) defined.
static inline __attribute__((always_inline)) BLOCK_TARGET
void BLOCK(const int TILES, const int PIXELS, const int STRIDE, const int ONE_TAP, const int PREFETCH, const int CONTIGUOUS,
           const int SPLIT, const int MAP, const int Y0, const isp_conv_input *in, const float *xq, const float *panels, int32_t rows,
           int32_t outChannels, int32_t tile, int32_t q, int32_t shift, const isp_conv_output *out,
           float *into, size_t intoPitch, const float *sums, size_t sumsPitch, int32_t prefetchChannels, int32_t gap,
           const float *nextPanels, int nextLines) {
    // Channel i's input for position q at xq + in->xOffset[i] (in->x + q * STRIDE, or a packed copy of
    // the block: see PACKED_FLOATS in ConvTiles.c).
    // The sums so far (`sums`: pixel p of tile t at sums + p * sumsPitch + 16 t), or none.
    // `prefetchChannels` (>= in->channels): the channels from in's first on whose weight rows
    // PREFETCH may run ahead, past a chunk's last (see RUN_BLOCKS in ConvTiles.c).
    // SPLIT (0: none): the block runs across the end of an output row (see BANDS in ConvTiles.c),
    // and its pixels from SPLIT on lie `gap` grid positions further on.
    // MAP (0: none): a 3x3 convolution at stride STRIDE and padding 1 to maps MAP wide, read in place
    // (isp_conv_input.mapWidth) from input maps STRIDE * MAP wide; the block is output rows Y0 to Y0 +
    // PIXELS / MAP - 1, or, on 7- and 8-wide maps, any row between the first and the last with Y0 1 and xq
    // moved to its row above (see SMALL_MAPS in ConvTiles.c).
    v16 acc[2][14];
    _Pragma("clang loop unroll(full)")
    for (int t = 0; t < TILES; t++) _Pragma("clang loop unroll(full)") for (int p = 0; p < PIXELS; p++)
        acc[t][p] = sums ? load16(sums + (size_t)p * sumsPitch + 16 * t) : (v16){0};
    const float *tilePanel = panels + (size_t)tile * rows * 16;
    // PREFETCH (see KERNEL): the weights about 64 rows (4 KB) ahead are fetched into L1 while
    // these compute. Big weight sets stream from memory, and the hardware prefetchers, which stop
    // at each 4 KB page, do not keep up: ResNet-18's 7x7 layers (512 -> 512 channels, 9.4 MB of
    // weights each) 1.17-1.28 -> 1.00-1.12 ms, 14x14 ones 0.87-1.02 -> 0.78-0.83 (torchvision
    // resnet18 at 224, isp bench --profile, Intel Xeon AVX-512). Also in blocks of 4 positions
    // (2x2 maps), though on the Intel Xeon the prefetches only competed with the loads there
    // (VGG16 w0.5 pruned, its 2x2 layers 17-25 -> 23-33 us with them): on AMD Zen 5, whose L3 the
    // VM's neighbours share, VGG16 w0.5's 2x2 layers ran 0.79-0.80x dense and 0.28-0.87x pruned,
    // its 4x4 ones level (one core, isp bench --profile, 3-6 alternations). Not below 4 positions.
    // Small panels stay in L2 from row to row, and there the extra loads cost VGG16 w0.5's 32x32
    // and 16x16 layers 2-5%. (Fetching the next tiles' panels into L2 instead pushed the current
    // panel and the input out of L2: the 7x7 layers ran 25% slower.)
    // Since then also about 256 rows (16 KB) ahead into L2. One core, weights from memory,
    // alternating (benchmarks/conv_kernel_bench.c, AMD Zen 4), GMAC/s: 256 -> 256 at 4x4 AVX2
    // 36.3-36.8 -> 42.0-43.3, AVX-512 47.5-47.6 -> 49.9-50.9; 128 -> 256 at 4x4 AVX2 35.8-37.8 ->
    // 41.3-42.0, AVX-512 49.1-50.2 -> 50.0-51.7; 512 -> 512 at 7x7 level. Whole passes, one core,
    // alternating (benchmarks/interleave.py): VGG16 w0.5 0.934x the time with AVX-512, 0.926x with
    // AVX2, ResNet-18 w0.5 0.978x with AVX2; VGG16 w0.5 at its stored operating point 0.928x. With
    // the far prefetch alone (none into L1), the dense passes gained as much but the pruned ones
    // took 1.13x the time: their kept channels' rows are no stream the L1 prefetcher follows. Not
    // for 1x1 convolutions (one row a channel, so twice the prefetches per multiply-add):
    // mobilenet_v2 at 224 with AVX-512, one core, 1.060x the time with it (interleaved).
    // ONE_TAP (1x1 convolutions): the tap loop disappears and the channel loop is the inner one.
    // Entered once per channel, the tap loop's setup and exit cost 1x1 convolutions 8-18% (one
    // thread, Intel Xeon AVX-512: 144 -> 24 channels at 56x56 282 -> 259 us, 96 -> 24 195 -> 166
    // us, 960 -> 160 at 4x4 48.7 -> 41.3 us). Also at stride 2 (ResNet's shortcuts, read in place
    // row by row): AVX2, one core, in cache (conv_kernel_bench.c IN OUT SIZE 3000 1 2 0 2, AMD Zen 4),
    // 64 -> 128 to 8x8 16.7 -> 15.0 us, 128 -> 256 to 14x14 184 -> 164, 256 -> 512 to 7x7 239 -> 190,
    // 64 -> 128 to 28x28 230 -> 193; AVX-512 level (11.4, 120, 121, 152).
    if (MAP) {
        // Each tap's weight rows once for all the block's pixels it reaches; the products over the
        // zero border, which the unrolled rows carry, are left out (see SMALL_MAPS in ConvTiles.c).
        for (int32_t i = 0; i < in->channels; i++) {
            const float *xc = xq + in->xOffset[i];
            const float *w = tilePanel + (size_t)in->weightChannel[i] * 9 * 16;
            // PREFETCH (kept channels that are not one run): the weight rows of the kept channel 7 on,
            // which no hardware prefetcher foresees across the dropped channels' rows.
            const int32_t ahead = i + 7 < prefetchChannels ? i + 7 : prefetchChannels - 1;
            const float *next = tilePanel + (size_t)in->weightChannel[ahead] * 9 * 16;
            // This block's share of the next tiles' rows of this channel into L2: `nextLines` of the
            // nine from `nextPanels` (set on 4x4 and 8x8 maps and on the pruned ones of 2x2: see
            // SMALL_MAPS in ConvTiles.c).
            if (nextPanels) {
                _Pragma("clang loop unroll(full)")
                for (int t = 0; t < TILES; t++)
                    for (int l = 0; l < nextLines; l++)
                        __builtin_prefetch(nextPanels + (size_t)t * rows * 16 + (size_t)in->weightChannel[i] * 9 * 16 + l * 16, 0, 2);
            }
            _Pragma("clang loop unroll(full)")
            for (int k = 0; k < 9; k++) {
                if (PREFETCH) {
                    _Pragma("clang loop unroll(full)")
                    for (int t = 0; t < TILES; t++) __builtin_prefetch(next + (size_t)t * rows * 16 + k * 16, 0, 3);
                }
                const int ky = k / 3, kx = k % 3, side = STRIDE * MAP;  // side: the input map's width and height
                int reached = 0;  // whether a row of the block reaches this tap (constant once unrolled)
                _Pragma("clang loop unroll(full)")
                for (int r = 0; r < PIXELS / MAP; r++) reached |= STRIDE * (Y0 + r) + ky - 1 >= 0 && STRIDE * (Y0 + r) + ky - 1 < side;
                if (!reached) continue;
                v16 w0 = load16(w + k * 16);
                v16 w1 = TILES > 1 ? load16(w + (size_t)rows * 16 + k * 16) : w0;
                _Pragma("clang loop unroll(full)")
                for (int p = 0; p < PIXELS; p++) {
                    const int y = STRIDE * (Y0 + p / MAP) + ky - 1, x = STRIDE * (p % MAP) + kx - 1;
                    if (y < 0 || y >= side || x < 0 || x >= side) continue;
                    float b = xc[y * side + x];
                    acc[0][p] += w0 * b;
                    if (TILES > 1) acc[1][p] += w1 * b;
                }
            }
        }
    } else {
        const int32_t taps = ONE_TAP ? 1 : in->taps;
        const int32_t channelsAhead = 64 / taps > 1 ? 64 / taps : 1, channelsFarAhead = 256 / taps > 1 ? 256 / taps : 1;
        // CONTIGUOUS (see contiguous_channels in ConvTiles.c): 1, channel i's plane and weight rows
        // follow from the first's, with no table to read. A chunk of the channels may hold one, or
        // none (see RUN_BLOCKS). 2, only its plane does (the listed channels' rows of Winograd's V,
        // see isp_conv_products); its weight rows come from the table.
        const size_t step = CONTIGUOUS && in->channels > 1 ? (size_t)(in->xOffset[1] - in->xOffset[0]) : 0;
        const float *x0 = CONTIGUOUS && in->channels > 0 ? xq + in->xOffset[0] : 0;
        const float *w0 = CONTIGUOUS == 1 && in->channels > 0 ? tilePanel + (size_t)in->weightChannel[0] * taps * 16 : 0;
        for (int32_t i = 0; i < in->channels; i++) {
            const float *xc = CONTIGUOUS ? x0 + i * step : xq + in->xOffset[i];
            const float *w = CONTIGUOUS == 1 ? w0 + (size_t)i * taps * 16 : tilePanel + (size_t)in->weightChannel[i] * taps * 16;
            // The rows of the kept channels about 64 and 256 rows ahead: with channels dropped, the rows in
            // between may never be read. In a chunk's last channels, the next chunk's first: stopped
            // at the chunk's end, the prefetches left the start of every chunk to demand misses.
            const int32_t ahead = i + channelsAhead < prefetchChannels ? i + channelsAhead : prefetchChannels - 1;
            const int32_t farAhead = i + channelsFarAhead < prefetchChannels ? i + channelsFarAhead : prefetchChannels - 1;
            const float *next = CONTIGUOUS == 1 ? w0 + (size_t)ahead * taps * 16 : tilePanel + (size_t)in->weightChannel[ahead] * taps * 16;
            const float *far = CONTIGUOUS == 1 ? w0 + (size_t)farAhead * taps * 16 : tilePanel + (size_t)in->weightChannel[farAhead] * taps * 16;
            // 1x1 convolutions read their input planes in place, and on big maps each block reads a
            // little of every input plane: 144 planes 12.5 KB apart on a 56x56 map, more streams than
            // the hardware prefetchers follow, so each line came from memory on demand. Fetching the
            // line two ahead into L2 (into L1 it crowded out what the block was reading): one core,
            // input not in cache, 144 -> 24 channels 827 -> 359 us, 96 -> 24 545 -> 211 us; in cache,
            // or on 14x14 and 7x7 maps, no change (Intel Xeon AVX-512, a 1x1 variant of
            // benchmarks/conv_kernel_bench.c).
            if (ONE_TAP && PIXELS > 4) _mm_prefetch((const char *)(xc + 32), _MM_HINT_T1);
            for (int32_t k = 0; k < taps; k++) {
                const float *xt = ONE_TAP ? xc : xc + in->tapOffset[k];
                if (PREFETCH && PIXELS >= 4) {
                    _Pragma("clang loop unroll(full)")
                    for (int t = 0; t < TILES; t++) {
                        __builtin_prefetch(next + (size_t)t * rows * 16 + k * 16, 0, 3);
                        if (!ONE_TAP) __builtin_prefetch(far + (size_t)t * rows * 16 + k * 16, 0, 2);
                    }
                }
                v16 w0 = load16(w + k * 16);
                v16 w1 = TILES > 1 ? load16(w + (size_t)rows * 16 + k * 16) : w0;
                // At stride 2 the pixels past the split from a base of their own: indexed each from
                // xt, they took a register each, and the block's 12 sums spilled (AVX2, 128 -> 256
                // channels to 14x14, one core, in cache, conv_kernel_bench.c, AMD Zen 4: 1337-1347 ->
                // 1180-1206 us; torchvision resnet18 at 224's layer3.0.conv1 1406 -> 1248 us).
                const float *xs = xt + (size_t)gap * STRIDE;
                _Pragma("clang loop unroll(full)")
                for (int p = 0; p < PIXELS; p++) {
                    float b = SPLIT && STRIDE == 2 ? (p >= SPLIT ? xs : xt)[p * STRIDE]
                                                   : xt[(p + (SPLIT && p >= SPLIT ? gap : 0)) * STRIDE];  // vector * scalar broadcasts the scalar
                    acc[0][p] += w0 * b;
                    if (TILES > 1) acc[1][p] += w1 * b;
                }
            }
        }
    }
    // No output (`isp_conv_products`): the sums as they are, pixel-major, pixel p of tile t at
    // into + p * intoPitch + 16 t.
    if (!out) {
        _Pragma("clang loop unroll(full)")
        for (int t = 0; t < TILES; t++) _Pragma("clang loop unroll(full)") for (int p = 0; p < PIXELS; p++)
            *(v16 *)(into + (size_t)p * intoPitch + 16 * t) = acc[t][p];
        return;
    }
    // Bias, clamp, then from one vector per pixel (16 channels) to runs of pixels per channel.
    // With AVX-512 (TRANSPOSE_EPILOGUE) in registers: a 16 x 16 transpose, then one masked store per
    // channel. This epilogue costs the same whatever input channels were skipped, so it decided
    // how much of the pruning a layer keeps: through a buffer, one scalar store per value, it took
    // 0.7 ns per output value on two threads (VGG16 w0.5's first convolution, 1 input channel,
    // 23 us: isp bench --profile, Intel Xeon AVX-512).
    // With AVX2 in registers too (8 x 8 transposes of each half tile; below).
    // A residual is added (and the clamp applied) where each value meets its output pixel.
    // Channel j of tile t goes to into + (16 t + j) * intoPitch: the output planes, or the
    // caller's row buffer (see KERNEL).
    // Unrolled, so that every acc[t][p] is a constant index and the accumulators live in registers
    // only: with a loop over t, acc stayed an array in memory, and clang stored every accumulator
    // to the stack after each of its multiply-adds (28 stores of 64 bytes per weight row of a 2 x 14
    // block; perf annotate). Where a core stores two 512-bit vectors a cycle (AMD Zen 5) that was
    // nearly free; AMD Zen 4 ran its 3x3 convolutions at 20-22 GMAC/s, 40% of its peak and slower
    // than its AVX2 kernel, now 52-57 (one core, benchmarks/conv_kernel_bench.c: 64 -> 128 channels
    // at 28x28 at stride 1 and 2, 256 -> 256 at 14x14 bordered and unrolled).
    _Pragma("clang loop unroll(full)")
    for (int t = 0; t < TILES; t++) {
        int32_t o0 = (tile + t) * 16;
        int32_t n = outChannels - o0 < 16 ? outChannels - o0 : 16;
        // A whole tile's bias is one load; gathering it into a local array first made the vector
        // load wait on 16 scalar stores (no store forwarding) in every block.
        v16 vb;
        if (n == 16) {
            vb = load16(out->bias + o0);
        } else {
            float bias[16] = {0};
            for (int j = 0; j < n; j++) bias[j] = out->bias[o0 + j];
            vb = load16(bias);
        }
        v16 lo = splat(out->low), hi = splat(out->high);
        float *dst = into + (size_t)t * 16 * intoPitch;
        const float *res = out->residual ? out->residual + (size_t)o0 * out->plane + q + shift : 0;
        // Big output planes (from L3 or memory): each channel's line a little ahead is fetched for
        // writing while the block stores (see STORE_AHEAD_PLANE).
        const int storeAhead = intoPitch >= STORE_AHEAD_PLANE;
#if TRANSPOSE_EPILOGUE
        _Pragma("clang loop unroll(full)")
        for (int h = 0; h < (PIXELS + 15) / 16; h++) {  // pixels 0-15, then 16-23
            const int count = PIXELS - 16 * h < 16 ? PIXELS - 16 * h : 16;
            __m512 r[16];
            _Pragma("clang loop unroll(full)")
            for (int p = 0; p < 16; p++) r[p] = (__m512)(p < count ? acc[t][16 * h + p] + vb : (v16){0});
            transpose16x16(r);
            const __mmask16 lanes = (__mmask16)((1u << count) - 1);
            for (int j = 0; j < n; j++) {
                v16 v = (v16)r[j];
                if (res) v += (v16)_mm512_maskz_loadu_ps(lanes, res + (size_t)j * out->plane + 16 * h);
                // vmaxps/vminps return their second operand when either is NaN: a NaN passes, in
                // two instructions (llvm.maximum's compare-and-blend took eight per clamp).
                __m512 clamped = _mm512_min_ps((__m512)hi, _mm512_max_ps((__m512)lo, (__m512)v));
                _mm512_mask_storeu_ps(dst + (size_t)j * intoPitch + 16 * h, lanes, clamped);
                if (storeAhead) __builtin_prefetch(dst + (size_t)j * intoPitch + 16 * h + 32, 1, 3);
            }
        }
#else
        // AVX2: each half of the tile (8 channels) by up to 8 of the block's pixels transposed in
        // registers (pixels past the block zero), then each channel's pixels stored as one run; up
        // to 4 pixels (maps' blocks) in two channels a vector, half the shuffles. Through a buffer
        // instead (the block's vectors stored, then read back and stored value by value: 96 scalar
        // loads and 96 stores for 16 channels by 6 pixels), 1x1 convolutions with few input
        // channels, whose blocks are short, spent much of their time there. One core, in cache,
        // alternating (benchmarks/conv_kernel_bench.c, AMD Zen 4, AVX2 forced; best of 3-5), us: 96
        // -> 576 at 14x14 223.8 -> 208.4, 160 -> 960 at 7x7 156.2 -> 152.0, 128 -> 128 at 16x16
        // (bordered rows, as training runs it) 729 -> 703, 256 -> 256 at 8x8 762 -> 719; level on
        // 4x4 and 2x2 maps (136.5 -> 137.0, 102.7 -> 103.2; pruned, weights from memory, 39.8 ->
        // 38.5, 115 -> 108) and unrolled 7x7 (668 -> 672). Whole passes (benchmarks/interleave.py,
        // 20 blocks, AVX2 forced): mobilenet_v2 at 224 one core 0.954x the time (block quartiles
        // 0.944-1.002), two cores 0.853x (0.825-0.989); VGG16 w0.5 one core 1.005x dense, 1.008x
        // at its stored point; ResNet-18 w0.5's stored point 0.973x.
        const v8 lo8 = (v8){0} + out->low, hi8 = (v8){0} + out->high;
        _Pragma("clang loop unroll(full)")
        for (int g = 0; g < (PIXELS + 7) / 8; g++) {
            const int count = PIXELS - 8 * g < 8 ? PIXELS - 8 * g : 8;
            _Pragma("clang loop unroll(full)")
            for (int half = 0; half < 2; half++) {
                __m256 r[8];
                _Pragma("clang loop unroll(full)")
                for (int p = 0; p < 8; p++) {
                    const v16 v = p >= count ? (v16){0} : res ? acc[t][8 * g + p] + vb : clamp16(acc[t][8 * g + p] + vb, lo, hi);
                    r[p] = half ? (__m256)__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15)
                                : (__m256)__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
                }
                const int pairs = count <= 4;  // r[j]: channels j and j + 4 (else channel j alone)
                if (pairs) transpose_quads(r); else transpose8x8(r);
                for (int k = 0; k < (pairs ? 4 : 8); k++) {
                    const int j = 8 * half + k, j2 = pairs && j + 4 < n ? j + 4 : -1;  // the vector's channels
                    if (j >= n) break;
                    v8 v = (v8)r[k];
                    if (res) {
                        const __m256i lanes = block_lanes(count);
                        const __m128i quad = _mm256_castsi256_si128(lanes);
                        const float *r0 = res + (size_t)j * out->plane + 8 * g;
                        const __m128 r2 = j2 >= 0 ? _mm_maskload_ps(res + (size_t)j2 * out->plane + 8 * g, quad) : _mm_setzero_ps();
                        v = clamp8(v + (v8)(pairs ? _mm256_set_m128(r2, _mm_maskload_ps(r0, quad)) : _mm256_maskload_ps(r0, lanes)), lo8, hi8);
                    }
                    store_first_avx2(dst + (size_t)j * intoPitch + 8 * g, (__m256)v, count);
                    if (j2 >= 0) store_first_avx2(dst + (size_t)j2 * intoPitch + 8 * g, _mm256_permute2f128_ps((__m256)v, (__m256)v, 1), count);
                    if (storeAhead) __builtin_prefetch(dst + (size_t)j * intoPitch + 8 * g + 32, 1, 3);
                    if (storeAhead && j2 >= 0) __builtin_prefetch(dst + (size_t)j2 * intoPitch + 8 * g + 32, 1, 3);
                }
            }
        }
#endif
    }
}

