"""V8 knowledge: the node binary's metadata (binary), per-version facts (facts), the
resolved layout (layout), readers of heap objects (heap), naming as a heap snapshot names
(naming) and value trees (values). Reads memory through core.AddressSpace only."""
