/**
 * Face detection: MediaPipe BlazeFace (front 128×128 and back 256×256, ONNX) with SSD anchors,
 * letterboxing, optional tiling for large images and MediaPipe's weighted non-maximum suppression.
 */
export {
  AUTO_FRONT_MAX_SIDE,
  AUTO_TILE_MIN_SIDE,
  BLAZEFACE_MODELS,
  BLAZEFACE_SPECS,
  createFaceDetector,
  planDetection,
  resolveFaceDetectorOptions,
  type BlazeFaceModel,
  type BlazeFaceSpec,
  type DetectionPass,
  type FaceDetector,
  type FaceDetectorOptions,
  type ResolvedFaceDetectorOptions,
} from './blazeface.js';
export { generateAnchors, type AnchorConfig } from './anchors.js';
export { decodeCandidates, COORDS_PER_ANCHOR, type Candidate } from './decode.js';
export { iou, weightedNms } from './nms.js';
export { createResampleScratch, letterboxWindow, resampleNhwc, type AxisWeights, type ResampleScratch, type SquareWindow } from './preprocess.js';
