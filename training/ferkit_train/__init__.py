"""ferkit training recipe: FER2013 -> PyTorch CNN -> ONNX + model card.

The label order below is the single source of truth on the Python side and must equal
`EXPRESSIONS` in `src/core/labels.ts` (FER2013 index order).
"""

EXPRESSIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
