//! asciicast v2 recordings (in progress).
