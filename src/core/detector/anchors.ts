/**
 * SSD anchors as MediaPipe's `SsdAnchorsCalculator` builds them for BlazeFace
 * (`face_detection_short_range.pbtxt`: `num_layers: 4`, `anchor_offset_x/y: 0.5`, `aspect_ratios: 1.0`,
 * `interpolated_scale_aspect_ratio: 1.0`, `fixed_anchor_size: true`).
 */

/**
 * Anchor layout of one BlazeFace model.
 * Consecutive layers with the same stride share a feature map; every layer adds 2 anchors per cell
 * (aspect ratio 1 plus the interpolated scale), so strides `[8, 16, 16, 16]` give a 16×16 map with
 * 2 anchors per cell and an 8×8 map with 6 anchors per cell at 128×128: 512 + 384 = 896 anchors.
 */
export interface AnchorConfig {
  /** Square model input side in pixels (128 or 256). */
  readonly inputSize: number;
  /** One stride (in model-input pixels) per SSD layer, as in MediaPipe's config. */
  readonly strides: readonly number[];
}

/**
 * Builds the anchor centres, in the order of the model's concatenated outputs: feature maps from the
 * finest stride to the coarsest, then rows (y), columns (x) and the anchors of a cell.
 * @returns `Float32Array` of length `2 × N`: `[cx0, cy0, cx1, cy1, …]`, normalised to [0, 1] of the model
 *   input (x right, y down). Anchor sizes are not stored: with `fixed_anchor_size` they are all 1.
 */
export function generateAnchors(config: AnchorConfig): Float32Array {
  const { inputSize, strides } = config;
  const groups: { stride: number; perCell: number }[] = [];
  for (const stride of strides) {
    const last = groups[groups.length - 1];
    if (last && last.stride === stride) last.perCell += 2;
    else groups.push({ stride, perCell: 2 });
  }
  let total = 0;
  for (const g of groups) total += Math.ceil(inputSize / g.stride) ** 2 * g.perCell;
  const out = new Float32Array(total * 2);
  let k = 0;
  for (const { stride, perCell } of groups) {
    const cells = Math.ceil(inputSize / stride);
    for (let y = 0; y < cells; y++) {
      for (let x = 0; x < cells; x++) {
        for (let a = 0; a < perCell; a++) {
          out[k++] = (x + 0.5) / cells;
          out[k++] = (y + 0.5) / cells;
        }
      }
    }
  }
  return out;
}
