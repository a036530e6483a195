/** Locating ../shared (FER2013 folders and real media), which CI has and fresh clones may not. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `../shared` beside the repository root, or the FERKIT_SHARED environment variable. */
export const SHARED_DIR = process.env.FERKIT_SHARED ?? fileURLToPath(new URL('../../../shared/', import.meta.url));
export const FER2013_DIR = `${SHARED_DIR}/data/fer2013`;
export const MEDIA_DIR = `${SHARED_DIR}/media`;
export const HAS_FER2013 = existsSync(`${FER2013_DIR}/PublicTest`);
export const HAS_MEDIA = existsSync(`${MEDIA_DIR}/test_image.jpg`);
/** Printed by tests skipped for lack of ../shared. */
export const NO_SHARED = `skipped: ${SHARED_DIR} is absent (FER2013 and media live there; CI has it)`;
if (!HAS_FER2013 || !HAS_MEDIA) console.warn(NO_SHARED);
