// Anchors the precompiled catch.hpp that test targets reuse.
