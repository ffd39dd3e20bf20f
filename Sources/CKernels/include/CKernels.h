#ifndef ISP_CKERNELS_H
#define ISP_CKERNELS_H
#include <stdint.h>

/// The instruction set a kernel runs: every kernel that has versions for both takes it as its
/// first argument, so the caller decides (Swift's `Engine.isa`) and nothing here holds it.
/// AVX-512 means AVX-512F with VL; both use FMA.
typedef enum { ISP_AVX2 = 0, ISP_AVX512 = 1 } isp_isa;

/// The best instruction set this CPU runs.
isp_isa isp_cpu_isa(void);

/// Floats this CPU's FMA units take per instruction with `isa`: 8 with AVX2; with AVX-512 16, but 8
/// on AMD Zen 4, which runs a 512-bit instruction as two 256-bit halves.
int32_t isp_cpu_datapath_floats(isp_isa isa);

/// Grid positions a kernel call handles at once with `isa`; split work in multiples of this.
int32_t isp_conv_block(isp_isa isa);

/// 1 when isp_conv_tiles with `isa` reads in place the input maps of 3x3 convolutions at `stride`
/// (padding 1) to maps `width` x `width` (isp_conv_input.mapWidth).
int32_t isp_conv_reads_map(isp_isa isa, int32_t width, int32_t stride);

/// 1 when isp_conv_tiles with `isa` sums long reductions over small grids in chunks of input
/// channels itself (ResNet-18's 7x7 layers); 0 when the caller should (see ConvTiles.c).
int32_t isp_conv_chunks(isp_isa isa);

/// Positions per block of an input packed by blocks (isp_conv_input.blockPitch) that isp_conv_tiles
/// with `isa` reads faster than the unrolled rows; 0: none (see ConvTiles.c).
int32_t isp_conv_packed_block(isp_isa isa);

/// Where a convolution reads its input: for kept input channel i (of `channels`), the values under
/// kernel tap t for output grid position q are at x[xOffset[i] + tapOffset[t] + q * pixelStride]
/// (pixelStride 1 or 2). Weights of channel weightChannel[i] are rows weightChannel[i] * taps + t
/// of the panels.
/// Packed by blocks (blockPitch > 0, pixelStride 1): positions come in blocks of B =
/// isp_conv_packed_block(isa), and position q's values are at x[(q / B) * blockPitch + xOffset[i] +
/// tapOffset[t] + q % B] instead.
/// In rows (rowWidth > 0; bordered planes, blockPitch 0): q = row * rowWidth + column counts the
/// positions of whole output rows, and its values are those of grid position row * rowPitch +
/// column (the grid position q above).
/// Small maps (mapWidth > 0, where isp_conv_reads_map(isa, mapWidth, pixelStride); blockPitch and
/// rowWidth 0): a 3x3 convolution at stride pixelStride and padding 1 (taps 9) to maps mapWidth x
/// mapWidth, one image's after another's: grid position q = (image * mapWidth + row) * mapWidth +
/// column reads kept input channel i's plain plane, (pixelStride * mapWidth) squared, at x + image *
/// imageStride + xOffset[i]; q0 and q1 are whole rows.
typedef struct {
    const float *x;
    const int32_t *xOffset;
    const int32_t *weightChannel;
    int32_t channels;
    const int32_t *tapOffset;
    int32_t taps;
    int32_t pixelStride;
    int32_t blockPitch;
    int32_t rowWidth;
    int32_t rowPitch;
    int32_t mapWidth;
    int32_t imageStride;
} isp_conv_input;

/// Output of a convolution: with q written at pixel j = q + shift (`shift` is an argument of
/// isp_conv_tiles), out[o * plane + j] = clamp(bias[o] + sum + residual[o * plane + j], low, high);
/// the residual term is left out when residual is NULL.
typedef struct {
    float *out;
    int32_t plane;
    const float *bias;
    float low, high;
    const float *residual;
} isp_conv_output;

/// Computes output channels [16 * tile0, 16 * tile1) at grid positions [q0, q1), written at output
/// pixels [q0 + shift, q1 + shift).
/// `panels`: weights in tiles of 16 output channels, tile-major, each tile `rows` x 16 floats
/// (row = input channel * taps + tap); `outChannels` bounds the last, partial tile.
void isp_conv_tiles(isp_isa isa, const isp_conv_input *in, const float *panels, int32_t rows, int32_t outChannels,
                    int32_t tile0, int32_t tile1, int32_t q0, int32_t q1, int32_t shift,
                    const isp_conv_output *out);

/// The sums of isp_conv_tiles for all output channels at positions [q0, q1) (1x1: in->taps == 1,
/// pixelStride 1), without bias or clamp, position-major: products[q * pitch + o] (pitch >= the
/// output channels rounded up to 16; the lanes past the last channel hold zero weights' sums).
/// The input rows must lie evenly spaced (Winograd's V: in->xOffset[i] = i * (in->xOffset[1] -
/// in->xOffset[0])); only the weight rows may be listed (in->weightChannel: the kept channels).
void isp_conv_products(isp_isa isa, const isp_conv_input *in, const float *panels, int32_t rows, int32_t outChannels, int32_t q0,
                       int32_t q1, float *products, int32_t pitch);

/// The weight gradient of one image, accumulated: for output channels [16 * tile0, 16 * tile1)
/// and weight row r (input channel, tap) of `weightRows`,
///   gradient[(tile * weightRows + r) * 16 + lane] += sum over output pixels (y, i) of
///       dyT[(tile * pixels + y * outputWidth + i) * 16 + lane] * x[rowOffset[r] + (y * rowPitch + i) * pixelStride]
/// for y < outputRows, i < outputWidth, where dyT is dy transposed into tiles of 16 channels,
/// pixel-major, and x is laid out as for isp_conv_tiles (rowOffset[r] = plane start + tap offset).
typedef struct {
    const float *x;
    const int32_t *rowOffset;
    int32_t weightRows;
    int32_t outputRows, rowPitch, outputWidth, pixelStride;
    const float *dyT;
    int32_t pixels;
    float *gradient;
} isp_weight_gradient_args;
void isp_conv_weight_gradient(isp_isa isa, const isp_weight_gradient_args *args, int32_t tile0, int32_t tile1);
/// `channels` rows of `length` floats transposed into tiles of 16 rows, position-major:
/// tiles[(tile * length + p) * 16 + lane] = x[(tile * 16 + lane) * length + p]. The layout of
/// dy that isp_conv_weight_gradient reads, and of weight panels. Lanes past the last row are
/// left as they are.
void isp_transpose_tiles(isp_isa isa, const float *x, int32_t channels, int32_t length, float *tiles);
/// One plane of `planeSize` values unrolled for the micro-kernel: rows[(j / block) * blockPitch +
/// t * rowLength + j % block] = plane[index[t * pixels + j]], or 0 where that index is -1
/// (padding), for every tap t < taps and output pixel j < pixels. Unrolled rows: block >= pixels,
/// rows[t * rowLength + j]; packed by blocks (isp_conv_input.blockPitch): block B, rowLength B.
void isp_unroll_plane(isp_isa isa, const float *plane, int32_t planeSize, const int32_t *index, int32_t taps,
                      int32_t pixels, int32_t rowLength, int32_t block, int64_t blockPitch, float *rows);
/// Panels (the layout above) of the weights of a stride-1 layer's input-gradient convolution, for
/// its input channels first..<first+count: from the layer's weights w (outputs x inputs x taps),
/// row (o, t) of input channel c holds w[o][c][taps - 1 - t]. Lanes past the last channel are left
/// as they are.
void isp_flipped_panels(const float *w, int32_t outputs, int32_t inputs, int32_t taps, int32_t first, int32_t count,
                        float *panels);
/// The inverse, added: x[(tile * 16 + lane) * length + p] += tiles[(tile * length + p) * 16 + lane].
void isp_untile_add(isp_isa isa, const float *tiles, int32_t channels, int32_t length, float *x);

/// Winograd F(2x2, 3x3) (Winograd.c): a 3x3 convolution at stride 1 and padding 1 of one image as
/// 16 products U[xi] V[xi] over the input channels (xi: the positions of a 4x4 window), for tiles
/// of 2x2 output pixels, isp_winograd_tiles(width) to a tile row, isp_winograd_tiles(height) rows.
int32_t isp_winograd_tiles(int32_t length);
/// V of kept input channels i < channels (plane channel[i] of x, height x width) for tile rows
/// [row0, row1): v[xi * vStride + i * vPitch + (ty - row0) * tilesPerRow + tx]. Writes up to 16
/// floats past each channel's last tile: vPitch >= (row1 - row0) * tilesPerRow + 16. ahead > 0:
/// prefetches the rows of the listed channel `ahead` on while transforming one (maps not in cache).
void isp_winograd_input(isp_isa isa, const float *x, const int32_t *channel, int32_t channels, int32_t height, int32_t width,
                        int32_t row0, int32_t row1, float *v, int64_t vStride, int32_t vPitch, int32_t ahead);
/// Output channels [0, outChannels) of tile rows [row0, row1) from the products m, position-major
/// as isp_conv_products leaves them: m[xi * mStride + ((ty - row0) * tilesPerRow + tx) * mPitch + o]:
/// out->out[o * out->plane + y * width + x] = clamp(bias[o] + (A^T m A)[y][x] + residual, low,
/// high) for the pixels of those tiles inside the map. Reads whole vectors of 16 channels.
void isp_winograd_output(isp_isa isa, const float *m, int64_t mStride, int32_t mPitch, int32_t outChannels, int32_t height,
                         int32_t width, int32_t row0, int32_t row1, const isp_conv_output *out);
/// The weights' transforms: u[xi * outputs * inputs + o * inputs + c] = (G w[o][c] G^T)[xi] for
/// w outputs x inputs x 3 x 3; flipped: for the convolution that gives the input gradient of a
/// layer with weights w (inputs x outputs x 3 x 3), whose kernels w[c][o] it takes turned by 180
/// degrees.
void isp_winograd_weights(const float *w, int32_t outputs, int32_t inputs, int32_t flipped, float *u);
/// The output gradient's transforms A dy A^T for the weight gradient, of channels o < channels of
/// dy (height x width planes) for tile rows [row0, row1), in tiles of 16 channels, position-major,
/// as isp_conv_weight_gradient reads dy: m[xi * xiStride + ((o / 16) * positions + first + (ty -
/// row0) * tilesPerRow + tx) * 16 + o % 16] (lanes past the last channel zero).
void isp_winograd_output_gradient(isp_isa isa, const float *dy, int32_t channels, int32_t height, int32_t width, int32_t row0,
                                  int32_t row1, float *m, int64_t xiStride, int32_t positions, int32_t first);
/// Adds the weight gradient G^T du[xi] G to w (outputs x inputs x 3 x 3), from du as
/// isp_conv_weight_gradient leaves it: du[xi * xiStride + ((o / 16) * inputs + c) * 16 + o % 16].
void isp_winograd_weight_gradient(const float *du, int64_t xiStride, int32_t outputs, int32_t inputs, float *w);


/// What the threads of split jobs did, added up over the jobs a profile passes it to: how long
/// the caller ran tasks, how long the busiest worker did, and how long the caller then waited for
/// the others (the two-core split's cost in a profile: a worker slowed down by reading what the
/// caller's core wrote shows as worker time above the caller's, and as waiting).
typedef struct {
    int64_t jobs, callerNanoseconds, workerNanoseconds, waitNanoseconds;
} isp_split_times;

/// Runs task(context, i) for i in 0..<tasks on the calling thread and persistent worker threads:
/// the engine's one thread pool, for training and inference. `keepWarm`: the workers spin for the
/// next job (up to 2 ms, then sleep), for a caller that makes one within microseconds: batch-1
/// inference hands out a dozen jobs of 50-200 microseconds per image, and waking a sleeping
/// thread for each would cost more than the split saves. Otherwise they sleep when done. `times`
/// (NULL: none): adds this job's times to it, if it ran on the pool. Not re-entrant: a call made
/// while the pool is busy (from a task, or from another thread) runs its tasks serially.
typedef void (*isp_task)(void *context, int32_t index);
void isp_parallel(int32_t tasks, isp_task task, void *context, int32_t keepWarm, isp_split_times *times);
/// Threads isp_parallel can use, the caller included: the logical CPUs this process may run on
/// (its affinity mask, which taskset and mpirun narrow) when the pool starts, on first use.
int32_t isp_parallel_threads(void);

/// Largest k * k the depthwise kernels (forward and backward) handle (7 x 7).
#define ISP_DEPTHWISE_MAX_TAPS 49

/// A depthwise k x k convolution with "same" padding (k odd, padding k / 2) at stride `stride`:
/// for i in first..<end, plane j = planes ? planes[i] : i of x (ih x iw) gives rows
/// [row0, row1) of plane j of out (oh x ow), with c = j % perImage (the channel whose weights and bias it uses):
/// out = clamp(bias[c] + sum over ky, kx in order of w[c * k * k + ky * k + kx] * x[y * stride +
/// ky - padding][x * stride + kx - padding], low, high), each term a fused multiply-add, zero
/// outside the plane, bias NULL: zero; then shift[c] subtracted (shift NULL: nothing).
/// k * k <= ISP_DEPTHWISE_MAX_TAPS.
typedef struct {
    const float *x;
    float *out;
    const int32_t *planes;
    const float *w, *bias, *shift;
    int32_t perImage, k, stride, padding, ih, iw, oh, ow;
    float low, high;
} isp_depthwise_args;
/// Floats of `scratch` an isp_depthwise call needs (one per thread; it need not be zeroed).
int64_t isp_depthwise_scratch(const isp_depthwise_args *args);
void isp_depthwise(isp_isa isa, const isp_depthwise_args *args, int32_t first, int32_t end, int32_t row0, int32_t row1,
                   float *scratch);

/// Backward of a depthwise convolution (stride 1 or 2) without the clamp: with `in` the
/// zero-bordered input plane (row pitch `pitch`) and dy the oh x ow output gradient, adds the input
/// gradient into `din` (same bordered layout; the border receives the gradient of padding, which the caller ignores) and the weight gradient into
/// gw[k * k]. k * k <= ISP_DEPTHWISE_MAX_TAPS. With stride 2 it may touch one float past the last
/// one it uses (adding zero).
void isp_depthwise_plane_backward(isp_isa isa, const float *in, float *din, int32_t pitch, const float *w, float *gw,
                                  int32_t k, int32_t stride, int32_t oh, int32_t ow, const float *dy);

/// Over n floats, in sixteen partial sums: sum (x[i] - shift) and sum (x[i] - shift)^2.
void isp_shifted_sums(const float *x, int64_t n, float shift, float *sum, float *squares);
/// Batch norm over one plane of n values (a fused ReLU clamps to low = 0, high = its cap; without
/// one the bounds are infinite). Forward: y = clamp(x * scale + offset, low, high), NaN kept.
/// The gradient passes where x * scale + offset lies strictly inside (low, high), recomputed
/// exactly as the forward pass computed it (so with infinite bounds only an infinite z blocks it,
/// and a NaN z passes): `isp_normalize_sums` gives the sums of the passed dy
/// and of passed dy * (x - shift); `isp_normalize_backward` writes
/// dx = scale * (passed dy - meanDy - (x - mean) * slope).
void isp_normalize(const float *x, float *y, int64_t n, float scale, float offset, float low, float high);
void isp_normalize_sums(const float *dy, const float *x, int64_t n, float scale, float offset, float low, float high,
                        float shift, float *sum, float *centred);
void isp_normalize_backward(const float *dy, const float *x, float *dx, int64_t n, float scale, float offset,
                            float low, float high, float meanDy, float mean, float slope);

/// Bits after the point of PIL's fixed-point resampling weights (and of the sums' rounding).
#define ISP_RESAMPLE_PRECISION_BITS 22

/// One pass of PIL's 8-bit resampling with precomputed fixed-point weights (`taps` per output).
/// Horizontal: for each of `rows` rows, output pixel o (of `outputs`, `channels` interleaved)
/// sums count[o] input pixels from pixel first[o] of the row. Vertical: output row o sums
/// count[o] input rows from row first[o], over `bytes` bytes of each; `sums` holds `bytes` ints.
void isp_resample_horizontal(const uint8_t *src, int64_t src_stride, int32_t rows, int32_t channels,
                             const int32_t *first, const int32_t *count, const int32_t *weights, int32_t taps,
                             int32_t outputs, uint8_t *dst, int64_t dst_stride);
void isp_resample_vertical(const uint8_t *src, int64_t src_stride, const int32_t *first, const int32_t *count,
                           const int32_t *weights, int32_t taps, int32_t outputs, int32_t bytes, uint8_t *dst,
                           int64_t dst_stride, int32_t *sums);

/// Means of `planes` consecutive planes of n values: means[c] = (sum of plane c) * (1 / n).
void isp_plane_means(const float *x, int64_t planes, int64_t n, float *means);
/// Saliency of `planes` consecutive planes of rows x width values: norms[c] = sqrt(sum of x^2 over
/// plane c) * scale, summed row by row and block of rows by block (see Reductions.c), so that a
/// plane's rows measured apart (isp_block_square_sums, isp_row_square_sums) and added after
/// (isp_norms_from_row_sums) give the same bits.
void isp_plane_norms(isp_isa isa, const float *x, int32_t planes, int32_t rows, int32_t width, float scale, float *norms);
/// Each row's sum of squares (summed as isp_plane_norms sums a row), rows [0, rows) of `width`
/// values from x of `planes` planes `stride` apart: plane c's row r at out[r * pitch + c].
void isp_row_square_sums(const float *x, int32_t planes, int64_t stride, int32_t rows, int32_t width, float *out,
                         int64_t pitch);
/// Rows a block of the saliency's sums (see Reductions.c).
int32_t isp_saliency_block(void);
/// The same for whole blocks of rows (x at a block's first row; rows ending at a block's end or the
/// plane's): each block's sum at its first row's place.
void isp_block_square_sums(const float *x, int32_t planes, int64_t stride, int32_t rows, int32_t width, float *out,
                           int64_t pitch);
/// The saliency of `planes` planes from all their `rows` rows' sums (pitch = planes), block b's
/// whole sum at its first row where whole[b] is not 0: isp_plane_norms's result.
void isp_norms_from_row_sums(const float *sums, const float *whole, int32_t planes, int32_t rows, float scale, float *norms);
/// A gate's kept channels, ascending, into kept (n slots): the i with s[i] >= cut (s[i]^2 >= cut
/// when `squared`) and s[i] > 0. Returns how many.
int32_t isp_select_channels(isp_isa isa, const float *s, int32_t n, float cut, int32_t squared, int32_t *kept);
/// max(0, s[0], ..., s[n-1]), NaNs passed over.
float isp_max_saliency(const float *s, int32_t n);
/// The energy policy's cut: keep the channels whose squared saliency is at least this (scratch: n floats).
float isp_energy_cut(const float *s, int32_t n, float share, float *scratch);

/// y[o] += sum over k < inputs of W[o][k] * x[k] for the outputs o < `outputs` of tiles [tile0, tile1):
/// a matrix-vector product on W as `WeightPanels` (tile t: `inputs` rows of 16 floats, 64-byte
/// aligned), reading each weight once. Both instruction sets add in the same order.
void isp_matrix_vector(isp_isa isa, const float *panels, const float *x, int32_t inputs, int32_t outputs, int32_t tile0, int32_t tile1,
                       float *y);

/// Copies `rows` rows of `width` floats from rows `fromPitch` floats apart to rows `toPitch` apart:
/// a plane into the interior of a zero-bordered plane, or back.
void isp_copy_rows(isp_isa isa, const float *from, int32_t fromPitch, float *to, int32_t toPitch, int32_t rows, int32_t width);

/// Runs `rounds` rounds of independent multiply-adds with `isa` on the calling thread and returns
/// the multiply-adds done (the core's peak rate, timed by the caller); the result goes to `sink`.
int64_t isp_fma_peak_run(isp_isa isa, int64_t rounds, float *sink);

/// Max pooling, window 2x2, stride 2, no padding, of `planes` planes of ih x iw into planes of
/// (ih / 2) x (iw / 2) (a last odd row or column is left out, as in PyTorch). NaN wins.
void isp_max_pool_2x2(isp_isa isa, const float *x, int32_t planes, int32_t ih, int32_t iw, float *out);
/// 3x3 windows at stride 2 with padding 1 (ResNet's stem), the same way.
void isp_max_pool_3x3_stride2(isp_isa isa, const float *x, int32_t planes, int32_t ih, int32_t iw, float *out);

/// The gradient of ReLU with cap `cap` (infinite for plain ReLU) from its output y:
/// dx = dy where 0 < y < cap, else 0.
void isp_relu_backward(const float *y, const float *dy, float *dx, int64_t n, float cap);
#endif
